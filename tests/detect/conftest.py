"""Recorded outputs of the tools detection reads, each with its source on its first line."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

RECORDED = Path(__file__).parent / "recorded"
# the shell prompt a reporter pasted with the output: "tk@mac-tk ~ % ...", "% ...", "$ ..."
_PROMPT = re.compile(r"^(\S+@\S+ .*% |% |\$ |> )")


def _recorded(name: str) -> str:
    """A recording without its ``# source:`` / ``# command:`` / ``# note:`` header lines and
    the shell prompt lines the reporters pasted."""
    lines = (RECORDED / name).read_text(encoding="utf-8").splitlines()
    body = [
        line
        for line in lines
        if not line.startswith(("# source:", "# command:", "# note:", "# machine"))
        and not _PROMPT.match(line)
    ]
    return "\n".join(body) + "\n"


@pytest.fixture
def recorded() -> Callable[[str], str]:
    return _recorded


def test_every_recording_names_its_source() -> None:
    for path in RECORDED.iterdir():
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# source: http"), path.name
