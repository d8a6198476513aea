"""Read safetensors headers (never the tensor data) and ``model.safetensors.index.json``.

A ``.safetensors`` file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``), then the
data buffer. Every entry is checked the way the safetensors library checks it before loading:
a known dtype, ``numel x bits / 8 == end - begin``, offsets that tile the buffer exactly.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

from rigfit.formats.config_json import parse_json, read_json
from rigfit.formats.errors import ReaderError
from rigfit.formats.model import FileWeights, TensorEntry
from rigfit.formats.source import ByteSource, FileSource
from rigfit.frozen import frozen

__all__ = [
    "DTYPE_BITS",
    "HEADER_MAX_BYTES",
    "INDEX_NAME",
    "SafetensorsHeader",
    "SafetensorsIndex",
    "header_length",
    "parse_header",
    "parse_index",
    "read_header",
    "read_index",
    "read_source_header",
    "weights_from_headers",
]

# safetensors' own bound (MAX_HEADER_SIZE = 100_000_000 in safetensors/src/tensor.rs): the
# library refuses larger headers, so no loadable file has one.
HEADER_MAX_BYTES = 100_000_000
# The largest model.safetensors.index.json rigfit reads. DeepSeek-V3's, with about 91,000
# tensor names, is under 10 MB; a bound keeps a hostile index from exhausting memory.
INDEX_MAX_BYTES = 64 << 20
INDEX_NAME = "model.safetensors.index.json"

# Bits per element of every dtype the safetensors format defines (enum Dtype in
# safetensors/src/tensor.rs, 0.6+: sub-byte F4/F6 included, FNUZ fp8 variants included).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

# Integer dtypes that quantized checkpoints use to pack several weights per element (GPTQ and
# AWQ qweight in I32, MXFP4 blocks and bitsandbytes 4-bit weights in U8): element counts of
# such tensors are not parameter counts. I8 is left out: int8 checkpoints store one weight each.
_PACKED = frozenset({"U8", "I16", "U16", "I32", "U32", "I64", "U64"})
# Tensors that quantized checkpoints add next to the weights (scales, zero points, indices,
# bitsandbytes quant state): bytes, not parameters.
_AUX_SUFFIXES = (
    "_scale",
    "_scales",
    "_scale_inv",
    "_scale_2",
    ".scales",
    ".qzeros",
    ".g_idx",
    ".absmax",
    ".quant_map",
    ".nested_absmax",
    ".nested_quant_map",
    ".SCB",
    ".weight_format",
)
_U64 = struct.Struct("<Q")


@frozen(slots=True)
class STensor:
    """One header entry: dtype, shape and byte range within the data buffer."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def entry(self) -> TensorEntry:
        return TensorEntry(self.name, self.dtype, self.shape, self.nbytes)


@frozen
class SafetensorsHeader:
    """The parsed header of one ``.safetensors`` file."""

    name: str
    file_size: int
    header_size: int  # N, the JSON length
    tensors: tuple[STensor, ...]
    metadata: Mapping[str, str]

    @property
    def data_bytes(self) -> int:
        return self.file_size - 8 - self.header_size


def header_length(first8: bytes, file_size: int, source: str) -> int:
    """Validate the 8-byte prefix of a safetensors file against the file size."""
    if file_size < 8 or len(first8) < 8:
        raise ReaderError(f"{source}: truncated at byte {file_size} (not a safetensors file)")
    (n,) = _U64.unpack_from(first8)
    if n == 0:
        raise ReaderError(f"{source}: header length is 0 (not a safetensors file)")
    if n > HEADER_MAX_BYTES:
        raise ReaderError(
            f"{source}: header length {n:,} exceeds safetensors' limit of"
            f" {HEADER_MAX_BYTES:,} bytes (not a safetensors file?)"
        )
    if n > file_size - 8:
        raise ReaderError(
            f"{source}: header length {n:,} runs past the end of the {file_size:,}-byte file"
        )
    return int(n)


def _shape(name: str, value: object, source: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise ReaderError(
            f"{source}: tensor {name!r} has shape {value!r}, not a list of non-negative integers"
        )
    return tuple(value)


def _entry(name: str, value: object, data_size: int, source: str) -> STensor:
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "data_offsets"}:
        raise ReaderError(
            f"{source}: tensor {name!r} must be an object with exactly dtype, shape and"
            f" data_offsets (got {value!r:.80})"
        )
    dtype = value["dtype"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise ReaderError(
            f"{source}: tensor {name!r} has unknown dtype {dtype!r}"
            f" (safetensors dtypes: {', '.join(DTYPE_BITS)})"
        )
    shape = _shape(name, value["shape"], source)
    offsets = value["data_offsets"]
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise ReaderError(
            f"{source}: tensor {name!r} has data_offsets {offsets!r}, not [begin, end]"
        )
    begin, end = offsets
    numel = 1
    for d in shape:
        numel *= d
    bits = numel * DTYPE_BITS[dtype]
    if bits % 8:
        raise ReaderError(
            f"{source}: tensor {name!r} of {numel} {dtype} elements does not fill whole bytes"
        )
    if bits // 8 != end - begin:
        raise ReaderError(
            f"{source}: tensor {name!r} {dtype}{list(shape)} needs {bits // 8:,} bytes but its"
            f" data_offsets span {end - begin:,}"
        )
    if end > data_size:
        raise ReaderError(
            f"{source}: tensor {name!r} ends at data byte {end:,}, past the end of the"
            f" {data_size:,}-byte data buffer"
        )
    return STensor(name, dtype, shape, begin, end)


def parse_header(data: bytes, file_size: int, source: str) -> SafetensorsHeader:
    """Check and parse the JSON header ``data`` of a file of ``file_size`` bytes."""
    raw = parse_json(data, source)
    if not isinstance(raw, dict):
        raise ReaderError(f"{source}: header is not a JSON object (got {type(raw).__name__})")
    data_size = file_size - 8 - len(data)
    metadata: dict[str, str] = {}
    tensors: list[STensor] = []
    for name, value in raw.items():
        if name == "__metadata__":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ReaderError(f"{source}: __metadata__ must map strings to strings")
            metadata = dict(value)
            continue
        tensors.append(_entry(name, value, data_size, source))
    # the buffer must be tiled exactly, as safetensors requires ("file not fully covered")
    pos = 0
    for t in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if t.begin != pos:
            what = "overlaps the tensor before it" if t.begin < pos else "leaves a gap before it"
            raise ReaderError(f"{source}: tensor {t.name!r} at data byte {t.begin:,} {what}")
        pos = t.end
    if pos != data_size:
        raise ReaderError(
            f"{source}: tensors cover {pos:,} bytes of a {data_size:,}-byte data buffer"
        )
    return SafetensorsHeader(source, file_size, len(data), tuple(tensors), metadata)


def read_source_header(src: ByteSource) -> SafetensorsHeader:
    """Read and check the header of a safetensors file through a :class:`ByteSource`."""
    n = header_length(src.read_at(0, 8), src.size, src.name)
    data = src.read_at(8, n)
    if len(data) != n:
        raise ReaderError(f"{src.name}: truncated at byte {8 + len(data)}")
    return parse_header(data, src.size, src.name)


def read_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """Read only the header of a local ``.safetensors`` file."""
    with FileSource(path) as src:
        return read_source_header(src)


@frozen
class SafetensorsIndex:
    """``model.safetensors.index.json``: which shard holds each tensor, and the stated total."""

    weight_map: Mapping[str, str]
    total_size: int | None

    @property
    def shards(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.weight_map.values())))


def parse_index(raw: object, source: str) -> SafetensorsIndex:
    """Check the parsed JSON of an index file."""
    if not isinstance(raw, dict):
        raise ReaderError(f"{source}: not a JSON object")
    wm = raw.get("weight_map")
    if not isinstance(wm, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in wm.items()
    ):
        raise ReaderError(f"{source}: weight_map must map tensor names to shard file names")
    for shard in set(wm.values()):
        if "/" in shard or "\\" in shard or shard in ("", ".", "..") or shard.startswith("."):
            raise ReaderError(f"{source}: shard name {shard!r} is not a plain file name")
    meta = raw.get("metadata") or {}
    total = meta.get("total_size") if isinstance(meta, dict) else None
    if total is not None and (isinstance(total, bool) or not isinstance(total, int | float)):
        raise ReaderError(f"{source}: metadata.total_size is not a number")
    return SafetensorsIndex(dict(wm), int(total) if total is not None else None)


def read_index(path: str | os.PathLike[str]) -> SafetensorsIndex:
    """Read a local ``model.safetensors.index.json``."""
    p = Path(path)
    return parse_index(read_json(p, INDEX_MAX_BYTES, "safetensors index"), str(p))


def _is_aux(name: str) -> bool:
    return name.endswith(_AUX_SUFFIXES) or ".quant_state." in name


def weights_from_headers(
    headers: Iterable[SafetensorsHeader], index: SafetensorsIndex | None = None
) -> tuple[FileWeights, tuple[str, ...]]:
    """Exact bytes of every tensor in ``headers``, their parameter count when derivable, notes.

    With an ``index``, every tensor it names must be in the shard it names.
    """
    hdrs = tuple(headers)
    seen: dict[str, str] = {}
    entries: list[TensorEntry] = []
    params = 0
    packed: list[STensor] = []
    for h in hdrs:
        for t in h.tensors:
            if t.name in seen:
                raise ReaderError(f"tensor {t.name!r} is in both {seen[t.name]} and {h.name}")
            seen[t.name] = h.name
            entries.append(t.entry())
            if _is_aux(t.name):
                continue
            if t.dtype in _PACKED:
                packed.append(t)
            else:
                params += t.numel
    notes: list[str] = []
    if index is not None:
        by_file = {Path(h.name).name: {t.name for t in h.tensors} for h in hdrs}
        for tname, shard in index.weight_map.items():
            if tname not in by_file.get(shard, ()):
                raise ReaderError(f"{INDEX_NAME} puts {tname!r} in {shard}, which does not hold it")
    weights = FileWeights.from_entries(entries, None if packed else params)
    if packed:
        kinds = sorted({t.dtype for t in packed})
        notes.append(
            f"parameter count not derivable: {len(packed)} tensors hold packed integers"
            f" ({', '.join(kinds)}, e.g. {packed[0].name}); their bytes are exact"
        )
    if (
        index is not None
        and index.total_size is not None
        and index.total_size != weights.total_bytes
    ):
        notes.append(
            f"{INDEX_NAME} states total_size {index.total_size:,}; the headers hold"
            f" {weights.total_bytes:,} bytes of tensors"
        )
    return weights, tuple(notes)
