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
    """llama.cpp sees the GGUF architecture and Ollama the one its files name (Ollama converts
    OLMo 3 as "olmo3", llama.cpp as "olmo2"), not the model_type: records that share one must
    agree on what that engine does with it."""
    by_gguf: dict[str, set[bool]] = {}
    by_ollama: dict[str, set[tuple[bool, OllamaFlashAttn]]] = {}
    for f in FAMILIES.values():
        by_gguf.setdefault(f.gguf_arch, set()).add(f.llamacpp_window_cache)
        by_ollama.setdefault(f.ollama_arch, set()).add((f.ollama_engine, f.ollama_flash_attn))
    assert all(len(v) == 1 for v in by_gguf.values()), by_gguf
    assert all(len(v) == 1 for v in by_ollama.values()), by_ollama
