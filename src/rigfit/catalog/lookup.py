"""Find catalog entries by id, name or alias, case-insensitively, with closest matches."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from functools import cache, cached_property
from typing import TypeVar

from rigfit.arch import Architecture, from_config
from rigfit.catalog.custom import is_custom, load_user_gpus, parse_custom
from rigfit.catalog.loader import load_gpus, load_models, load_record, record_file
from rigfit.catalog.schema import GPURecord, ModelRecord, Origin, Task, Vendor
from rigfit.errors import CatalogError, UnknownGPUError, UnknownModelError, closest
from rigfit.frozen import frozen

__all__ = [
    "Model",
    "closest_gpus",
    "find_gpus",
    "find_models",
    "get_gpu",
    "get_model",
    "has_page",
    "list_gpus",
    "list_models",
    "names_index",
]


@frozen
class Model:
    """A catalog model: its record and the architecture its config implies."""

    record: ModelRecord

    @cached_property
    def arch(self) -> Architecture:
        return from_config(self.record.config)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def generates(self) -> bool:
        """Whether it is run to generate tokens (an embedding model is not)."""
        return self.record.task is Task.GENERATION


def _keys_model(m: ModelRecord) -> list[str]:
    return [m.id, m.id.split("/", 1)[1], m.name, *m.aliases]


def _keys_gpu(g: GPURecord) -> list[str]:
    return [g.id, g.name, *g.aliases]


def _norm(text: str) -> str:
    return text.strip().lower()


T = TypeVar("T")


def _build_index(
    entries: Iterable[T], keys: Callable[[T], list[str]], ident: Callable[[T], str]
) -> dict[str, T]:
    """Map every lowercased id, name and alias to its entry; a name used twice is an error."""
    index: dict[str, T] = {}
    for entry in entries:
        for key in keys(entry):
            k = _norm(key)
            other = index.get(k)
            if other is not None and ident(other) != ident(entry):
                raise CatalogError(
                    f"name {key!r} is used by both {ident(other)} and {ident(entry)}"
                )
            index[k] = entry
    return index


_MODELS: dict[str, Model] = {}


def _model(record: ModelRecord) -> Model:
    """One Model per record, however it was found (its architecture is built once)."""
    model = _MODELS.get(record.id)
    if model is None or model.record is not record:
        model = _MODELS[record.id] = Model(record)
    return model


@cache
def _model_index() -> dict[str, Model]:
    return _build_index(
        (_model(rec) for rec in load_models()), lambda m: _keys_model(m.record), lambda m: m.id
    )


def names_index() -> dict[str, list[str]]:
    """Every record's normalized names by id, as the committed index.json stores them."""
    out = {m.id: sorted({_norm(k) for k in _keys_model(m)}) for m in load_models()}
    for g in load_gpus():
        out[g.id] = sorted(
            {_norm(k) for k in _keys_gpu(g)} | {_norm(k).replace(" ", "-") for k in _keys_gpu(g)}
        )
    return out


@cache
def _gpu_index() -> dict[str, GPURecord]:
    return _build_index(load_gpus(), _keys_gpu, lambda g: g.id)


def get_model(name: str) -> Model:
    """A catalog model by Hugging Face id (any case), name or alias; a known name reads its
    one file, an unknown one every file (for the closest matches)."""
    path = record_file("models", _norm(name))
    if path is not None:
        return _model(load_record(path, ModelRecord))
    index = _model_index()
    model = index.get(_norm(name))
    if model is None:
        raise UnknownModelError(name, closest(name, {k: m.id for k, m in index.items()}))
    return model


# What a name's first letters say about its maker: "m2" is an Apple chip, "rx 7600" a Radeon,
# "b580" an Arc card; a suggestion from the same maker comes before a look-alike from another.
_VENDOR_HINTS: tuple[tuple[re.Pattern[str], Vendor], ...] = (
    (re.compile(r"^(apple|mac|m[1-9](\b|[-\s]|pro|max|ultra|$))"), Vendor.APPLE),
    (re.compile(r"^(arc|intel|gaudi|b5[0-9]0|b60|a[357][0-9]0\b)"), Vendor.INTEL),
    (re.compile(r"^(amd|radeon|rx|mi[0-9]|w[0-9]{4}|instinct|strix|ryzen)"), Vendor.AMD),
    (re.compile(r"^(nvidia|geforce|rtx|gtx|quadro|tesla|dgx|gb[0-9]|[abhlt][0-9])"), Vendor.NVIDIA),
)


def _vendor_hint(name: str) -> Vendor | None:
    low = _norm(name)
    return next((v for pattern, v in _VENDOR_HINTS if pattern.match(low)), None)


def closest_gpus(name: str, gpus: Iterable[GPURecord], n: int = 3) -> list[str]:
    """Up to ``n`` accelerator ids for "did you mean": names that begin with what was typed
    and close spellings, those of the maker the name suggests first.

    >>> closest_gpus("m2", list_gpus())
    ['m2-16gb', 'm2-24gb', 'm2-8gb']
    """
    low = _norm(name).replace(" ", "-")
    hint = _vendor_hint(low)
    scored: dict[str, tuple[bool, float]] = {}
    for g in gpus:
        best = 0.0
        for key in _keys_gpu(g):
            k = _norm(key).replace(" ", "-")
            ratio = difflib.SequenceMatcher(None, low, k).ratio()
            if k.startswith(low):
                ratio = max(ratio, 0.9)
            best = max(best, ratio)
        if best >= 0.5:
            scored[g.id] = (hint is not None and g.vendor is hint, best)
    ranked = sorted(scored, key=lambda gid: (not scored[gid][0], -scored[gid][1], gid))
    return ranked[:n]


def has_page(gpu: GPURecord) -> bool:
    """Whether ``gpu`` is found by its id (a catalog or user entry, or a detected card that
    matched one): a custom spec, or a detected card the catalog lacks, is not."""
    if gpu.origin in (Origin.CATALOG, Origin.USER):
        return True
    return gpu.origin is Origin.DETECTED and record_file("gpus", gpu.id) is not None


def get_gpu(name: str) -> GPURecord:
    """An accelerator by id, name or alias (any case): a ``custom:`` spec, then the user's
    accelerators file, then the catalog (a known catalog name reads one file)."""
    if is_custom(name):
        return parse_custom(name)
    user = load_user_gpus()
    if user:
        hit = _build_index(user, _keys_gpu, lambda g: g.id).get(_norm(name))
        if hit is not None:
            return hit
    path = record_file("gpus", _norm(name)) or record_file("gpus", _norm(name).replace(" ", "-"))
    if path is not None:
        return load_record(path, GPURecord)
    index = _gpu_index()
    gpu = index.get(_norm(name)) or index.get(_norm(name).replace(" ", "-"))
    if gpu is None:
        raise UnknownGPUError(name, closest_gpus(name, list_gpus()))
    return gpu


def list_models() -> tuple[Model, ...]:
    seen: dict[str, Model] = {}
    for m in _model_index().values():
        seen.setdefault(m.id, m)
    return tuple(sorted(seen.values(), key=lambda m: m.id.lower()))


def list_gpus() -> tuple[GPURecord, ...]:
    """The user's accelerators (first), then the catalog's; a user entry with a catalog id
    replaces the catalog entry."""
    user = load_user_gpus()
    if not user:
        return load_gpus()
    ids = {g.id for g in user}
    return user + tuple(g for g in load_gpus() if g.id not in ids)


def find_models(
    *,
    family: str | None = None,
    org: str | None = None,
    moe: bool | None = None,
    min_params: float | None = None,
    max_params: float | None = None,
    search: str | None = None,
    license: str | None = None,
    min_ctx_tokens: int | None = None,
) -> list[Model]:
    """Catalog models matching every given filter (substrings are case-insensitive;
    ``min_params``/``max_params`` in parameters)."""
    out = []
    for m in list_models():
        r, a = m.record, m.arch
        if family and family.lower() not in r.family.lower():
            continue
        if org and org.lower() not in r.organization.lower():
            continue
        if moe is not None and a.is_moe != moe:
            continue
        if min_params is not None and a.params_total < min_params:
            continue
        if max_params is not None and a.params_total > max_params:
            continue
        if search and search.lower() not in " ".join(_keys_model(r)).lower():
            continue
        if license and license.lower() not in r.license.lower():
            continue
        if min_ctx_tokens is not None and a.context_length < min_ctx_tokens:
            continue
        out.append(m)
    return out


def find_gpus(
    *,
    vendor: str | None = None,
    segment: str | None = None,
    min_memory_gb: float | None = None,
    search: str | None = None,
) -> list[GPURecord]:
    """Catalog accelerators matching every given filter."""
    return [
        g
        for g in list_gpus()
        if (vendor is None or g.vendor.value == vendor)
        and (segment is None or g.segment.value == segment)
        and (min_memory_gb is None or g.memory_gb >= min_memory_gb)
        and (search is None or search.lower() in " ".join(_keys_gpu(g)).lower())
    ]
