"""Errors of the file and hub readers.

::

    RigfitError (rigfit.errors)
    └── ReaderError                    a file or hub response rigfit cannot read: not that format,
        │                              truncated, out of bounds, too large, missing
        ├── HubError                   the Hub (or a mirror) refused or could not be reached
        └── UnsupportedQuantizationError  a quantization_config rigfit cannot map to a format

Architectures that cannot be priced exactly still raise
:class:`rigfit.errors.UnsupportedArchitectureError`. Every message is one line that names the
file (or repository) and the problem.
"""

from __future__ import annotations

from rigfit.errors import RigfitError

__all__ = ["HubError", "ReaderError", "UnsupportedQuantizationError"]


class ReaderError(RigfitError):
    """A model file or hub response that rigfit cannot read; the message names it."""


class HubError(ReaderError):
    """The Hugging Face Hub (or the mirror in HF_ENDPOINT) refused, or could not be reached."""


class UnsupportedQuantizationError(ReaderError):
    """A ``quantization_config`` that maps to no :class:`rigfit.quant.WeightFormat`."""
