"""Every error rigfit raises on purpose.

::

    RigfitError                     base of all of them; the CLI prints ``error: <message>``
    ├── UnknownNameError(KeyError)  a model, GPU, quantization or KV type that is not known;
    │   ├── UnknownModelError         carries the closest matches
    │   ├── UnknownGPUError
    │   ├── UnknownFormatError        (UnknownKVTypeError for --kv-type)
    │   └── UnknownEngineError        an --engine (rigfit.engines)
    ├── InvalidSpecError(ValueError)  a value out of range (context <= 0, 0 GPUs, ...) or a
    │                                 combination that cannot work (a quant the model can't use)
    ├── UnsupportedArchitectureError  an architecture rigfit cannot account for exactly: it fails
    │                                 closed instead of pricing it with a generic guess
    ├── CatalogError                  a catalog data file that does not validate
    ├── ReaderError                   a model file or Hub response rigfit cannot read
    │                                 (rigfit.formats.errors: HubError,
    │                                 UnsupportedQuantizationError)
    └── MeasurementError              a measurement-set row that does not validate
                                      (rigfit.validation.measurements)

"Doesn't fit" is not an error: it is a result (:class:`rigfit.estimate.FitResult`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

__all__ = [
    "CatalogError",
    "InvalidSpecError",
    "RigfitError",
    "UnknownFormatError",
    "UnknownGPUError",
    "UnknownKVTypeError",
    "UnknownModelError",
    "UnknownNameError",
    "UnsupportedArchitectureError",
    "closest",
]


def closest(name: str, choices: Mapping[str, str] | Sequence[str], n: int = 3) -> list[str]:
    """Up to ``n`` choices closest to ``name``, case-insensitively, for "did you mean".

    ``choices`` may map lookup keys (ids, aliases) to the canonical name to suggest.

    >>> closest("q4km", ["Q4_K_M", "Q8_0"])
    ['Q4_K_M']
    """
    canonical = dict(choices) if isinstance(choices, Mapping) else {c: c for c in choices}
    lowered = {k.lower(): v for k, v in canonical.items()}
    out: list[str] = []
    for hit in difflib.get_close_matches(name.strip().lower(), list(lowered), n=8, cutoff=0.5):
        if lowered[hit] not in out:
            out.append(lowered[hit])
    return out[:n]


class RigfitError(Exception):
    """Base class of every error rigfit raises on purpose."""

    def __str__(self) -> str:  # KeyError would repr() its message; keep it a plain line
        return str(self.args[0]) if self.args else self.__class__.__name__


class UnknownNameError(RigfitError, KeyError):
    """A name that is not in a closed set or the catalog; carries the closest matches."""

    kind = "name"

    def __init__(self, name: str, suggestions: Sequence[str] = (), allowed: str = "") -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        msg = f"unknown {self.kind} {name!r}"
        if self.suggestions:
            msg += "; did you mean " + ", ".join(self.suggestions) + "?"
        if allowed:
            msg += f" ({allowed})"
        super().__init__(msg)


class UnknownModelError(UnknownNameError):
    """No catalog model has this id or alias."""

    kind = "model"


class UnknownGPUError(UnknownNameError):
    """No catalog accelerator has this id or alias."""

    kind = "GPU"


class UnknownFormatError(UnknownNameError):
    """Not a known weight format, GGML type or KV cache type."""

    kind = "format"


class UnknownKVTypeError(UnknownFormatError):
    """Not a known KV cache type."""

    kind = "KV cache type"


class InvalidSpecError(RigfitError, ValueError):
    """A value out of range, or a combination that cannot work; says what is allowed."""


class UnsupportedArchitectureError(RigfitError):
    """An architecture rigfit cannot account for exactly (fails closed, never guesses)."""


class MissingFigureError(RigfitError):
    """A figure an answer needs is not known for this hardware (a custom accelerator given
    without its bandwidth): that answer is not estimated, never guessed."""


class CatalogError(RigfitError):
    """A catalog data file that does not validate; the message names the entry."""
