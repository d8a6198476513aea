"""transformers 4.57 generate profile: hand-derived bytes from the models' config numbers."""

from __future__ import annotations

import dataclasses

import pytest
from engines_kit import req_for

from rigfit.engines import get_engine
from rigfit.engines.transformers import TRANSFORMERS
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import estimate
from rigfit.estimate.settings import EngineSettings

GIB = 1 << 30
CONTEXT = int(0.84 * GIB)

# Llama-3.1-8B config.json: hidden 4096, 32 layers, 32 heads, 8 KV heads of 128,
# intermediate 14336, vocab 128256, untied head
L8_BYTES = 2 * (
    2 * 128256 * 4096
    + 32 * (2 * 4096 * 4096 + 2 * 1024 * 4096 + 3 * 14336 * 4096 + 2 * 4096)
    + 4096
)
L8_KV_ROW = 2 * 8 * 128 * 2  # K and V of 8 heads × 128, bf16


def test_registered() -> None:
    assert get_engine("transformers") is TRANSFORMERS
    assert TRANSFORMERS.reference_version == "4.57.1"


def test_llama_8b_sdpa() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", "rtx-4090", quant="BF16", ctx=8192)
    est = estimate(req, TRANSFORMERS)
    assert est.term_bytes("weights") == L8_BYTES == 16_060_522_496
    assert est.term_bytes("kv_cache") == 32 * 8192 * L8_KV_ROW
    assert est.term_bytes("kv_concat") == 8192 * L8_KV_ROW
    # prefill: 8192 tokens × bf16 × (residual + normed + the MLP's act(gate), up, product)
    attn = (32 + 2 * 8) * 128 + 32 * 128
    mlp = 3 * 14336
    assert mlp > attn
    layer = 8192 * 2 * (2 * 4096 + mlp)
    logits = 8192 * 4096 * 2 + 128256 * (2 + 4)
    assert est.term_bytes("activations") == max(layer, logits)
    assert est.term_bytes("reserve") == CONTEXT
    assert est.pool is None
    assert est.fits


def test_llama_8b_eager_scores() -> None:
    sdpa = req_for("meta-llama/Llama-3.1-8B-Instruct", "a100-80gb-sxm", quant="BF16", ctx=4096)
    eager = dataclasses.replace(sdpa, engine=EngineSettings(attn_implementation="eager"))
    base = estimate(sdpa, TRANSFORMERS).term_bytes("activations")
    extra = estimate(eager, TRANSFORMERS).term_bytes("activations") - base
    # scores of 32 heads over 4096² in bf16, the f32 softmax and its bf16 copy, + the bf16 mask
    assert extra == 32 * 4096 * 4096 * (2 + 4 + 2) + 4096 * 4096 * 2
    assert any("eager" in n for n in estimate(eager, TRANSFORMERS).notes)


def test_qwen3_moe_two_gpus() -> None:
    # Qwen3-30B-A3B: 48 layers, hidden 2048, 32 heads / 4 KV heads of 128, 128 experts top-8
    # of 768, vocab 151936, untied
    req = req_for("Qwen/Qwen3-30B-A3B", "a100-80gb-sxm", gpus=2, quant="BF16", ctx=8192, seqs=2)
    est = estimate(req, TRANSFORMERS)
    layers, _, emb_dev, head_dev = TRANSFORMERS.placement(req)
    assert (emb_dev, head_dev) == (0, 1)
    assert layers == sorted(layers)
    on0 = layers.count(0)
    assert 0 < on0 < 48
    row = 2 * 4 * 128 * 2
    kv = next(t for t in est.terms if t.key == "kv_cache")
    assert kv.per_device == (2 * 8192 * row * on0, 2 * 8192 * row * (48 - on0))
    w = next(t for t in est.terms if t.key == "weights")
    assert sum(w.per_device) == 2 * req.arch.params_total
    assert abs(w.per_device[0] - w.per_device[1]) < 2 * w.total_bytes // 48
    tokens = 2 * 8192
    attn = (32 + 8) * 128 + 32 * 128
    mlp = 128 + 2048 + -(-3 * 768 * 8 // 128)  # router, accumulator, average expert share
    layer = tokens * 2 * (2 * 2048 + max(attn, mlp))
    logits = tokens * 2048 * 2 + 2 * 151936 * (2 + 4)
    act = next(t for t in est.terms if t.key == "activations")
    assert act.per_device == (layer, max(layer, logits))
    assert est.term_bytes("reserve") == 2 * CONTEXT


def test_sliding_window_cache() -> None:
    # Gemma-2-9B: 42 layers alternating sliding (window 4096) and full, 8 KV heads of 256
    req = req_for("google/gemma-2-9b-it", "a100-80gb-sxm", quant="BF16", ctx=8192)
    row = 2 * 8 * 256 * 2
    assert estimate(req, TRANSFORMERS).term_bytes("kv_cache") == (21 * 8192 + 21 * (4096 - 1)) * row


def test_deepseek_mla_caches_per_head() -> None:
    # DeepSeek-V2-Lite: 27 layers, 16 heads, K = nope 128 + rope 64, V = 128 per head
    req = req_for("deepseek-ai/DeepSeek-V2-Lite-Chat", "a100-80gb-sxm", quant="BF16", ctx=4096)
    assert estimate(req, TRANSFORMERS).term_bytes("kv_cache") == 27 * 4096 * 16 * (192 + 128) * 2


def test_command_line() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", "rtx-4090", quant="BF16")
    assert TRANSFORMERS.command(req, "meta-llama/Llama-3.1-8B-Instruct") == (
        'python -c "from transformers import AutoModelForCausalLM;'
        " AutoModelForCausalLM.from_pretrained('meta-llama/Llama-3.1-8B-Instruct',"
        " device_map='auto', dtype='auto', attn_implementation='sdpa')\""
    )
    eager = dataclasses.replace(req, engine=EngineSettings(attn_implementation="eager"))
    assert "attn_implementation='eager'" in TRANSFORMERS.command(eager, "m")


def test_errors() -> None:
    llama = "meta-llama/Llama-3.1-8B-Instruct"
    with pytest.raises(InvalidSpecError, match=r"use --engine mlx"):
        estimate(req_for(llama, "m2-max-96gb", quant="BF16"), TRANSFORMERS)
    with pytest.raises(InvalidSpecError, match=r"allowed: f16, bf16, f32"):
        estimate(req_for(llama, "rtx-4090", quant="BF16", kv_type="fp8"), TRANSFORMERS)
    with pytest.raises(InvalidSpecError, match=r"drop --tp/--pp"):
        estimate(
            req_for(llama, "rtx-4090", gpus=2, quant="BF16", engine=EngineSettings(tp=2)),
            TRANSFORMERS,
        )
    with pytest.raises(InvalidSpecError, match=r"one of sdpa, eager, flash_attention_2"):
        estimate(
            req_for(llama, "rtx-4090", engine=EngineSettings(attn_implementation="flex")),
            TRANSFORMERS,
        )
    with pytest.raises(InvalidSpecError, match=r"MXFP4"):
        estimate(req_for("openai/gpt-oss-20b", "h100-sxm"), TRANSFORMERS)
    with pytest.raises(UnsupportedArchitectureError, match=r"Qwen3-Next"):
        estimate(req_for("Qwen/Qwen3-Next-80B-A3B-Instruct", "h200", gpus=2), TRANSFORMERS)
