"""Architectures added for issue 11, each read from its official config and checked against
the publisher's parameter count and the engines' own layouts (docs/catalog.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import rigfit
from rigfit.arch import LayerKind, Role, from_config
from rigfit.formats.config_json import parse_config
from rigfit.quant import KVCacheType

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
    assert a.vision_params == expected == 871_932_416


@pytest.mark.parametrize(
    ("model", "published"), [("llama-4-scout", 109e9), ("llama-4-maverick", 400e9)]
)
def test_llama4_counts(model: str, published: float) -> None:
    """Model card: 109B and 400B total (vision included), 17B activated without it."""
    a = rigfit.get_model(model).arch
    assert abs(a.params_total - published) <= 0.005 * published + 0.5e9
    vision = a.vision_params
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


# ---- Mamba2 hybrids ------------------------------------------------------------------------


def _mamba_layer_params(h: int, heads: int, head_dim: int, groups: int, state: int, k: int) -> int:
    d_in = heads * head_dim
    conv_dim = d_in + 2 * groups * state
    in_proj = (2 * d_in + 2 * groups * state + heads) * h
    # conv weight and bias, dt_bias, A_log and D, the gated norm, out_proj, the block's norm
    return in_proj + conv_dim * k + conv_dim + 3 * heads + d_in + d_in * h + h


def test_nemotron_h_8b_layers_and_count() -> None:
    """52 single-mixer blocks from hybrid_override_pattern: 24 Mamba2 (M), 4 attention (*),
    24 relu2 MLPs (-), one norm each; 8B by name (Megatron-Bridge docs, arXiv 2504.03624)."""
    a = _arch("nemotron-h-8b-base-8k.json")
    kinds = [x.kind for x in a.layers]
    assert kinds.count(LayerKind.MAMBA) == 24
    assert kinds.count(LayerKind.FULL) == 4
    assert kinds.count(LayerKind.FFN_ONLY) == 24
    assert (a.kv_layers, a.state_layers) == (4, 24)
    h, v = 4096, 131072
    attn = 4 * (2 * h * 32 * 128 + 2 * h * 8 * 128 + h)
    mlp = 24 * (2 * h * 21504 + h)
    expected = 2 * v * h + h + 24 * _mamba_layer_params(h, 128, 64, 8, 128, 4) + attn + mlp
    assert a.params_total == expected
    assert abs(a.params_total - 8e9) <= 0.005 * 8e9 + 0.5e9
    # per sequence and Mamba layer: (4 - 1) × (8192 + 2 × 8 × 128) conv + 8192 × 128 SSM
    assert a.mamba is not None
    assert a.mamba.state_elems() == 3 * 10240 + 8192 * 128


def test_nemotron_3_nano_moe_hybrid() -> None:
    """23 Mamba2, 23 MoE (128 non-gated relu2 experts, 6 per token, one shared expert of
    3712) and 6 attention blocks; 31.6B total, about 3.6B active with the embeddings
    (NVIDIA's readme on replicate.com/nvidia/nemotron-3-nano-30b-a3b)."""
    a = _arch("nemotron-3-nano-30b-a3b.json")
    assert sum(x.moe for x in a.layers) == 23
    assert a.count_layers(LayerKind.MAMBA) == 23
    assert a.kv_layers == 6
    assert abs(a.params_total - 31.6e9) <= 0.005 * 31.6e9 + 0.05e9
    assert abs(a.params_active - 3.6e9) <= 0.005 * 3.6e9 + 0.05e9
    assert not a.gated_ffn
    assert a.moe is not None
    assert a.moe.router_bias


def _latent_moe_block(h: int, e: int, inter: int, latent: int, shared: int) -> int:
    """One Nemotron 3 'E' block summed by hand from transformers' NemotronHMoE: the router
    [E, h] and its e_score_correction_bias [E] on the hidden size, fc1_latent_proj [L, h] and
    fc2_latent_proj [h, L], E non-gated experts of up [I, L] and down [L, I], the shared expert
    up [S, h] and down [h, S], and the block's norm [h]."""
    return e * h + e + 2 * latent * h + e * 2 * inter * latent + 2 * shared * h + h


def test_nemotron_3_super_latent_moe() -> None:
    """Super: 40 Mamba2, 40 latent-MoE and 8 attention blocks. The routed experts read and
    write a 1,024-wide latent; the router and the shared expert stay on the 4,096 hidden size
    (NVIDIA's Super technical report §2.2). NVIDIA states 120.6B total and 12.7B active
    (NVIDIA-NeMo/Nemotron docs/nemotron/super3/README.md), the main model without the MTP
    head."""
    a = _arch("nemotron-3-super-120b-a12b-fp8.json")
    assert a.moe is not None
    assert (a.count_layers(LayerKind.MAMBA), sum(x.moe for x in a.layers), a.kv_layers) == (
        40,
        40,
        8,
    )
    assert a.moe.latent_size == 1024
    block = [t for t in a.tensors() if t.layer == 1]
    shapes = {t.role: (t.rows, t.cols) for t in block}
    assert shapes[Role.ROUTER] == (512, 4096)
    assert shapes[Role.LATENT_DOWN] == (1024, 4096)
    assert shapes[Role.LATENT_UP] == (4096, 1024)
    assert shapes[Role.EXP_UP] == (2688, 1024)
    assert shapes[Role.EXP_DOWN] == (1024, 2688)
    assert shapes[Role.SHEXP_UP] == (5376, 4096)
    assert sum(t.numel for t in block) == _latent_moe_block(4096, 512, 2688, 1024, 5376)
    assert a.params_total == 120_668_707_840
    assert a.params_active == 12_770_237_440
    assert abs(a.params_total - 120.6e9) <= 0.005 * 120.6e9 + 0.05e9
    assert abs(a.params_active - 12.7e9) <= 0.005 * 12.7e9 + 0.05e9
    assert a.mtp_layers == 1


def test_nemotron_3_ultra_counts_layers_from_layers_block_type() -> None:
    """Ultra's config.json lists its 108 blocks in layers_block_type and has no
    num_hidden_layers; the card states 550B total and 55B active."""
    raw = json.loads((DATA / "nemotron-3-ultra-550b-a55b-bf16.json").read_text())
    assert "num_hidden_layers" not in raw
    parsed = parse_config(raw)
    assert parsed.config.num_hidden_layers == 108
    assert any("layers_block_type" in n for n in parsed.notes)
    a = from_config(parsed.config)
    assert (a.count_layers(LayerKind.MAMBA), sum(x.moe for x in a.layers), a.kv_layers) == (
        48,
        48,
        12,
    )
    assert a.moe is not None
    assert a.moe.latent_size == 2048
    moe_block = sum(t.numel for t in a.tensors() if t.layer == 1)
    assert moe_block == _latent_moe_block(8192, 512, 5120, 2048, 10240)
    assert a.params_total == 549_308_993_536
    assert abs(a.params_total - 550e9) <= 0.005 * 550e9 + 0.5e9


def test_llama_nemotron_blocks() -> None:
    """Llama-3.3-Nemotron-Super-49B: 80 DeciLM blocks, 31 without attention; each MLP is
    round_up(2/3 × ffn_mult × 8192, 256) wide (modeling_decilm.py); a block has a norm before
    each part it keeps. Summed by hand from the config's block_configs."""
    raw = json.loads((DATA / "llama-3.3-nemotron-super-49b-v1.json").read_text())
    a = _arch("llama-3.3-nemotron-super-49b-v1.json")
    h, v = 8192, 128256
    expected = 2 * v * h + h  # embedding, untied head, final norm
    for b in raw["block_configs"]:
        if not b["attention"]["no_op"]:
            kv = 64 // b["attention"]["n_heads_in_group"]
            expected += h + 2 * h * h + 2 * h * kv * 128
        mult = b["ffn"]["ffn_mult"]
        width = int(2 * mult * h / 3)
        width += -width % 256
        expected += h + 3 * h * width
    assert a.params_total == expected == 49_867_145_216
    assert (a.kv_layers, a.count_layers(LayerKind.FFN_ONLY)) == (49, 31)
    assert {x.dense_intermediate_size for x in a.layers} >= {28672, 14336, 7168}
    norms = [t for t in a.tensors() if t.role is Role.NORM and t.layer is not None]
    assert len(norms) == 49 + 80
    # only the attention blocks keep a KV cache: 49 × 2 × 8 × 128 × 2 bytes per token
    from rigfit.quant import KVCacheType

    assert a.kv_bytes_per_token(KVCacheType.F16) == 49 * 2 * 8 * 128 * 2


def test_llama_nemotron_refuses_what_it_does_not_model() -> None:
    raw = json.loads((DATA / "llama-3.3-nemotron-super-49b-v1.json").read_text())
    raw["block_configs"][3]["attention"]["replace_with_linear"] = True
    with pytest.raises(rigfit.UnsupportedArchitectureError, match="replace_with_linear"):
        from_config(parse_config(raw).config)
    raw["block_configs"][3]["attention"]["replace_with_linear"] = False
    raw["block_configs"][3]["attention"]["window_length"] = 4096
    with pytest.raises(rigfit.UnsupportedArchitectureError, match="windowed"):
        from_config(parse_config(raw).config)


def _nas_raw() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((DATA / "llama-3.3-nemotron-super-49b-v1.json").read_text())
    return raw


def test_llama_nemotron_cache_per_engine() -> None:
    """Only the 49 attention blocks get a cache in llama.cpp, vLLM and mlx-lm; SGLang 0.5.3's
    pool has a buffer for every layer of the stage (num_effective_layers), so its cell counts
    all 80; transformers (DeciLM's own VariableCache) and training are refused; the serve
    commands pass --trust-remote-code (transformers has no nemotron-nas config class)."""
    from rigfit.api import make_request
    from rigfit.engines.llamacpp import LLAMACPP
    from rigfit.engines.mlx import MLX
    from rigfit.engines.sglang import SGLANG
    from rigfit.engines.transformers import TRANSFORMERS
    from rigfit.engines.vllm import VLLM
    from rigfit.estimate.memory import estimate

    model, ctx = "nvidia/Llama-3_3-Nemotron-Super-49B-v1", 32768
    row = 2 * 8 * 128 * 2  # K and V, 8 KV heads of 128, 2 bytes
    _, q4 = make_request(model, "h100-sxm", gpus=2, quant="Q4_K_M", ctx=ctx)
    est = estimate(q4, LLAMACPP)
    assert est.term_bytes("kv_cache") == 49 * ctx * row
    _, mac = make_request(model, "m3-ultra-512gb", quant="BF16", ctx=ctx)
    assert estimate(mac, MLX).term_bytes("kv_cache") == 49 * ctx * row
    _, bf16 = make_request(model, "h100-sxm", gpus=2, quant="BF16", ctx=ctx)
    assert VLLM.kv_bytes_per_token_layer(bf16) * 49 == 49 * row // 2  # 4 KV heads a rank
    (_, _, cell, _) = SGLANG._stage_figures(bf16)[0]
    assert cell == 80 * row // 2
    assert "--trust-remote-code" in VLLM.command(bf16, model)
    assert "--trust-remote-code" in SGLANG.command(bf16, model)
    with pytest.raises(rigfit.UnsupportedArchitectureError, match="VariableCache"):
        estimate(bf16, TRANSFORMERS)
    from rigfit.train.answer import TrainQuery, train_answer

    with pytest.raises(rigfit.UnsupportedArchitectureError, match="blocks without attention"):
        train_answer(TrainQuery("nemotron-super-49b", "h100-sxm", gpus=2))


def test_llama_nemotron_head_groups() -> None:
    """A group that does not divide the heads is refused; blocks of different groups get
    their own geometry, which vLLM refuses and the KV note counts."""
    from rigfit.api import make_request
    from rigfit.arch import kv_heads_note
    from rigfit.engines.vllm import VLLM

    raw = _nas_raw()
    raw["block_configs"][0]["attention"]["n_heads_in_group"] = 7
    with pytest.raises(rigfit.UnsupportedArchitectureError, match="does not divide"):
        from_config(parse_config(raw).config)
    raw["block_configs"][0]["attention"]["n_heads_in_group"] = 4
    a = from_config(parse_config(raw).config)
    assert a.mixed_attention
    note = kv_heads_note(a)
    assert "64 query / 8 KV heads of 128; 1 layer 16 KV heads of 128" in note
    from dataclasses import replace

    _, req = make_request("nemotron-super-49b", "h100-sxm", gpus=2, ctx=8192)
    with pytest.raises(rigfit.UnsupportedArchitectureError, match="KV heads"):
        VLLM.check(replace(req, arch=a))


def test_falcon_h1_every_layer_is_attention_and_mamba() -> None:
    """Falcon-H1 runs attention and a Mamba2 mixer side by side in every layer: every layer
    keeps both a KV cache and a state (modeling_falcon_h1.py l.1021-1055)."""
    a = _arch("falcon-h1-7b.partial.json")
    assert {x.kind for x in a.layers} == {LayerKind.HYBRID}
    assert (a.kv_layers, a.state_layers) == (44, 44)
    assert a.mamba is not None
    assert a.mamba.d_inner == 3072  # mamba_d_ssm = 24 heads × 128
    assert not a.mamba.gated_norm  # mamba_rms_norm defaults to False


def test_granite_hybrid_reads_layer_types_and_shared_mlp() -> None:
    """A made-up granitemoehybrid config (structure only): config.json's "mamba"/"attention"
    layer types, gated experts of intermediate_size plus the shared MLP on every layer."""
    cfg = {
        "model_type": "granitemoehybrid",
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 1000,
        "max_position_embeddings": 4096,
        "intermediate_size": 128,
        "shared_intermediate_size": 512,
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "layer_types": ["mamba", "mamba", "attention", "mamba"],
        "mamba_n_heads": 8,
        "mamba_d_head": 64,
        "mamba_d_state": 32,
        "mamba_n_groups": 1,
        "mamba_d_conv": 4,
        "tie_word_embeddings": True,
    }
    a = from_config(parse_config(cfg).config)
    assert [x.kind for x in a.layers] == [LayerKind.MAMBA] * 2 + [LayerKind.FULL, LayerKind.MAMBA]
    assert all(x.moe for x in a.layers)
    shexp = [t for t in a.tensors() if t.layer == 2 and t.role is Role.SHEXP_GATE]
    assert [(t.rows, t.cols) for t in shexp] == [(512, 256)]
    assert a.mamba is not None
    assert a.mamba.d_inner == 512


def test_hybrid_state_in_llamacpp() -> None:
    """llama.cpp keeps f32 conv and SSM state per sequence for each Mamba layer, and a KV cache
    for the attention layers only (llama_memory_hybrid's layer filters)."""
    from rigfit.engines.llamacpp import LLAMACPP
    from rigfit.estimate.memory import Request, estimate
    from rigfit.hardware import System
    from rigfit.quant import KVCacheType, WeightFormat

    a = _arch("nemotron-h-8b-base-8k.json")
    req = Request(a, WeightFormat.Q8_0, KVCacheType.F16, 8192, 2, System(rigfit.get_gpu("l40s"), 1))
    est = estimate(req, LLAMACPP)
    state = next(t for t in est.terms if t.label == "recurrent state (f32)")
    assert state.total_bytes == 2 * 24 * (3 * 10240 + 8192 * 128) * 4
    kv = next(t for t in est.terms if t.label.startswith("KV cache"))
    assert kv.total_bytes == 2 * 4 * 8192 * 2 * 8 * 128 * 2


# ---- Qwen3-VL ----------------------------------------------------------------------------------


def test_qwen3_vl_text_is_qwen3_and_the_tower_is_counted() -> None:
    """Qwen3-VL-8B's language model has Qwen3-8B's shapes; the vision tower (Qwen3VLVisionModel:
    a Conv3d patch embedding, learned positions, 27 blocks, the merger and three DeepStack
    mergers) is summed here by hand from the config."""
    a = _arch("qwen3-vl-8b-instruct.json")
    vision = a.vision_params
    assert a.params_total - vision == rigfit.get_model("Qwen/Qwen3-8B").arch.params_total
    d, f, out, merge = 1152, 4304, 4096, 2
    wide = d * merge * merge
    merger = wide * wide + wide + out * wide + out
    expected = (
        d * 3 * 2 * 16 * 16 + d  # Conv3d with bias
        + 2304 * d  # positions
        + 27 * (4 * d + 3 * d * d + 3 * d + d * d + d + f * d + f + d * f + d)
        + 2 * d + merger  # the merger, its LayerNorm before the shuffle
        + 3 * (2 * wide + merger)  # DeepStack mergers, LayerNorm after the shuffle
    )  # fmt: skip
    assert vision == expected


def test_qwen3_vl_moe_experts() -> None:
    a = _arch("qwen3-vl-30b-a3b-instruct.json")
    assert a.moe is not None
    assert a.attention.qk_norm
    assert a.params_active < a.params_total / 5


# ---- Qwen3.5 / Qwen3.6 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "total", "active"),
    [
        ("qwen3.5-27b.json", 27e9, 27e9),
        ("qwen3.6-35b-a3b.json", 35e9, 3e9),
        ("qwen3.5-397b-a17b.json", 397e9, 17e9),
    ],
)
def test_qwen3_5_counts(name: str, total: float, active: float) -> None:
    """The cards' "Number of Parameters" count the language model (MTP and vision apart):
    Qwen3-Next's gated DeltaNet and gated attention, every MoE layer with a gated shared
    expert; the vision tower is Qwen3-VL's without DeepStack mergers."""
    a = _arch(name)
    vision = a.vision_params
    assert vision > 0
    assert abs(a.params_total - vision - total) <= 0.005 * total + 0.5e9
    assert abs(a.params_active - vision - active) <= 0.005 * active + 0.5e9
    assert a.mtp_layers == 1
    assert a.attention.q_gate
    assert a.count_layers(LayerKind.LINEAR) == 3 * a.count_layers(LayerKind.FULL)
    assert a.vision is not None
    assert a.vision.deepstack_visual_indexes == ()


# ---- GLM-5 (glm_moe_dsa) -------------------------------------------------------------------


def test_glm5_is_deepseek_sparse_attention() -> None:
    """GLM-5's glm_moe_dsa: MLA (q_lora 2048, kv_lora 512, rope 64, nope 192, v 256) with
    DeepSeek-V3.2's indexer (32 heads of 128) on all 78 layers, 3 dense then 75 MoE layers of
    256 experts; the indexer per layer is wq_b [32·128, 2048], wk [128, 6144], k_norm (w, b)
    and weights_proj [32, 6144] (modeling_glm_moe_dsa.py GlmMoeDsaIndexer). Z.ai: 744B."""
    a = _arch("glm-5.json")
    assert a.attention.indexer is not None
    assert (a.attention.indexer.n_heads, a.attention.indexer.head_dim) == (32, 128)
    per_layer = 32 * 128 * 2048 + 128 * 6144 + 2 * 128 + 32 * 6144
    assert sum(t.numel for t in a.tensors() if "indexer" in t.name) == 78 * per_layer
    assert [x.moe for x in a.layers] == [i >= 3 for i in range(78)]
    assert a.mtp_layers == 1
    assert abs(a.params_total - 744e9) <= 0.005 * 744e9 + 0.5e9
    # the latent row: kv_lora_rank + rope, as DeepSeek's
    assert a.attention.kv_lora_rank == 512
    assert a.attention.qk_rope_head_dim == 64


def test_glm5_engines() -> None:
    """vLLM prices the fp8 indexer key next to the latent as for V3.2; llama.cpp and Ollama
    refuse, naming why; GLM-5.2's shared indexer layers are refused at the config."""
    from rigfit.engines import get_engine
    from rigfit.engines.sharding import kv_bytes_per_rank_token_layer
    from rigfit.errors import UnsupportedArchitectureError
    from rigfit.estimate.memory import Request
    from rigfit.hardware import System
    from rigfit.quant import KVCacheType, WeightFormat

    a = _arch("glm-5.json")
    system = System(rigfit.get_gpu("h200"), 8)
    req = Request(a, WeightFormat.FP8_BLOCK, KVCacheType.BF16, 4096, 1, system)
    assert kv_bytes_per_rank_token_layer(req, 8) == 1152 + 132
    with pytest.raises(UnsupportedArchitectureError, match="glm-dsa first ran"):
        get_engine("llama.cpp").check(req)
    with pytest.raises(UnsupportedArchitectureError, match=r"Ollama wraps llama\.cpp"):
        get_engine("ollama").check(req)
    with pytest.raises(UnsupportedArchitectureError, match="indexer_types 'shared'"):
        _arch("glm-5.2.json")
    raw = json.loads((DATA / "glm-5.2.json").read_text())
    del raw["indexer_types"]
    with pytest.raises(UnsupportedArchitectureError, match="index_topk_freq above 1"):
        from_config(parse_config(raw).config)


# ---- OLMo 3 and EXAONE 4 -------------------------------------------------------------------


def _dense_post_norm(
    h: int, n: int, heads: int, kv: int, hd: int, ff: int, vocab: int, qk: int
) -> int:
    """A dense SwiGLU model with two norms a block, its q/k norms ``qk`` wide in all, untied."""
    attn = h * heads * hd + 2 * h * kv * hd + heads * hd * h + qk
    return n * (attn + 3 * h * ff + 2 * h) + 2 * vocab * h + h


def test_olmo3_counts_and_windows() -> None:
    """Olmo3Attention's q_norm spans all 40 heads (5,120) and k_norm all 8 KV heads (1,024);
    post-attention and post-feedforward norms; layer_types 3 sliding (4,096) to 1 global."""
    a = _arch("olmo-3.1-32b-instruct.json")
    assert a.params_total == _dense_post_norm(5120, 64, 40, 8, 128, 27648, 100278, 5120 + 1024)
    kinds = [x.kind for x in a.layers]
    assert kinds == [LayerKind.FULL if (i + 1) % 4 == 0 else LayerKind.SLIDING for i in range(64)]
    assert {x.window for x in a.layers if x.kind is LayerKind.SLIDING} == {4096}


def test_exaone4_counts_windows_and_llamacpp_cache() -> None:
    """EXAONE 4.0 32B: per-head q/k norms (128 each), "LLLG" read from layer_types, 32.0B
    (LG's report); llama.cpp keeps 4,096 + ubatch cells on the 48 sliding layers."""
    from rigfit.engines import get_engine
    from rigfit.estimate.memory import Request, estimate
    from rigfit.hardware import System
    from rigfit.quant import KVCacheType, WeightFormat

    a = _arch("exaone-4.0-32b.json")
    assert a.params_total == _dense_post_norm(5120, 64, 40, 8, 128, 27392, 102400, 2 * 128)
    assert abs(a.params_total - 32.0e9) <= 0.005 * 32e9 + 0.05e9
    assert [x.kind for x in a.layers].count(LayerKind.SLIDING) == 48
    req = Request(
        a, WeightFormat.Q4_K_M, KVCacheType.F16, 32768, 1, System(rigfit.get_gpu("rtx-5090"), 1)
    )
    est = estimate(req, get_engine("llama.cpp"))
    row = 2 * 8 * 128 * 2
    kv = est.term_bytes("kv_cache")
    assert kv == 16 * 32768 * row + 48 * (4096 + 512) * row


def test_ministral3_is_mistrals_dense_block() -> None:
    """Devstral 2 (Ministral3ForCausalLM): q/k/v/o without bias, SwiGLU, two norms a block,
    an untied head; its query scaling has no weights (mlx-lm ministral3.py)."""
    a = rigfit.get_model("mistralai/Devstral-2-123B-Instruct-2512").arch
    assert a.params_total == _dense_post_norm(12288, 88, 96, 8, 128, 28672, 131072, 0)
    assert {x.kind for x in a.layers} == {LayerKind.FULL}


# ---- Mistral 3 (Pixtral tower) -------------------------------------------------------------


def _mistral3_raw() -> dict[str, Any]:
    # mistralai/Mistral-Small-3.1-24B-Instruct-2503's config.json, verbatim from hlky/dinoml_v2
    # @6b8c0acb (agents/plans/transformers/mistral3/mistral-small-3.1-24b-instruct-config.json)
    raw: dict[str, Any] = json.loads(
        (DATA / "mistral-small-3.1-24b-instruct-2503.json").read_text()
    )
    return raw


def test_mistral3_pixtral_tower_formula() -> None:
    """PixtralVisionModel (modeling_pixtral.py): a bias-free 14 × 14 Conv2d, ln_pre, 24 blocks of
    bias-free q/k/v/o (1024 wide), a bias-free gated MLP (4096) and two RMSNorms; then
    Mistral3MultiModalProjector (modeling_mistral3.py): an RMSNorm, the 2 × 2 patch merger and
    linear_1/linear_2 into the 5120-wide text model, without biases. Summed here by hand."""
    a = _arch("mistral-small-3.1-24b-instruct-2503.json")
    assert a.model_type == "mistral3"
    d, f, text = 1024, 4096, 5120
    tower = 3 * 14 * 14 * d + d + 24 * (4 * d * d + 3 * d * f + 2 * d)
    projector = d + 4 * d * d + d * text + text * text
    assert a.vision_params == tower + projector == 438_958_080


def test_mistral3_text_model_is_mistral_small_3s() -> None:
    """The language model has Devstral-Small-2507's shapes (Mistral Small 3.1 without its
    vision encoder), whose safetensors index states 23,572,403,200 parameters; the card states
    24B in all."""
    a = _arch("mistral-small-3.1-24b-instruct-2503.json")
    text = rigfit.get_model("mistralai/Devstral-Small-2507").arch
    assert a.params_total - a.vision_params == text.params_total == 23_572_403_200
    assert a.kv_bytes_per_token(KVCacheType.F16) == text.kv_bytes_per_token(KVCacheType.F16)
    assert abs(a.params_total - 24e9) <= 0.005 * 24e9
    assert rigfit.get_model("mistral-small-3.2").arch.params_total == a.params_total


@pytest.mark.parametrize(
    ("model", "weights", "vision"),
    [
        # Hugging Face's safetensors totals (the API as logged in public notes), less the FP8
        # checkpoints' 14 scalar scales a layer (7 linears × weight and input scale) where the
        # total counts them; the 3B's quoted total lists BF16 and F8_E4M3 only, no scales
        ("mistralai/Ministral-3-3B-Instruct-2512", 3_849_090_048, 420_083_712),
        ("mistralai/Ministral-3-8B-Instruct-2512", 8_918_026_716 - 34 * 14, 428_472_320),
        ("mistralai/Ministral-3-14B-Instruct-2512", 13_945_032_240 - 40 * 14, 438_958_080),
        ("mistralai/Devstral-Small-2-24B-Instruct-2512", 24_011_361_840 - 40 * 14, 438_958_080),
    ],
)
def test_ministral3_in_the_wrapper_keeps_its_family_and_tower(
    model: str, weights: int, vision: int
) -> None:
    """Ministral 3 and Devstral Small 2 are Mistral3ForConditionalGeneration around a
    ministral3 text model: priced as that family (transformers from 5.0 only), the Pixtral
    tower and a projector sized by their own text width counted. The 3B ties its head."""
    a = rigfit.get_model(model).arch
    assert a.model_type == "ministral3"
    assert a.params_total == weights
    tower = 3 * 14 * 14 * 1024 + 1024 + 24 * (4 * 1024**2 + 3 * 1024 * 4096 + 2 * 1024)
    text = a.hidden_size
    assert a.vision_params == vision == tower + 1024 + 4 * 1024**2 + 1024 * text + text * text


def test_ministral3_release_floors() -> None:
    """llama.cpp loads ministral3 from b7216 (PR #17644), vLLM from 0.12.0 (#29757), SGLang
    (in rigfit's reading of versions) from 0.5.10: an older --engine-version is refused, and the
    default, the release rigfit replays, says so."""
    from rigfit.answer import Query, answer
    from rigfit.errors import InvalidSpecError
    from rigfit.estimate.settings import EngineSettings

    def fit(engine: str, version: str | None, quant: str = "BF16") -> tuple[str, ...]:
        q = Query("ministral-3-8b", gpu="h100-sxm", engine=engine, quant=quant, ctx=8192,
                  settings=EngineSettings(version=version), speed=False)  # fmt: skip
        return answer(q).notes

    for engine, old, new, quant, first, note in (
        ("vllm", "0.11.0", "0.12.0", "BF16", r"0\.12\.0", "loads in vLLM from 0.12.0"),
        ("sglang", "0.5.3", "0.5.10", "BF16", r"0\.5\.10", "loads in SGLang from 0.5.10"),
        ("llama.cpp", "b7000", "b7216", "Q4_K_M", "b7216", "loads from llama.cpp b7216"),
    ):
        with pytest.raises(InvalidSpecError, match=first):
            fit(engine, old, quant)
        assert not any(note in n for n in fit(engine, new, quant))
    # the replayed defaults predate ministral3 under vLLM and SGLang (not llama.cpp's b7832)
    assert any("loads in vLLM from 0.12.0" in n for n in fit("vllm", None))
    assert any("loads in SGLang from 0.5.10" in n for n in fit("sglang", None))
    assert not any("loads from llama.cpp" in n for n in fit("llama.cpp", None, "Q4_K_M"))


def test_the_mistral3_wrapper_reads_ministral3_as_its_family_with_the_tower() -> None:
    """mistralai/Ministral-3-3B-Instruct-2512's config.json, verbatim (SHA-256 a9c3658d..., the
    one dinoml/model-configs-rs corpus/report-repositories.json records at revision b35d4dfe):
    a mistral3 wrapper around a ministral3 text model is read as the ministral3 family with its
    Pixtral tower, the same model as the flattened catalog record. Hugging Face's dtype
    breakdown of the FP8 checkpoint (as quoted in public notes) is BF16 822,899,712 and
    F8_E4M3 3,026,190,336: the embedding, tower, projector and norms, and the text linears."""
    from rigfit.estimate.weights import weight_breakdown
    from rigfit.quant import WeightFormat

    parsed = parse_config(json.loads((DATA / "ministral-3-3b-instruct-2512.json").read_text()))
    assert parsed.config.model_type == "ministral3"
    assert parsed.config.vision_config is not None
    assert not parsed.notes
    a = from_config(parsed.config)
    catalog = rigfit.get_model("mistralai/Ministral-3-3B-Instruct-2512").arch
    assert (a.params_total, a.vision_params) == (catalog.params_total, catalog.vision_params)
    assert a.kv_bytes_per_token(KVCacheType.F16) == catalog.kv_bytes_per_token(KVCacheType.F16)
    by_type = dict(weight_breakdown(a, WeightFormat.FP8).by_type)
    assert by_type["BF16"] == 2 * 822_899_712
    # rigfit's FP8 adds one f32 weight scale to each of the 26 layers' 7 linears
    assert by_type["FP8_TENSOR"] - 26 * 7 * 4 == 3_026_190_336


def test_ministral3_is_refused_by_transformers_4() -> None:
    from rigfit.engines import get_engine
    from rigfit.estimate.memory import Request
    from rigfit.hardware import System
    from rigfit.quant import WeightFormat

    a = rigfit.get_model("ministral-3-8b").arch
    system = System(rigfit.get_gpu("h100-sxm"), 1)
    req = Request(a, WeightFormat.BF16, KVCacheType.BF16, 4096, 1, system)
    get_engine("vllm").check(req)
    with pytest.raises(rigfit.UnsupportedArchitectureError, match=r"transformers 5\.0\.0"):
        get_engine("transformers").check(req)
    from rigfit.train.memory import _check_arch

    with pytest.raises(rigfit.UnsupportedArchitectureError, match=r"transformers 5\.0\.0"):
        _check_arch(a)


def test_mistral3_projector_bias_and_feature_layers() -> None:
    raw = _mistral3_raw()
    plain = from_config(parse_config(raw).config).vision_params
    both = from_config(
        parse_config(
            {**raw, "multimodal_projector_bias": True, "vision_feature_layer": [-1, -2]}
        ).config
    ).vision_params
    # linear_1 takes two layers' features (1024 more rows of 5120) and both linears a bias
    assert both - plain == 1024 * 5120 + 2 * 5120


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Mistral Small 4 keeps its own text model_type, which rigfit does not price
        (lambda r: r["text_config"].update(model_type="mistral4"), "'mistral4' is not supported"),
        (lambda r: r.pop("spatial_merge_size"), "lacks spatial_merge_size"),
        (lambda r: r.update(vision_feature_layer=[]), "empty list"),
        (lambda r: r["vision_config"].update(model_type="siglip_vision_model"), "'pixtral'"),
    ],
)
def test_mistral3_fails_closed(change: Any, message: str) -> None:
    raw = _mistral3_raw()
    change(raw)
    with pytest.raises(rigfit.UnsupportedArchitectureError, match=message):
        from_config(parse_config(raw).config)


def test_mistral3_without_a_vision_config_says_the_default_tower_is_not_counted() -> None:
    raw = _mistral3_raw()
    raw.pop("vision_config")
    parsed = parse_config(raw)
    assert parsed.config.model_type == "mistral3"
    assert any("default Pixtral tower" in n for n in parsed.notes)
    assert from_config(parsed.config).vision_params == 0


def test_a_tower_under_another_family_is_refused() -> None:
    raw = _mistral3_raw()
    gemma = json.loads(json.dumps(raw))
    gemma["model_type"] = "gemma3"
    gemma["text_config"]["model_type"] = "gemma3_text"
    with pytest.raises(rigfit.UnsupportedArchitectureError, match="siglip_vision_model"):
        from_config(parse_config(gemma).config)


# ---- Gemma 4 ---------------------------------------------------------------------------------


def _gemma4_text(
    h: int, n: int, full: int, heads: int, kv: int, hd: int, gkv: int, ghd: int, ff: int
) -> int:
    """Gemma 4's language model from the shapes of modeling_gemma4.py (transformers 5.5.0):
    sliding layers q/k/v/o of head_dim, full layers q/k/o of global_head_dim with K as V (no
    v_proj), per-head q/k norms, four norms and a one-element layer_scalar a layer, GeGLU, a
    tied 262,144-row embedding and the final norm."""
    sliding = n - full
    attn = sliding * (2 * h * heads * hd + 2 * h * kv * hd + 2 * hd)
    attn += full * (2 * h * heads * ghd + h * gkv * ghd + 2 * ghd)
    return attn + n * (4 * h + 1 + 3 * h * ff) + 262144 * h + h


def test_gemma4_31b_counts_to_the_checkpoint() -> None:
    """The 31B: the language model by hand, and with the vision tower exactly half the
    62,546,177,752 BF16 bytes hf-mem reads from google/gemma-4-31B-it's safetensors headers
    (alvarobartt/hf-mem PR #61); NVIDIA's card says 30.7B for the language model."""
    a = rigfit.get_model("google/gemma-4-31B-it").arch
    text = _gemma4_text(5376, 60, 10, 32, 16, 256, 4, 512, 21504)
    assert a.params_total - a.vision_params == text == 30_697_345_340
    assert a.params_total * 2 == 62_546_177_752
    names = {t.name for t in a.tensors()}
    assert "blk.5.attn_v.weight" not in names  # a full layer: K used as V
    assert "blk.4.attn_v.weight" in names


def test_gemma4_26b_a4b_experts_beside_the_dense_mlp() -> None:
    """26B-A4B: every layer runs its 2,112-wide MLP and 8 of 128 experts of 704 (gate and up
    fused), a router with a hidden-size scale and a per-expert scale, three more norms; 25.2B
    total, 3.8B active (the language model, embedding included)."""
    a = _arch("gemma-4-26b-a4b.json")
    assert a.moe is not None
    h, e, im = 2816, 128, 704
    experts = 30 * e * 3 * h * im
    extra = 30 * (e * h + h + e + 3 * h)  # router, its two scales, the expert branch's norms
    text = _gemma4_text(h, 30, 5, 16, 8, 256, 2, 512, 2112) + experts + extra
    assert a.params_total - a.vision_params == text == 25_233_141_790
    active = a.params_active - a.vision_params
    assert active == text - experts + experts * 8 // 128 == 3_822_530_590
    assert a.ffn_width(a.layers[0]) == 8 * 704 + 2112


def test_gemma4_kv_cache_per_layer_geometry() -> None:
    """Sliding layers cache 8 KV heads of 256 over the window, full layers 2 heads of 512 for
    K and again for V (V is K's normed projection, cached apart). llama.cpp at 32k: 5 full
    layers × 32,768 cells and 25 sliding × (1,024 + 512, padded) cells (gemma4-iswa); with
    flash attention off the V rows pad to the widest layer's, 2,048 ("padding V cache to
    n_embd_v_gqa_max", llama-kv-cache.cpp)."""
    from rigfit.engines import get_engine
    from rigfit.estimate.memory import EngineSettings, Request, estimate
    from rigfit.hardware import System
    from rigfit.quant import KVCacheType, WeightFormat

    a = _arch("gemma-4-26b-a4b.json")
    f16 = KVCacheType.F16
    assert a.kv_bytes_per_token(f16) == 25 * 2 * 8 * 256 * 2 + 5 * 2 * 2 * 512 * 2
    assert a.kv_cache_bytes(32768, f16) == (25 * 1024 * 8192 + 5 * 32768 * 4096)
    system = System(rigfit.get_gpu("rtx-5090"), 1)
    req = Request(a, WeightFormat.Q4_K_M, f16, 32768, 1, system)
    kv = estimate(req, get_engine("llama.cpp")).term_bytes("kv_cache")
    assert kv == 5 * 32768 * 4096 + 25 * 1536 * 8192
    no_fa = Request(
        a, WeightFormat.Q4_K_M, f16, 32768, 1, system, engine=EngineSettings(flash_attn=False)
    )
    kv = estimate(no_fa, get_engine("llama.cpp")).term_bytes("kv_cache")
    assert kv == 5 * 32768 * (2048 + 4096) + 25 * 1536 * 8192


def test_gemma4_gguf_matches_googles_q4_0_file() -> None:
    """Google's QAT Q4_0 GGUF of the 26B-A4B-it holds 658 tensors: F32 392, Q4_0 265, Q6_K 1
    (token_embd), no attn_v on the 5 global layers (a header-check script's pinned histogram,
    rigfit/validation/data/gguf_files.jsonl); rigfit's replay gives the same less the generated
    rope_freqs vector, which its inventory leaves out."""
    from collections import Counter

    from rigfit.formats.gguf.quantize import replay
    from rigfit.quant import LlamaFtype

    plan = replay(_arch("gemma-4-26b-a4b.json"), LlamaFtype.Q4_0)
    assert Counter(c.type.name for c in plan) == {"F32": 391, "Q4_0": 265, "Q6_K": 1}
    assert next(c for c in plan if c.type.name == "Q6_K").tensor.name == "token_embd.weight"
    assert not [c for c in plan if c.tensor.name in {f"blk.{i}.attn_v.weight" for i in (5, 29)}]


def test_gemma4_e2b_counts_every_tensor_of_the_checkpoint() -> None:
    """google/gemma-4-E2B-it (config verbatim, SHA-256 as recorded for revision 3e22461f):
    transformers 5.25.0 builds 5,104,297,504 parameters from it on the meta device
    (model.parameters(): text 4,628,569,344, vision 168,544,256, audio 307,183,904); the
    checkpoint also ships the KV-shared layers' K/V projections and k_norm, 20 × (2 × 1 × 256
    × 1536 + 256) + 4 of them 512 wide, 18,880,512 (a safetensors header listing of revision
    9dbdf8a8 has 600 language-model tensors to the model's 540), and 963 saved scalars (35
    layer_scalar, 928 clipped-linear bounds). Google: "5.1B with embeddings"."""
    a = _arch("gemma-4-e2b-it.json")
    assert a.params_total == 5_104_297_504 + 18_880_512 + 963
    ple = next(t for t in a.tensors() if t.role is Role.PER_LAYER_EMBD)
    assert (ple.rows, ple.cols) == (262144, 35 * 256)
    d = 1024  # the audio conformer: 12 blocks of 24·D² + 9·D + K·D + D/heads + 40 bounds
    audio = (9 * 128 + 128 + 9 * 128 * 32 + 32 + d * 32 * 32) + 12 * (
        24 * d * d + 9 * d + 5 * d + d // 8 + 40
    ) + (1536 * d + 1536) + 1536 * 1536  # fmt: skip
    assert a.tower_params - a.vision_params == audio == 304_824_608 + 480 + 2_359_296


def test_gemma4_e2b_kv_shared_layers_keep_no_cache() -> None:
    """The last 20 layers read the cache of layer 13 (sliding) or 14 (full): 15 layers cache
    K and V, 3 full ones of 1 KV head × 512 and 12 sliding ones of 1 × 256; the shared layers
    run double-wide MLPs (2 × 6144)."""
    a = _arch("gemma-4-e2b-it.json")
    assert a.kv_layers == 15
    assert {x.index: x.kv_source for x in a.layers if x.kv_source is not None} == {
        i: (14 if (i + 1) % 5 == 0 else 13) for i in range(15, 35)
    }
    assert a.kv_bytes_per_token(KVCacheType.F16) == 3 * 2 * 512 * 2 + 12 * 2 * 256 * 2
    assert {x.dense_intermediate_size for x in a.layers if x.kv_source is not None} == {12288}
    assert {x.dense_intermediate_size for x in a.layers if x.kv_source is None} == {6144}
    # a decode step still reads the shared caches again
    assert a.kv_read_bytes(100, KVCacheType.F16) == 100 * (7 * 2 * 512 * 2 + 28 * 2 * 256 * 2)


def test_gemma4_e4b_counts() -> None:
    """google/gemma-4-E4B-it: 7,941,100,832 as transformers builds it, 55,055,616 more K/V of
    the 18 KV-shared layers and 970 scalars in the checkpoint; Google: "8B with embeddings"."""
    a = _arch("gemma-4-e4b-it.json")
    assert a.params_total == 7_941_100_832 + 55_055_616 + 970
    assert a.kv_layers == 24


def test_gemma4_e2b_under_llamacpp() -> None:
    """The per-layer table stays in host memory with token_embd; only the 15 owner layers get
    cache; the vision and audio towers are one mmproj file."""
    from rigfit.engines import get_engine
    from rigfit.estimate.memory import Request, estimate
    from rigfit.hardware import System
    from rigfit.quant import WeightFormat

    a = _arch("gemma-4-e2b-it.json")
    req = Request(a, WeightFormat.Q8_0, KVCacheType.F16, 4096, 1, System(rigfit.get_gpu("l4"), 1))
    est = estimate(req, get_engine("llama.cpp"))
    # FA on: full layers 4096 cells, sliding pad(512 + 512, 256) = 1024 cells
    assert est.term_bytes("kv_cache") == 3 * 4096 * 2 * 512 * 2 + 12 * 1024 * 2 * 256 * 2
    assert est.term_bytes("mmproj") == 2 * a.tower_params
    ple = 262144 * 35 * 256 * 34 // 32  # Q8_0: 34 bytes a block of 32
    embd = 262144 * 1536 * 34 // 32
    assert est.term_bytes("host_weights") == ple + embd
    # the per-layer inputs of a 512-token ubatch, gathered on the host; on two GPUs (pipeline
    # parallelism) beside 4 copies of the mask and the int32 inputs
    rows = 512 * 35 * 256 * 4
    two = estimate(replace(req, system=System(rigfit.get_gpu("l4"), 2)), get_engine("llama.cpp"))
    mask, hidden, ints = 4096 * 512 * 4, 512 * 1536 * 4, 512 * 4
    assert est.term_bytes("host_compute") == hidden + mask + rows
    assert two.term_bytes("host_compute") == 4 * (mask + 3 * ints) + hidden + rows
    # shared layers on GPU 1 read layer 13's (sliding) or 14's (full) cache on GPU 0: four
    # copies of its K and V each, 4096 full cells or 1024 sliding ones
    from rigfit.engines.llamacpp import layout

    two_req = replace(req, system=System(rigfit.get_gpu("l4"), 2))
    lay = layout(two_req)
    away = [x for x in a.layers if x.kv_source is not None and lay.layer_device[x.index] == 1]
    copies = sum(
        4 * (4096 * 2 * 512 * 2 if x.kind is LayerKind.FULL else 1024 * 2 * 256 * 2) for x in away
    )
    compute = next(t for t in two.terms if t.key == "compute")
    one = estimate(replace(two_req, arch=replace(a, layers=tuple(
        replace(x, kv_source=None) for x in a.layers))), get_engine("llama.cpp"))  # fmt: skip
    one_compute = next(t for t in one.terms if t.key == "compute")
    assert away
    assert compute.per_device[1] - one_compute.per_device[1] == copies


@pytest.mark.parametrize(
    ("engine", "why"),
    [
        ("vllm", "different head sizes"),
        ("sglang", "different head sizes"),
        ("transformers", "transformers 5.5.0"),
        ("ollama", "different head sizes"),
    ],
)
def test_gemma4_engines_that_do_not_price_it_say_why(engine: str, why: str) -> None:
    from rigfit.engines import get_engine
    from rigfit.estimate.memory import Request
    from rigfit.hardware import System
    from rigfit.quant import KVCacheType, WeightFormat

    a = rigfit.get_model("google/gemma-4-31B-it").arch
    fmt = WeightFormat.Q4_K_M if engine == "ollama" else WeightFormat.BF16
    req = Request(a, fmt, KVCacheType.F16, 8192, 1, System(rigfit.get_gpu("h100-sxm"), 1))
    with pytest.raises(rigfit.RigfitError, match=why):
        get_engine(engine).check(req)


def test_gemma4_llamacpp_builds_before_support_are_refused() -> None:
    from rigfit.engines import get_engine
    from rigfit.estimate.memory import EngineSettings, Request
    from rigfit.hardware import System
    from rigfit.quant import KVCacheType, WeightFormat

    a = rigfit.get_model("google/gemma-4-31B-it").arch
    system = System(rigfit.get_gpu("h100-sxm"), 1)
    old = Request(
        a,
        WeightFormat.Q4_K_M,
        KVCacheType.F16,
        8192,
        1,
        system,
        engine=EngineSettings(version="b8000"),
    )
    with pytest.raises(rigfit.InvalidSpecError, match="from b8637"):
        get_engine("llama.cpp").check(old)


def test_row_parallel_outputs_follow_the_parts_a_layer_has() -> None:
    """Tensor parallelism all-reduces after each row-parallel output: a Llama layer's o_proj
    and down_proj (2), a Nemotron-H block's one part (1), a DeciLM block without attention
    its MLP only (1), Falcon-H1's attention, Mamba mixer and MLP (3)."""
    llama = rigfit.get_model("meta-llama/Llama-3.1-8B-Instruct").arch
    assert llama.row_parallel_outputs == 2 * 32
    nas = _arch("llama-3.3-nemotron-super-49b-v1.json")
    assert nas.row_parallel_outputs == 49 + 80
    nano = _arch("nemotron-3-nano-30b-a3b.json")
    assert nano.row_parallel_outputs == nano.num_layers
    falcon = _arch("falcon-h1-7b.partial.json")
    assert falcon.row_parallel_outputs == 3 * falcon.num_layers
