"""One error envelope for the API, and the status each of rigfit's errors maps to.

Every error the API returns has this body, whatever went wrong::

    {"error": {"status": 404, "type": "unknown_model",
               "message": "unknown model 'llama-9b'; did you mean ...?", "closest": [...]}}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from rigfit.errors import (
    InvalidSpecError,
    RigfitError,
    UnknownFormatError,
    UnknownGPUError,
    UnknownKVTypeError,
    UnknownModelError,
    UnknownNameError,
    UnsupportedArchitectureError,
)

__all__ = ["ErrorBody", "ErrorEnvelope", "envelope", "from_rigfit", "from_validation"]


class ErrorBody(BaseModel):
    status: int
    type: str
    message: str
    closest: list[str] = []


class ErrorEnvelope(BaseModel):
    """The body of every API error."""

    error: ErrorBody


_TYPES: list[tuple[type[RigfitError], str]] = [
    (UnknownModelError, "unknown_model"),
    (UnknownGPUError, "unknown_gpu"),
    (UnknownKVTypeError, "unknown_kv_type"),
    (UnknownFormatError, "unknown_format"),
    (UnknownNameError, "unknown_name"),
    (UnsupportedArchitectureError, "unsupported_architecture"),
    (InvalidSpecError, "invalid_input"),
]


def envelope(
    status: int, type_: str, message: str, closest: list[str] | None = None
) -> ErrorEnvelope:
    return ErrorEnvelope(
        error=ErrorBody(status=status, type=type_, message=message, closest=closest or [])
    )


def from_rigfit(exc: RigfitError, *, not_found: bool = False) -> ErrorEnvelope:
    """400 for bad input; 404 when ``not_found`` (an unknown id in the path)."""
    type_ = next((t for cls, t in _TYPES if isinstance(exc, cls)), "error")
    closest = list(exc.suggestions) if isinstance(exc, UnknownNameError) else []
    status = 404 if not_found and isinstance(exc, UnknownNameError) else 400
    return envelope(status, type_, str(exc), closest)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("query", "body", "path")]
    return ".".join(parts) or "request"


def from_validation(errors: list[dict[str, Any]]) -> ErrorEnvelope:
    """422 with every field's problem on one line: what was wrong and what is allowed."""
    msgs = []
    for e in errors[:5]:
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {str(got)[:40]!r})"
        msgs.append(f"{_loc(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}{shown}")
    return envelope(422, "invalid_request", "; ".join(msgs))
