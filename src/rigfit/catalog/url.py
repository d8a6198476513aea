"""The web address every sourced record carries.

A plain string with one check (:func:`rigfit.strict.checked`), not pydantic's ``HttpUrl``: the
address is shown and compared exactly as the data file wrote it (``HttpUrl`` adds a trailing
slash to a bare host and percent-encodes non-ASCII paths).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeAlias

from rigfit.strict import checked

__all__ = ["MAX_URL_CHARS", "Url"]

# http or https, a host, then anything without white space
_URL = re.compile(r"^https?://[A-Za-z0-9][^\s/?#]*(?:[/?#]\S*)?$")
# the limit pydantic's HttpUrl applied (the old Internet Explorer address limit)
MAX_URL_CHARS = 2083


def _check(url: str) -> str:
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"a web address of {len(url):,} characters (at most {MAX_URL_CHARS:,})")
    if not _URL.match(url):
        raise ValueError(
            f"not a web address: {url!r} (allowed: http:// or https://, a host, no spaces)"
        )
    return url


if TYPE_CHECKING:
    Url: TypeAlias = str
else:
    Url = checked("Url", _check)
