"""Read a GGUF header with a bounded streaming parser: metadata and tensor infos, no weights.

Layout (ggml docs/gguf.md, versions 2 and 3): magic ``GGUF``, u32 version, u64 tensor count,
u64 metadata count, the metadata key/values, the tensor infos (name, n_dims, ``ne`` dims,
GGML type, offset), padding to ``general.alignment``, then the tensor data.

Every count and length is checked against the bytes left in the file before anything is read
or allocated, and the whole header against :data:`HEADER_MAX_BYTES`. Large arrays (a
150,000-token vocabulary) are skipped in chunks: only their type and length are kept.
Constants (magic, value types, GGML type ids, default alignment, file types) come from the
``gguf`` package; block layouts from :class:`rigfit.quant.GGMLType` where rigfit has them.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from typing import TypeAlias

from gguf import (
    GGML_QUANT_SIZES,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGMLQuantizationType,
    GGUFValueType,
    LlamaFileType,
)

from rigfit.formats.errors import ReaderError
from rigfit.formats.model import FileWeights, TensorEntry
from rigfit.formats.source import ByteSource, Cursor, FileSource
from rigfit.frozen import frozen
from rigfit.quant import GGMLType, WeightFormat

__all__ = [
    "HEADER_MAX_BYTES",
    "MAX_KV",
    "MAX_TENSORS",
    "GGUFHeader",
    "GGUFTensor",
    "MetaValue",
    "Omitted",
    "file_type_format",
    "parse_gguf",
    "read_gguf",
    "weights_from_gguf",
]

# The most header bytes rigfit reads. The largest real headers are tokenizer-heavy: a
# 262,144-token Gemma 3 vocabulary with scores and types plus merges is under 20 MiB.
HEADER_MAX_BYTES = 64 << 20
# Bounds on the two counts, far above any real model (DeepSeek-V3 has about 1,150 tensors,
# real headers a few dozen keys), so a corrupt count fails fast instead of looping.
MAX_TENSORS = 1_000_000
MAX_KV = 100_000
# GGML_MAX_DIMS in ggml/include/ggml.h: tensors have at most 4 dimensions.
MAX_DIMS = 4
# Tensor names are short (llama.cpp's GGML_MAX_NAME is 64 bytes); keys likewise. 4 KiB is
# far above both and stops a corrupt length early.
MAX_NAME_BYTES = 4096
# Strings longer than this (chat templates are a few KiB, a whole tokenizer.json can be MBs)
# are skipped and kept as Omitted(length).
MAX_KEPT_STRING = 64 << 10
# Arrays up to this many elements keep their values (per-layer lists, rope sections); longer
# ones (vocabularies, merges, scores) keep only their length.
MAX_KEPT_ARRAY = 4096
# Nesting depth of arrays of arrays; the spec allows nesting, no real file goes past 2.
MAX_ARRAY_DEPTH = 4

_MAGIC = struct.pack("<I", GGUF_MAGIC)  # b"GGUF"
_SCALAR: dict[GGUFValueType, struct.Struct] = {
    GGUFValueType.UINT8: struct.Struct("<B"),
    GGUFValueType.INT8: struct.Struct("<b"),
    GGUFValueType.UINT16: struct.Struct("<H"),
    GGUFValueType.INT16: struct.Struct("<h"),
    GGUFValueType.UINT32: struct.Struct("<I"),
    GGUFValueType.INT32: struct.Struct("<i"),
    GGUFValueType.FLOAT32: struct.Struct("<f"),
    GGUFValueType.BOOL: struct.Struct("<?"),
    GGUFValueType.UINT64: struct.Struct("<Q"),
    GGUFValueType.INT64: struct.Struct("<q"),
    GGUFValueType.FLOAT64: struct.Struct("<d"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
# Smallest encodings, to bound counts by the bytes left: a key/value is a u64 key length, a
# u32 type and at least one value byte; a tensor info is a u64 name length, u32 n_dims, one
# u64 dim, u32 type and u64 offset.
_MIN_KV_BYTES = 8 + 4 + 1
_MIN_TENSOR_BYTES = 8 + 4 + 8 + 4 + 8

# Block layouts by GGML type id: rigfit's own table (checked against gguf-py by the test
# suite; it also corrects gguf-py's stale Q8_1 size), then gguf-py's for the types rigfit lacks.
_BLOCKS: dict[int, tuple[int, int]] = {
    int(t): GGML_QUANT_SIZES[t] for t in GGMLQuantizationType if t in GGML_QUANT_SIZES
}
_BLOCKS.update({t.type_id: (t.block_elems, t.block_bytes) for t in GGMLType})


@frozen(slots=True)
class Omitted:
    """A metadata value too large to keep: its GGUF type and length only."""

    type_name: str  # "string", "array[string]", "array[float32]", ...
    length: int


MetaValue: TypeAlias = "int | float | bool | str | Omitted | list[MetaValue]"


@frozen(slots=True)
class GGUFTensor:
    """One tensor info: GGML type, ``ne`` dims (``ne[0]`` is the row length), data offset."""

    name: str
    ggml_type: int
    dims: tuple[int, ...]  # ggml order: dims[0] = elements per row
    offset: int  # from the start of the data section
    nbytes: int

    @property
    def type_name(self) -> str:
        try:
            return GGMLQuantizationType(self.ggml_type).name
        except ValueError:
            return f"type{self.ggml_type}"

    @property
    def shape(self) -> tuple[int, ...]:
        """Row-major shape (PyTorch order): ``dims`` reversed."""
        return tuple(reversed(self.dims))

    @property
    def numel(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


@frozen
class GGUFHeader:
    """Everything before the tensor data of a GGUF file."""

    name: str
    version: int
    metadata: dict[str, MetaValue]
    tensors: tuple[GGUFTensor, ...]
    file_size: int
    alignment: int
    data_offset: int  # where the tensor data starts (header end, aligned)

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get("general.architecture")
        return arch if isinstance(arch, str) else None


def _type_name(vtype: int) -> str:
    return GGUFValueType(vtype).name.lower()


class _Parser:
    def __init__(self, src: ByteSource, limit: int) -> None:
        self.src = src
        self.cur = Cursor(src, limit=limit, what="GGUF header")

    def fail(self, msg: str) -> ReaderError:
        return ReaderError(f"{self.src.name}: {msg}")

    def u32(self) -> int:
        return int(self.cur.unpack(_U32)[0])

    def u64(self) -> int:
        return int(self.cur.unpack(_U64)[0])

    def length(self, what: str, elem_bytes: int, cap: int) -> int:
        """A u64 count of ``elem_bytes``-sized items, checked against the bytes left."""
        at = self.cur.pos
        n = self.u64()
        if n > cap:
            raise self.fail(f"{what} of {n:,} at byte {at} exceeds the limit of {cap:,}")
        if n * elem_bytes > self.cur.remaining:
            raise self.fail(
                f"truncated at byte {self.src.size}: {what} of {n:,} at byte {at} needs"
                f" {n * elem_bytes:,} bytes, {self.cur.remaining:,} are left"
            )
        return n

    def name(self, what: str) -> str:
        n = self.length(f"{what} length", 1, MAX_NAME_BYTES)
        raw = self.cur.take(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} at byte {self.cur.pos - n} is not UTF-8") from None

    def string(self) -> str | Omitted:
        n = self.length("string length", 1, HEADER_MAX_BYTES)
        if n > MAX_KEPT_STRING:
            self.cur.skip(n)
            return Omitted("string", n)
        return self.cur.take(n).decode("utf-8", errors="replace")

    def value_type(self, key: str) -> GGUFValueType:
        at = self.cur.pos
        t = self.u32()
        try:
            return GGUFValueType(t)
        except ValueError:
            raise self.fail(f"unknown GGUF value type {t} for key {key!r} at byte {at}") from None

    def value(self, vtype: GGUFValueType, key: str, depth: int = 0) -> MetaValue:
        st = _SCALAR.get(vtype)
        if st is not None:
            v = self.cur.unpack(st)[0]
            return bool(v) if vtype is GGUFValueType.BOOL else v
        if vtype is GGUFValueType.STRING:
            return self.string()
        # array: element type, count, elements
        if depth >= MAX_ARRAY_DEPTH:
            raise self.fail(f"arrays nested deeper than {MAX_ARRAY_DEPTH} in key {key!r}")
        etype = self.value_type(key)
        st = _SCALAR.get(etype)
        min_bytes = st.size if st is not None else (8 if etype is GGUFValueType.STRING else 12)
        n = self.length(f"array length of {key!r}", min_bytes, HEADER_MAX_BYTES)
        if n > MAX_KEPT_ARRAY:
            if st is not None:
                self.cur.skip(n * st.size)
            elif etype is GGUFValueType.STRING:
                self.cur.skip_strings(n, HEADER_MAX_BYTES)
            else:
                for _ in range(n):
                    self.value(etype, key, depth + 1)
            return Omitted(f"array[{_type_name(etype)}]", n)
        return [self.value(etype, key, depth + 1) for _ in range(n)]

    def tensor(self) -> tuple[str, int, tuple[int, ...], int]:
        name = self.name("tensor name")
        n_dims = self.u32()
        if not 1 <= n_dims <= MAX_DIMS:
            raise self.fail(
                f"tensor {name!r} has {n_dims} dimensions (GGML allows 1 to {MAX_DIMS})"
            )
        dims = tuple(self.u64() for _ in range(n_dims))
        ggml_type = self.u32()
        offset = self.u64()
        return name, ggml_type, dims, offset


def _nbytes(src: str, name: str, ggml_type: int, dims: tuple[int, ...]) -> int:
    block = _BLOCKS.get(ggml_type)
    if block is None:
        known = ", ".join(GGMLQuantizationType(t).name for t in sorted(_BLOCKS) if _named(t))
        raise ReaderError(
            f"{src}: unknown GGML type id {ggml_type} in tensor {name!r} (known: {known})"
        )
    elems, size = block
    if dims[0] % elems:
        raise ReaderError(
            f"{src}: tensor {name!r} has rows of {dims[0]} elements, not a multiple of the"
            f" {elems}-element blocks of its type"
        )
    rows = 1
    for d in dims[1:]:
        rows *= d
    return rows * (dims[0] // elems) * size


def _named(t: int) -> bool:
    try:
        GGMLQuantizationType(t)
    except ValueError:
        return False
    return True


def parse_gguf(src: ByteSource, *, limit: int = HEADER_MAX_BYTES) -> GGUFHeader:
    """Parse the header of the GGUF file behind ``src``, reading at most ``limit`` bytes."""
    p = _Parser(src, limit)
    if src.size < 4:
        raise p.fail(f"truncated at byte {src.size} (not a GGUF file)")
    magic = p.cur.take(4)
    if magic != _MAGIC:
        raise p.fail(f"not a GGUF file (magic {magic!r}, expected {_MAGIC!r})")
    version = p.u32()
    if version not in (2, 3):
        if version & 0xFFFF == 0 and version >> 24 in (2, 3):
            raise p.fail("big-endian GGUF files are not supported")
        raise p.fail(f"GGUF version {version} is not supported (rigfit reads versions 2 and 3)")
    n_tensors = p.length("tensor count", _MIN_TENSOR_BYTES, MAX_TENSORS)
    n_kv = p.length("metadata count", _MIN_KV_BYTES, MAX_KV)
    metadata: dict[str, MetaValue] = {}
    for _ in range(n_kv):
        key = p.name("metadata key")
        if key in metadata:
            raise p.fail(f"duplicate metadata key {key!r}")
        metadata[key] = p.value(p.value_type(key), key)
    alignment = metadata.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    if (
        not isinstance(alignment, int)
        or isinstance(alignment, bool)
        or alignment <= 0
        or alignment & (alignment - 1)
    ):
        raise p.fail(f"general.alignment {alignment!r} is not a power of two")
    raw: list[tuple[str, int, tuple[int, ...], int]] = []
    names: set[str] = set()
    for _ in range(n_tensors):
        info = p.tensor()
        if info[0] in names:
            raise p.fail(f"duplicate tensor {info[0]!r}")
        names.add(info[0])
        raw.append(info)
    data_offset = -(-p.cur.pos // alignment) * alignment
    data_size = src.size - data_offset
    tensors: list[GGUFTensor] = []
    for name, ggml_type, dims, offset in raw:
        nbytes = _nbytes(src.name, name, ggml_type, dims)
        if offset % alignment:
            raise p.fail(f"tensor {name!r} offset {offset} is not a multiple of {alignment}")
        if offset + nbytes > data_size:
            raise p.fail(
                f"tensor {name!r} data ends at byte {data_offset + offset + nbytes:,},"
                f" past the end of the {src.size:,}-byte file"
            )
        tensors.append(GGUFTensor(name, ggml_type, dims, offset, nbytes))
    end = 0
    for t in sorted(tensors, key=lambda t: t.offset):
        if t.offset < end:
            raise p.fail(f"tensor {t.name!r} overlaps the tensor before it")
        end = t.offset + t.nbytes
    return GGUFHeader(src.name, version, metadata, tuple(tensors), src.size, alignment, data_offset)


def read_gguf(path: str | os.PathLike[str], *, limit: int = HEADER_MAX_BYTES) -> GGUFHeader:
    """Read the header of a local GGUF file (the tensor data is never read)."""
    with FileSource(path) as src:
        return parse_gguf(src, limit=limit)


def weights_from_gguf(headers: Sequence[GGUFHeader]) -> FileWeights:
    """Exact bytes of every tensor of a GGUF model (all shards of a split file)."""
    entries = [
        TensorEntry(t.name, t.type_name, t.shape, t.nbytes) for h in headers for t in h.tensors
    ]
    return FileWeights.from_entries(entries, sum(t.numel for h in headers for t in h.tensors))


# llama.cpp marks a file type it guessed (not recorded by llama-quantize) with this bit
# (LLAMA_FTYPE_GUESSED = 1024 in include/llama.h).
_FTYPE_GUESSED = 1024


def file_type_format(file_type: int) -> WeightFormat | None:
    """The :class:`WeightFormat` of a ``general.file_type`` (llama.cpp LLAMA_FTYPE), if any.

    >>> file_type_format(15).label, file_type_format(3).label, file_type_format(4)
    ('Q4_K_M', 'Q4_1', None)
    """
    try:
        ftype = LlamaFileType(file_type & ~_FTYPE_GUESSED)
    except ValueError:
        return None
    label = {"ALL_F32": "F32"}.get(ftype.name, ftype.name.removeprefix("MOSTLY_"))
    for fmt in WeightFormat:
        if fmt.label == label:
            return fmt
    return None
