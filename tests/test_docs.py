"""Generated docs are current, and every CLI command is documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from rigfit.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["formats.md", "cli.md"])
def test_generated_docs_are_current(name: str) -> None:
    gen = _gen()
    want = gen.GENERATED[name]()
    assert (ROOT / "docs" / name).read_text() == want, (
        f"docs/{name} is stale: run .venv/bin/python scripts/gen_docs.py"
    )


def test_every_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for name in main.commands:
        assert f"## `rigfit {name}`" in text
