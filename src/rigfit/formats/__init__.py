"""Read real model files without downloading weights: config.json, safetensors and GGUF headers.

:func:`open_model` takes a path (a ``config.json``, a ``.gguf`` or ``.safetensors`` file, or a
folder holding them) or a Hugging Face id (``org/name``) and returns a :class:`FileModel`: the
config rigfit reads, its :class:`~rigfit.arch.Architecture`, the exact tensor bytes from the
headers, and the format the files hold. Only config files and headers are read, within hard
limits; anything malformed raises a one-line :class:`ReaderError`.

Each file format has one home: ``config_json`` (config.json, quantization_config),
``safetensors`` (headers and index), ``gguf/`` (``header``: the bounded parser; ``metadata``:
GGUF metadata to config, cross-checked; ``quantize``: the replay of llama.cpp's per-tensor type
choice; ``size``: the predicted file), ``hub`` (Hugging Face Hub, optional extra), ``open`` (what
a reference names). The names below load their module on first use, so pricing a GGUF type
never imports the header parser (nor the ``gguf`` package and numpy behind it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigfit.formats.config_json import (
        config_from_dict,
        dtype_format,
        load_config,
        native_format,
        quant_format,
    )
    from rigfit.formats.errors import HubError, ReaderError, UnsupportedQuantizationError
    from rigfit.formats.gguf.header import GGUFHeader, GGUFTensor, read_gguf
    from rigfit.formats.gguf.metadata import arch_from_gguf, map_gguf
    from rigfit.formats.model import FileModel, FileWeights, ModelKind, TensorEntry
    from rigfit.formats.open import open_model
    from rigfit.formats.safetensors import SafetensorsHeader, read_header, read_index


_LAZY = {
    "FileModel": "rigfit.formats.model",
    "FileWeights": "rigfit.formats.model",
    "GGUFHeader": "rigfit.formats.gguf.header",
    "GGUFTensor": "rigfit.formats.gguf.header",
    "HubError": "rigfit.formats.errors",
    "ModelKind": "rigfit.formats.model",
    "ReaderError": "rigfit.formats.errors",
    "SafetensorsHeader": "rigfit.formats.safetensors",
    "TensorEntry": "rigfit.formats.model",
    "UnsupportedQuantizationError": "rigfit.formats.errors",
    "arch_from_gguf": "rigfit.formats.gguf.metadata",
    "config_from_dict": "rigfit.formats.config_json",
    "dtype_format": "rigfit.formats.config_json",
    "load_config": "rigfit.formats.config_json",
    "map_gguf": "rigfit.formats.gguf.metadata",
    "native_format": "rigfit.formats.config_json",
    "open_model": "rigfit.formats.open",
    "quant_format": "rigfit.formats.config_json",
    "read_gguf": "rigfit.formats.gguf.header",
    "read_header": "rigfit.formats.safetensors",
    "read_index": "rigfit.formats.safetensors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "FileModel",
    "FileWeights",
    "GGUFHeader",
    "GGUFTensor",
    "HubError",
    "ModelKind",
    "ReaderError",
    "SafetensorsHeader",
    "TensorEntry",
    "UnsupportedQuantizationError",
    "arch_from_gguf",
    "config_from_dict",
    "dtype_format",
    "load_config",
    "map_gguf",
    "native_format",
    "open_model",
    "quant_format",
    "read_gguf",
    "read_header",
    "read_index",
]
