"""Byte units, in one place: decimal GB (10^9) and binary GiB (2^30) are never confused.

Every quantity inside rigfit is an integer number of bytes; conversion happens only here, and
every rendered figure says which unit it is in.
"""

from __future__ import annotations

import re

from rigfit.errors import InvalidSpecError

__all__ = [
    "GB",
    "GIB",
    "KIB",
    "MAX_TOKENS",
    "MB",
    "MIB",
    "fmt_bytes",
    "fmt_rate",
    "fmt_seconds",
    "fmt_tokens",
    "parse_bytes",
    "parse_count",
    "parse_tokens",
    "to_gb",
    "to_gib",
]

KIB = 1024
MIB = 1024**2
GIB = 1024**3
MB = 1000**2
GB = 1000**3


def to_gb(n_bytes: float) -> float:
    """Bytes to decimal gigabytes.

    >>> to_gb(141_107_412_992)
    141.107412992
    """
    return n_bytes / GB


def to_gib(n_bytes: float) -> float:
    """Bytes to binary gibibytes.

    >>> round(to_gib(85_899_345_920), 3)
    80.0
    """
    return n_bytes / GIB


def fmt_bytes(n_bytes: float, unit: str = "GB") -> str:
    """Render bytes in ``GB`` (decimal) or ``GiB`` (binary), the unit written out.

    >>> fmt_bytes(141_107_412_992)
    '141.11 GB'
    >>> fmt_bytes(141_107_412_992, "GiB")
    '131.42 GiB'
    """
    if unit == "GB":
        return f"{to_gb(n_bytes):,.2f} GB"
    if unit == "GiB":
        return f"{to_gib(n_bytes):,.2f} GiB"
    raise InvalidSpecError(f"unknown unit {unit!r} (allowed: GB, GiB)")


def fmt_rate(tok_s: float) -> str:
    """Tokens per second, whole from 100 up, else to a tenth.

    >>> fmt_rate(1234.5), fmt_rate(19.34)
    ('1,234 tok/s', '19.3 tok/s')
    """
    return f"{tok_s:,.0f} tok/s" if tok_s >= 100 else f"{tok_s:,.1f} tok/s"


def fmt_seconds(s: float) -> str:
    """A duration: milliseconds under a second, seconds to a tenth under two hours, then
    hours, then days.

    >>> fmt_seconds(0.0684), fmt_seconds(14.53), fmt_seconds(34107), fmt_seconds(400000)
    ('68 ms', '14.5 s', '9.5 h', '4.6 days')
    """
    if s < 1:
        return f"{s * 1000:,.0f} ms"
    if s < 7200:
        return f"{s:,.1f} s"
    if s < 172800:
        return f"{s / 3600:,.1f} h"
    return f"{s / 86400:,.1f} days"


def fmt_tokens(n: int) -> str:
    """A token count as users write it: whole multiples of 1,024 as ``k`` (see parse_tokens).

    >>> fmt_tokens(32768), fmt_tokens(40960), fmt_tokens(22809)
    ('32k', '40k', '22,809')
    """
    return f"{n // 1024}k" if n >= 1024 and n % 1024 == 0 else f"{n:,}"


# The largest token count rigfit reads: 2^30, far above any model's context (the longest in the
# catalog is 1,048,576), so every search over contexts stays short.
MAX_TOKENS = 2**30

_TOKENS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_tokens(text: str | int) -> int:
    """Parse a token count: ``32768``, ``32k``, ``128K`` (k = 1024 tokens), ``1m``.

    Context sizes are powers of two in practice, so ``k`` means 1024, as in engine flags and
    model cards (Llama 3.1's "128K" is 131,072).

    >>> parse_tokens("32k"), parse_tokens("128K"), parse_tokens("131072"), parse_tokens("1M")
    (32768, 131072, 131072, 1048576)
    """
    if isinstance(text, int):
        value = text
    else:
        m = _TOKENS.match(text)
        if not m:
            raise InvalidSpecError(
                f"cannot read {text!r} as a token count (write e.g. 4096, 32k, 128K or 1M)"
            )
        number, suffix = float(m.group(1)), m.group(2).lower()
        scale = {"": 1, "k": 1024, "m": 1024**2}[suffix]
        if (number * scale) != int(number * scale):
            raise InvalidSpecError(f"{text!r} is not a whole number of tokens")
        value = int(number * scale)
    if not 1 <= value <= MAX_TOKENS:
        raise InvalidSpecError(f"token count must be between 1 and {MAX_TOKENS:,}, got {value:,}")
    return value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(TiB|TB|GiB|GB|MiB|MB|T|G|M)?\s*$", re.IGNORECASE)
_SIZE_SCALE = {
    "tb": 1000**4,
    "tib": 1024**4,
    "gb": GB,
    "gib": GIB,
    "mb": MB,
    "mib": MIB,
    "t": 1000**4,
    "g": GB,
    "m": MB,
}
# Bound on a memory size a user may give (``--ram``): 1 PB, far above any one host
MAX_SIZE_BYTES = 1000**5


def parse_bytes(text: str | int) -> int:
    """Parse a memory size: ``64GB``, ``64G`` (decimal), ``128GiB`` (binary), ``512MB``, a
    plain number of GB (``64``), or an int of bytes.

    >>> parse_bytes("64GB"), parse_bytes("1.5TB"), parse_bytes("128GiB"), parse_bytes("64")
    (64000000000, 1500000000000, 137438953472, 64000000000)
    """
    if isinstance(text, int):
        value = text
    else:
        m = _SIZE.match(text)
        if not m:
            raise InvalidSpecError(
                f"cannot read {text!r} as a memory size (write e.g. 64GB, 128GiB, 512MB or 1TB)"
            )
        unit = (m.group(2) or "gb").lower()
        value = int(float(m.group(1)) * _SIZE_SCALE[unit])
    if not 0 <= value <= MAX_SIZE_BYTES:
        raise InvalidSpecError(
            f"a memory size must be between 0 and 1 PB (like 64GB or 128GiB), got {value:,} bytes"
        )
    return value


_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMbBtT]?)\s*$")
MAX_COUNT = 10**15


def parse_count(text: str | int, what: str = "count") -> int:
    """A large decimal count, as datasets are sized: ``50M``, ``2B``, ``1.5T`` (powers of 1000,
    unlike a context's k).

    >>> parse_count("50M"), parse_count("2B"), parse_count("1.5T"), parse_count(7)
    (50000000, 2000000000, 1500000000000, 7)
    """
    if isinstance(text, int):
        value = text
    else:
        m = _COUNT.match(text)
        if not m:
            raise InvalidSpecError(f"cannot read {text!r} as a {what} (write e.g. 50M, 2B, 1.5T)")
        scale = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}[m.group(2).lower()]
        value = int(float(m.group(1)) * scale)
    if not 1 <= value <= MAX_COUNT:
        raise InvalidSpecError(f"a {what} must be from 1 to 10^15, got {value:,}")
    return value
