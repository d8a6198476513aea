"""The web address every sourced record carries.

A plain string checked by one pattern, not pydantic's ``HttpUrl``: the address is shown and
compared exactly as the data file wrote it (``HttpUrl`` adds a trailing slash to a bare host),
and ``HttpUrl`` imports the email package and package metadata, about a twentieth of a second of
every command's start-up (``python -X importtime``, docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["URL_PATTERN", "Url"]

# http or https, a host, then anything without white space; at most 2,083 characters, the
# limit pydantic's HttpUrl applied (the old Internet Explorer address limit).
URL_PATTERN = r"^https?://[A-Za-z0-9][^\s/?#]*(?:[/?#]\S*)?$"

Url = Annotated[str, Field(pattern=URL_PATTERN, max_length=2083)]
