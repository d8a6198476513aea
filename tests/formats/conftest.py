"""Fixtures of the reader tests; the builders live in readers_kit.py beside this file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# pytest's importlib mode leaves sys.path alone: make readers_kit importable by the tests here
sys.path.insert(0, str(Path(__file__).parent))

from readers_kit import GGUFBuilder, build_gguf


@pytest.fixture
def gguf_file(tmp_path: Path) -> GGUFBuilder:
    """``gguf_file(config, name=..., **options)``: a GGUF file in tmp_path (see build_gguf)."""

    def make(config: dict[str, Any], name: str = "model.gguf", **options: Any) -> Path:
        return build_gguf(tmp_path / name, config, **options)

    return make
