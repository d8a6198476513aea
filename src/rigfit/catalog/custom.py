"""Accelerators outside the bundled catalog: typed on the command line, or listed in a file.

``--gpu custom:memory=24GiB,bandwidth=1008GB/s,bf16=165TFLOPS`` describes a card in one
string; the same string works in the API and the web calculator. ``memory`` is required (it
is what "will it fit?" needs); ``bandwidth`` prices the speed answer and the tensor figures
prefill; whatever is left out is not estimated, never guessed.

The user's accelerators file (``~/.config/rigfit/accelerators.toml``; the folder can be moved
with ``RIGFIT_CONFIG_DIR`` or ``XDG_CONFIG_HOME``) holds ``[[accelerator]]`` tables with the
catalog's own fields, validated by the catalog's schema; only ``source`` is optional there.
Its entries are found by id, name and alias like catalog ones, and come first.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from rigfit.catalog.schema import GPURecord, Origin, Segment, Vendor
from rigfit.errors import CatalogError, InvalidSpecError, closest
from rigfit.strict import RecordError, read
from rigfit.units import GB, GIB, parse_bytes

__all__ = [
    "CUSTOM_PREFIX",
    "config_dir",
    "is_custom",
    "load_user_gpus",
    "parse_custom",
    "user_gpus_path",
]

CUSTOM_PREFIX = "custom:"

# The fields of a custom spec, and what each takes
_FIELDS = {
    "memory": "a size, like 24GiB or 16GB (required)",
    "bandwidth": "memory bandwidth, like 1008GB/s or 3.35TB/s",
    "bf16": "dense BF16 tensor throughput, like 165TFLOPS",
    "fp16": "dense FP16 tensor throughput, like 165TFLOPS",
    "fp8": "dense FP8 tensor throughput, like 330TFLOPS",
    "fp4": "dense FP4 tensor throughput, like 1000TFLOPS",
    "int8": "dense INT8 tensor throughput, like 660TOPS",
    "vendor": "nvidia, amd, apple or intel (default nvidia)",
    "memory_type": "e.g. GDDR6X or HBM3 (default GDDR; HBM changes the speed calibration)",
    "pcie": "the PCIe generation of the card's x16 link: 3, 4 or 5",
    "arch": "its architecture (NVIDIA: ampere, ada, hopper, blackwell...; AMD: cdna 3...),"
    " which decides the formats engines have kernels for there",
    "name": "a label for the answer",
}
_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*(tb/s|gb/s)?$")
_FLOPS = re.compile(r"^(\d+(?:\.\d+)?)\s*(pflops|tflops|pops|tops)?$")
# Upper bounds that only catch typos (a tenfold slip): well above the largest catalog part
# (B300: 288 GB, 8 TB/s, 15 PFLOPS dense FP4) and below anything sold.
_MAX_MEMORY_BYTES = 4096 * GIB
_MAX_BANDWIDTH_GB_S = 100_000.0
_MAX_TFLOPS = 100_000.0


def is_custom(name: str) -> bool:
    return name.strip().lower().startswith(CUSTOM_PREFIX)


def _bandwidth(text: str) -> float:
    m = _RATE.match(text)
    if m is None:
        raise InvalidSpecError(
            f"custom accelerator: bandwidth={text!r} is not a rate"
            " (write e.g. 1008GB/s or 3.35TB/s)"
        )
    value = float(m.group(1)) * (1000.0 if m.group(2) == "tb/s" else 1.0)
    if not 0 < value <= _MAX_BANDWIDTH_GB_S:
        raise InvalidSpecError(
            f"custom accelerator: bandwidth must be above 0 and at most"
            f" {_MAX_BANDWIDTH_GB_S:,.0f} GB/s, got {value:g} GB/s"
        )
    return value


def _tflops(key: str, text: str) -> float:
    m = _FLOPS.match(text)
    unit = "TOPS" if key == "int8" else "TFLOPS"
    if m is None:
        raise InvalidSpecError(
            f"custom accelerator: {key}={text!r} is not a throughput (write e.g. 165{unit})"
        )
    value = float(m.group(1)) * (1000.0 if (m.group(2) or "").startswith("p") else 1.0)
    if not 0 < value <= _MAX_TFLOPS:
        raise InvalidSpecError(
            f"custom accelerator: {key} must be above 0 and at most {_MAX_TFLOPS:,.0f} {unit},"
            f" got {value:g}"
        )
    return value


def _pairs(spec: str) -> dict[str, str]:
    body = spec.strip()[len(CUSTOM_PREFIX) :]
    out: dict[str, str] = {}
    for item in body.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not value.strip():
            raise InvalidSpecError(
                f"custom accelerator: {item.strip()!r} is not key=value (allowed keys: "
                + ", ".join(_FIELDS)
                + ")"
            )
        if key not in _FIELDS:
            near = closest(key, list(_FIELDS))
            raise InvalidSpecError(
                f"custom accelerator: unknown field {key!r}"
                + (f"; did you mean {near[0]}?" if near else "")
                + " (allowed: "
                + ", ".join(_FIELDS)
                + ")"
            )
        if key in out:
            raise InvalidSpecError(f"custom accelerator: {key} is given twice")
        out[key] = value.strip()
    return out


def parse_custom(spec: str) -> GPURecord:
    """``custom:memory=24GiB,bandwidth=1008GB/s,bf16=165TFLOPS`` as an accelerator record.

    >>> g = parse_custom("custom:memory=24GiB,bandwidth=1008GB/s,bf16=165TFLOPS")
    >>> g.memory_bytes, g.bandwidth_gb_s, g.bf16_dense_tflops, g.origin.value
    (25769803776, 1008.0, 165.0, 'custom')
    >>> g.id.startswith("custom-")
    True
    """
    given = _pairs(spec)
    if "memory" not in given:
        raise InvalidSpecError(
            "custom accelerator: memory is required (e.g. custom:memory=24GiB,bandwidth=1008GB/s)"
        )
    try:
        memory = parse_bytes(given["memory"])
    except InvalidSpecError:
        raise InvalidSpecError(
            f"custom accelerator: memory={given['memory']!r} is not a size (write e.g. 24GiB)"
        ) from None
    if not 0 < memory <= _MAX_MEMORY_BYTES:
        raise InvalidSpecError(
            f"custom accelerator: memory must be above 0 and at most 4 TiB, got {given['memory']}"
        )
    low = {k: v.lower().replace(" ", "") for k, v in given.items() if k != "name"}
    try:
        vendor = Vendor(low.get("vendor", "nvidia"))
    except ValueError:
        raise InvalidSpecError(
            f"custom accelerator: vendor={given['vendor']!r} is not one of "
            + ", ".join(v.value for v in Vendor)
        ) from None
    pcie = low.get("pcie")
    if pcie is not None and pcie not in ("3", "4", "5"):
        raise InvalidSpecError(f"custom accelerator: pcie must be 3, 4 or 5, got {pcie!r}")
    apple = vendor is Vendor.APPLE
    bandwidth = _bandwidth(low["bandwidth"]) if "bandwidth" in low else None
    figures: dict[str, Any] = {
        f"{k}_dense_{'tops' if k == 'int8' else 'tflops'}": _tflops(k, low[k])
        for k in ("bf16", "fp16", "fp8", "fp4", "int8")
        if k in low
    }
    label = given.get("name") or (
        f"{memory / GIB:g} GiB" + (f", {bandwidth:g} GB/s" if bandwidth else "")
    )
    memory_type = given.get("memory_type") or ("unified memory" if apple else "GDDR")
    import hashlib  # here, not at import: the CLI's cold start (docs/benchmarks.md)

    # one id per spec, so two custom cards in one answer stay apart
    digest = hashlib.sha256(
        ",".join(f"{k}={v}" for k, v in sorted(low.items())).encode() + memory.to_bytes(8, "big")
    ).hexdigest()[:8]
    return GPURecord(
        id=f"custom-{digest}",
        name=f"Custom accelerator ({label})",
        vendor=vendor,
        segment=Segment.APPLE_SILICON if apple else Segment.CONSUMER,
        architecture=given.get("arch", "custom").replace("_", " ").replace("-", " "),
        release_year=2026,
        form_factor="custom accelerator",
        memory_type=memory_type,
        memory_gb=round(memory / GB, 3),
        memory_bytes=memory,
        unified_memory=apple,
        bandwidth_gb_s=bandwidth,
        interconnect=(
            f"PCIe {pcie}.0 x16 (given)"
            if pcie
            else "PCIe, generation not given (custom accelerator)"
        ),
        notes=(
            "Given on the command line; the memory is taken as what the driver reports"
            " (a card sold as 24 GB has 24 GiB: write 24GiB)."
            + ("" if bandwidth else " No bandwidth given: speed is not estimated.")
        ),
        origin=Origin.CUSTOM,
        **figures,
    )


def config_dir() -> Path:
    """rigfit's folder of user files: ``$RIGFIT_CONFIG_DIR``, else
    ``$XDG_CONFIG_HOME/rigfit``, else ``~/.config/rigfit``."""
    explicit = os.environ.get("RIGFIT_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rigfit"


def user_gpus_path() -> Path:
    return config_dir() / "accelerators.toml"


def load_user_gpus() -> tuple[GPURecord, ...]:
    """The user's extra accelerators (none when the file does not exist)."""
    path = user_gpus_path()
    try:
        stat = path.stat()
    except OSError:
        return ()
    return _load_user_gpus(str(path), stat.st_mtime_ns)


@cache
def _load_user_gpus(path: str, _mtime_ns: int) -> tuple[GPURecord, ...]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: not a readable TOML file: {exc}") from exc
    extra = set(data) - {"accelerator"}
    if extra:
        raise CatalogError(
            f"{path}: unknown table(s) {', '.join(sorted(extra))}; the file holds"
            " [[accelerator]] tables"
        )
    tables = data.get("accelerator", [])
    if not isinstance(tables, list):
        raise CatalogError(f"{path}: write each accelerator as an [[accelerator]] table")
    out = []
    for i, table in enumerate(tables, 1):
        if "origin" in table:
            raise CatalogError(f"{path}: accelerator {i}: origin is set by rigfit, not the file")
        try:
            out.append(read(GPURecord, {**table, "origin": Origin.USER}))
        except RecordError as exc:
            name = table.get("id", f"#{i}")
            raise CatalogError(
                f"{path}: accelerator {name}: {exc.where or 'record'}: {exc.message}"
                f" ({exc.count} problem(s))"
            ) from exc
    return tuple(out)
