"""Read real model files without downloading weights: config.json, safetensors and GGUF headers.

:func:`open_model` takes a path (a ``config.json``, a ``.gguf`` or ``.safetensors`` file, or a
folder holding them) or a Hugging Face id (``org/name``) and returns a :class:`FileModel`: the
config rigfit reads, its :class:`~rigfit.arch.Architecture`, the exact tensor bytes from the
headers, and the format the files hold. Only config files and headers are read, within hard
limits; anything malformed raises a one-line :class:`ReaderError`.

Modules: ``config`` (config.json, quantization_config), ``safetensors`` (headers and index),
``gguf`` (header parser), ``gguf_arch`` (GGUF metadata to config, cross-checked), ``hub``
(Hugging Face Hub, optional extra), ``open`` (what a reference names).
"""

from rigfit.readers.config import (
    config_from_dict,
    dtype_format,
    load_config,
    native_format,
    quant_format,
)
from rigfit.readers.errors import HubError, ReaderError, UnsupportedQuantizationError
from rigfit.readers.gguf import GGUFHeader, GGUFTensor, read_gguf
from rigfit.readers.gguf_arch import arch_from_gguf, map_gguf
from rigfit.readers.model import FileModel, FileWeights, ModelKind, TensorEntry
from rigfit.readers.open import open_model
from rigfit.readers.safetensors import SafetensorsHeader, read_header, read_index

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
