"""Assemble a :class:`FileModel` from parsed parts, wherever they were read from."""

from __future__ import annotations

from collections.abc import Sequence

from rigfit.arch import from_config
from rigfit.formats.config_json import ParsedConfig, dtype_format, quant_format
from rigfit.formats.errors import ReaderError, UnsupportedQuantizationError
from rigfit.formats.gguf.header import GGUFHeader, file_type_format, weights_from_gguf
from rigfit.formats.gguf.metadata import map_gguf
from rigfit.formats.model import FileModel, FileWeights, ModelKind
from rigfit.formats.safetensors import SafetensorsHeader, SafetensorsIndex, weights_from_headers
from rigfit.quant import WeightFormat

__all__ = ["config_model", "gguf_model", "safetensors_model"]

_FLOAT_DTYPES = {"BF16": WeightFormat.BF16, "F16": WeightFormat.F16, "F32": WeightFormat.F32}


def _native(parsed: ParsedConfig, weights: FileWeights | None) -> tuple[WeightFormat | None, str]:
    """The stored format: quantization_config, else the dtype holding most bytes, else
    torch_dtype; with a note when it maps to no format."""
    c = parsed.config
    if c.quantization_config:
        try:
            return quant_format(c.quantization_config), ""
        except UnsupportedQuantizationError as exc:
            return None, str(exc)
    if weights is not None and weights.by_dtype:
        fmt = _FLOAT_DTYPES.get(weights.by_dtype[0][0])
        if fmt is not None:
            return fmt, ""
    if c.torch_dtype:
        fmt = dtype_format(c.torch_dtype)
        return fmt, "" if fmt else f"torch_dtype {c.torch_dtype!r} maps to no weight format"
    return None, "the config names no torch_dtype and no quantization"


def config_model(id: str, source: str, kind: ModelKind, parsed: ParsedConfig) -> FileModel:
    """A model known from its config.json alone (no weight bytes)."""
    arch = from_config(parsed.config)
    fmt, note = _native(parsed, None)
    notes = (*parsed.notes, *([note] if note else []))
    return FileModel(id, source, kind, parsed.config, arch, None, fmt, notes)


def safetensors_model(
    id: str,
    source: str,
    kind: ModelKind,
    parsed: ParsedConfig,
    headers: Sequence[SafetensorsHeader],
    index: SafetensorsIndex | None,
) -> FileModel:
    """A model from its config.json and the headers of its safetensors shards."""
    arch = from_config(parsed.config)
    weights, wnotes = weights_from_headers(headers, index)
    fmt, note = _native(parsed, weights)
    notes = [*parsed.notes, *wnotes, *([note] if note else [])]
    if weights.params is not None and weights.params != arch.params_total:
        notes.append(
            f"the safetensors hold {weights.params:,} parameters, the architecture rigfit reads"
            f" from config.json {arch.params_total:,} (multi-token-prediction layers, a vision"
            " tower or buffers stored in the checkpoint make such differences)"
        )
    return FileModel(id, source, kind, parsed.config, arch, weights, fmt, tuple(notes))


def gguf_model(id: str, source: str, kind: ModelKind, headers: Sequence[GGUFHeader]) -> FileModel:
    """A model from the header of a GGUF file (every shard of a split file)."""
    if not headers:
        raise ReaderError(f"{source}: no GGUF file")
    first = headers[0]
    count = first.metadata.get("split.count")
    if isinstance(count, int) and count > 1 and count != len(headers):
        raise ReaderError(f"{first.name}: a split GGUF of {count} files, {len(headers)} found")
    mapping = map_gguf(first, headers[1:])
    weights = weights_from_gguf(headers)
    notes = list(mapping.notes)
    ftype = first.metadata.get("general.file_type")
    fmt = file_type_format(ftype) if isinstance(ftype, int) else None
    if fmt is None:
        notes.append(
            f"general.file_type {ftype!r} maps to no weight format; the tensor bytes are exact"
        )
    return FileModel(id, source, kind, mapping.config, mapping.arch, weights, fmt, tuple(notes))
