"""Read and validate the bundled catalog: one TOML file per model or accelerator."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TypeVar, cast

from rigfit.catalog.schema import GPURecord, ModelRecord
from rigfit.errors import CatalogError
from rigfit.strict import RecordError, read

__all__ = [
    "CATALOG_DIR",
    "INDEX_PATH",
    "build_index",
    "load_gpus",
    "load_models",
    "load_record",
    "load_records",
    "read_index",
    "record_file",
]

CATALOG_DIR = Path(__file__).parent
R = TypeVar("R")


def _files(folder: Path) -> Iterator[Path]:
    yield from sorted(folder.glob("*.toml"))


def load_record(path: Path, record: type[R]) -> R:
    """Validate one ``*.toml`` file as ``record``; the error names the file. Memoized, so a
    record read alone and the same record read with all the others are one object."""
    return cast(R, _load_record(path, record))  # type: ignore[arg-type]


@cache
def _load_record(path: Path, record: type) -> object:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path.name}: not valid TOML: {exc}") from exc
    try:
        return read(record, data)
    except RecordError as exc:
        raise CatalogError(f"{path.name}: {exc.first} ({exc.count} problem(s))") from exc


def load_records(folder: Path, record: type[R]) -> tuple[R, ...]:
    """Validate every ``*.toml`` in ``folder`` as ``record``; the error names the file."""
    return tuple(load_record(path, record) for path in _files(folder))


@cache
def load_models() -> tuple[ModelRecord, ...]:
    """Every catalog model record, validated."""
    return load_records(CATALOG_DIR / "models", ModelRecord)


@cache
def load_gpus() -> tuple[GPURecord, ...]:
    """Every catalog accelerator record, validated."""
    return load_records(CATALOG_DIR / "gpus", GPURecord)


# ---- the name index: a lookup by name reads one file -----------------------------------------

INDEX_PATH = CATALOG_DIR / "index.json"


def build_index(keys: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """``{"models": {name: file}, "gpus": {name: file}}`` from each record's names (``keys``
    maps a record's id to its normalized names), as ``index.json`` stores it."""
    out: dict[str, dict[str, str]] = {"models": {}, "gpus": {}}
    for path in _files(CATALOG_DIR / "models"):
        for key in keys[load_record(path, ModelRecord).id]:
            out["models"][key] = path.name
    for path in _files(CATALOG_DIR / "gpus"):
        for key in keys[load_record(path, GPURecord).id]:
            out["gpus"][key] = path.name
    return {k: dict(sorted(v.items())) for k, v in out.items()}


@cache
def read_index() -> dict[str, dict[str, str]]:
    """The committed name index (``python -m rigfit.catalog --write-index`` makes it; ``python
    -m rigfit.catalog`` and the tests fail when it is stale)."""
    data = json.loads(INDEX_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def record_file(kind: str, key: str) -> Path | None:
    """The file of the record named ``key`` (normalized), or None when the index has no such
    name."""
    name = read_index()[kind].get(key)
    return None if name is None else CATALOG_DIR / kind / name
