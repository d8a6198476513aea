"""Architectures added for issue 11, each read from its official config and checked against
the publisher's parameter count and the engines' own layouts (docs/catalog.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rigfit
from rigfit.arch import LayerKind, Role, from_config
from rigfit.formats.config_json import parse_config

DATA = Path(__file__).parent / "data" / "configs"


def _arch(name: str) -> rigfit.Architecture:
    return from_config(parse_config(json.loads((DATA / name).read_text())).config)


# ---- Llama 4 -------------------------------------------------------------------------------


def test_llama4_layer_pattern() -> None:
    """Scout: every layer MoE; Maverick: odd layers MoE (interleave_moe_layer_step 2). Layers
    (i+1) % 4 == 0 are global and NoPE, the others attend within 8,192-token chunks
    (configuration_llama4.py no_rope_layers default; llama.cpp llama4.cpp "3 chunked - 1 full")."""
    scout = rigfit.get_model("llama-4-scout").arch
    maverick = rigfit.get_model("llama-4-maverick").arch
    for a in (scout, maverick):
        kinds = [x.kind for x in a.layers]
        assert kinds == [
            LayerKind.FULL if (i + 1) % 4 == 0 else LayerKind.CHUNKED for i in range(48)
        ]
        assert {x.window for x in a.layers if x.kind is LayerKind.CHUNKED} == {8192}
    assert all(x.moe for x in scout.layers)
    assert [x.moe for x in maverick.layers] == [i % 2 == 1 for i in range(48)]
    assert {x.dense_intermediate_size for x in maverick.layers} == {16384}


def test_llama4_qk_norm_has_no_weights_and_experts_share_one() -> None:
    a = rigfit.get_model("llama-4-scout").arch
    names = {t.name.split(".", 2)[-1] for t in a.tensors() if t.layer == 0}
    assert "attn_q_norm.weight" not in names  # Llama4TextL2Norm is weightless
    shexp = [t for t in a.tensors() if t.layer == 0 and t.role is Role.SHEXP_UP]
    assert [(t.rows, t.cols) for t in shexp] == [(8192, 5120)]


def test_llama4_vision_tower_formula() -> None:
    """Llama4VisionModel + adapter + projector, summed by hand from the config values."""
    a = rigfit.get_model("llama-4-scout").arch
    d, f, layers, c, p = 1408, 5632, 34, 3, 14
    positions = (336 // 14) ** 2 + 1
    per_layer = 4 * (d * d + d) + 4 * d + (f * d + f) + (d * f + d)
    expected = (
        d * c * p * p + d + positions * d + 4 * d + layers * per_layer
        + 4096 * f + 4096 * 4096 + 5120 * 4096
    )  # fmt: skip
    assert sum(t.numel for t in a.tensors() if t.role is Role.VISION) == expected == 871_932_416


@pytest.mark.parametrize(
    ("model", "published"), [("llama-4-scout", 109e9), ("llama-4-maverick", 400e9)]
)
def test_llama4_counts(model: str, published: float) -> None:
    """Model card: 109B and 400B total (vision included), 17B activated without it."""
    a = rigfit.get_model(model).arch
    assert abs(a.params_total - published) <= 0.005 * published + 0.5e9
    vision = sum(t.numel for t in a.tensors() if t.role is Role.VISION)
    assert abs(a.params_active - vision - 17e9) <= 0.005 * 17e9 + 0.5e9


# ---- MiniMax-M2 ----------------------------------------------------------------------------


def test_minimax_m2_counts_and_norms() -> None:
    """MiniMax-M2 README: 230B total, 10B active. q_norm spans all heads' queries and k_norm
    all KV heads' keys (modeling_minimax_m2.py l.292-293)."""
    a = _arch("minimax-m2.json")
    assert abs(a.params_total - 230e9) <= 0.005 * 230e9 + 0.5e9
    # "10B active" leaves out the embedding and the head (2 × 200,064 × 3,072)
    assert abs(a.params_active - a.params_embedding - 10e9) <= 0.005 * 10e9 + 0.5e9
    norms = {t.name.rsplit(".", 2)[-2]: t.cols for t in a.tensors() if t.layer == 0}
    assert norms["attn_q_norm"] == 48 * 128
    assert norms["attn_k_norm"] == 8 * 128
    assert a.moe is not None
    assert a.moe.shared_intermediate_size == 0
    assert "partial rotary 64/128" in a.position_embedding


# ---- DeepSeek-V3.2 ---------------------------------------------------------------------------


def test_deepseek_v32_indexer() -> None:
    """The indexer adds wq_b [64·128, 1536], wk [128, 7168], k_norm (w, b) [128] and
    weights_proj [64, 7168] per layer (modeling_deepseek_v32.py l.171-174) to V3's 671B main
    model (DeepSeek-V3 README: 671B main + 14B MTP)."""
    a = _arch("deepseek-v3.2.json")
    per_layer = 64 * 128 * 1536 + 128 * 7168 + 2 * 128 + 64 * 7168
    indexer = sum(t.numel for t in a.tensors() if "indexer" in t.name)
    assert indexer == 61 * per_layer == 851_524_864
    assert abs(a.params_total - 671e9) <= 0.005 * 671e9 + 0.5e9
    assert a.attention.indexer is not None
    assert a.attention.indexer.head_dim == 128


def test_deepseek_v32_index_cache_per_engine() -> None:
    """Bytes per token per layer: llama.cpp's K-only latent and indexer key (576 + 128 f16);
    vLLM/SGLang's 132-byte fp8 indexer key next to the latent (bf16 1152, fp8_ds_mla 656)."""
    from rigfit.engines.sharding import kv_bytes_per_rank_token_layer
    from rigfit.estimate.memory import Request
    from rigfit.hardware import System
    from rigfit.quant import KVCacheType, WeightFormat

    a = _arch("deepseek-v3.2.json")
    system = System(rigfit.get_gpu("h200"), 8)
    bf16 = Request(a, WeightFormat.FP8_BLOCK, KVCacheType.BF16, 4096, 1, system)
    fp8 = Request(a, WeightFormat.FP8_BLOCK, KVCacheType.FP8, 4096, 1, system)
    assert kv_bytes_per_rank_token_layer(bf16, 8) == 1152 + 132
    assert kv_bytes_per_rank_token_layer(fp8, 8) == 656 + 132
