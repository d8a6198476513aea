"""What a reader hands back: a model read from files, with exact tensor bytes when known."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import NamedTuple

from rigfit.arch import Architecture
from rigfit.catalog.schema import HFConfig
from rigfit.frozen import frozen
from rigfit.quant import WeightFormat

__all__ = ["FileModel", "FileWeights", "ModelKind", "TensorEntry"]


class ModelKind(StrEnum):
    """Where a :class:`FileModel` was read from."""

    CONFIG = "config.json"
    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    HUB = "hub"


class TensorEntry(NamedTuple):
    """One stored tensor: name as in the file, dtype (safetensors dtype or GGML type name),
    shape in row-major order (PyTorch's; GGUF's ``ne`` reversed) and its exact bytes."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@frozen
class FileWeights:
    """Exact tensor bytes from file headers (never from the weights themselves).

    ``params`` is None when some tensors hold packed integers (GPTQ/AWQ ``qweight``, MXFP4
    ``blocks``, bitsandbytes 4-bit ``weight``): their element count is not a parameter count.
    """

    total_bytes: int
    by_dtype: tuple[tuple[str, int], ...]  # (dtype, bytes), largest first
    params: int | None
    tensors: tuple[TensorEntry, ...]

    @property
    def tensor_count(self) -> int:
        return len(self.tensors)

    @classmethod
    def from_entries(cls, entries: Iterable[TensorEntry], params: int | None) -> FileWeights:
        """Sum ``entries`` into totals per dtype (largest first, ties by name)."""
        tensors = tuple(entries)
        sums: dict[str, int] = {}
        for t in tensors:
            sums[t.dtype] = sums.get(t.dtype, 0) + t.nbytes
        by_dtype = tuple(sorted(sums.items(), key=lambda kv: (-kv[1], kv[0])))
        return cls(sum(sums.values()), by_dtype, params, tensors)


@frozen
class FileModel:
    """A model read from a config.json, safetensors headers, a GGUF header or the Hub."""

    id: str  # display name: a folder or file name, or a Hub repo id
    source: str  # the path or URL it was read from
    kind: ModelKind
    config: HFConfig
    arch: Architecture
    weights: FileWeights | None  # None when only a config.json was read
    native_format: WeightFormat | None  # what the files hold, when it maps to a format
    notes: tuple[str, ...] = ()

    @property
    def generates(self) -> bool:
        """A file does not say what its model is run for: rigfit takes it as a generator."""
        return True
