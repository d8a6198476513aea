"""Family records: one per supported model_type, and unknown types fail closed."""

from __future__ import annotations

import pytest

import rigfit
from rigfit.errors import UnsupportedArchitectureError
from rigfit.families import FAMILIES, OllamaFlashAttn, family


def test_every_catalog_model_has_a_family() -> None:
    for m in rigfit.list_models():
        assert family(m.arch.model_type).model_type == m.arch.model_type


def test_unknown_model_type_fails_closed() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="'cohere2' is not supported"):
        family("cohere2")


def test_records_agree_where_one_gguf_arch_serves_several_model_types() -> None:
    """Ollama and llama.cpp see the GGUF architecture, not the model_type: records that share
    one must agree on what those engines do with it."""
    by_arch: dict[str, set[tuple[bool, bool, OllamaFlashAttn]]] = {}
    for f in FAMILIES.values():
        key = (f.llamacpp_window_cache, f.ollama_engine, f.ollama_flash_attn)
        by_arch.setdefault(f.gguf_arch, set()).add(key)
    assert all(len(v) == 1 for v in by_arch.values()), by_arch
