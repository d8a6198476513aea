"""Parameter counts, KV bytes per token and state sizes against sourced or hand-derived values."""

from __future__ import annotations

import pytest

import rigfit
from rigfit.arch import AttentionKind, LayerKind, from_config
from rigfit.catalog.schema import HFConfig
from rigfit.errors import UnsupportedArchitectureError
from rigfit.quant import KVCacheType
from rigfit.strict import read

# Publisher statements rigfit cannot match from the config's tensor shapes, with the reason.
# Strict xfails: if an exact primary count is found and matches, the test fails until the
# entry is removed here.
KNOWN_GAPS = {
    "moonshotai/Kimi-K2-Instruct": "the K2 report says 1.04T; config.json's shapes give"
    " 1,026,408,232,448 (DeepSeek-V3 layout, 384 experts, no MTP), as the 1T card figure",
    "Qwen/Qwen2.5-Math-7B": "Qwen states only the nominal size '7B'; the shapes (identical"
    " to Qwen2.5-7B, 7,615,616,512) give 7.6B",
    "nvidia/Llama-3_3-Nemotron-Super-49B-v1": "NVIDIA states only the nominal '49B'; the"
    " block_configs give 49,867,145,216 (the hub's '49.9B'): 49 attention blocks of 8 KV heads"
    " and 80 MLPs of per-block width",
    "mistralai/Devstral-2-123B-Instruct-2512": "Mistral states only '123' in the card's size"
    " column; the shapes (88 layers of 12,288, a 131,072-token vocabulary untied) give"
    " 125,025,988,608, of which the embedding and head hold 3.2B",
    **{
        f"mistralai/Ministral-3-8B-{v}-2512": "the card states an '8.4B Language Model' and a"
        " '0.4B Vision Encoder'; the shapes give 8,489,553,920 and 428,472,320 (8.92B, which"
        " Hugging Face's safetensors total for the Instruct checkpoint, 8,918,026,716 with 476"
        " FP8 scales, confirms)"
        for v in ("Instruct", "Reasoning")
    },
    "allenai/OLMo-2-1124-13B": "Ai2 states only the nominal '13B' (card and announcement);"
    " the config's shapes give 13,716,198,400 (40 layers of 5120, full multi-head attention,"
    " a 100,352-entry vocabulary untied)",
    **{
        f"Qwen/Qwen3-VL-32B-{v}": "Qwen states only the '32B' of the name; the language model"
        " alone has Qwen3-32B's shapes, 32,762,123,264, which Qwen's Qwen3-32B card states as"
        " 32.8B"
        for v in ("Instruct", "Thinking", "Thinking-FP8")
    },
}


def test_params_match_official_counts(
    catalog_model: rigfit.Model, request: pytest.FixtureRequest
) -> None:
    """Within 0.5% of the publisher's count, plus half the unit it was rounded to; the language
    model alone where the publisher counts it without the vision encoder."""
    if catalog_model.id in KNOWN_GAPS:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_GAPS[catalog_model.id], strict=True))
    official = catalog_model.record.params
    tolerance = 0.005 * official.total + (official.rounding or 0) / 2
    arch = catalog_model.arch
    vision = arch.vision_params
    got = arch.params_total - (vision if official.excludes_vision else 0)
    assert abs(got - official.total) <= tolerance, (
        f"{catalog_model.id}: computed {got:,}, official {official.total:,}"
        f" (source {official.source})"
    )


@pytest.mark.parametrize(
    ("model", "params"),
    [
        # meta-llama/Llama-3.3-70B-Instruct and Llama-3.1-8B model pages (safetensors totals)
        ("meta-llama/Llama-3.3-70B-Instruct", 70_553_706_496),
        ("meta-llama/Llama-3.1-8B", 8_030_261_248),
        # Qwen2.5-7B-Instruct: model.safetensors.index.json total_size 15,231,233,024 / 2
        ("Qwen/Qwen2.5-7B-Instruct", 7_615_616_512),
    ],
)
def test_exact_dense_counts(model: str, params: int) -> None:
    assert rigfit.get_model(model).arch.params_total == params


def test_deepseek_r1_total_and_active() -> None:
    """DeepSeek-R1 card: 671B total, 37B activated (main model, MTP module excluded)."""
    arch = rigfit.get_model("deepseek-ai/DeepSeek-R1").arch
    assert round(arch.params_total / 1e9, 1) == 671.0
    assert round(arch.params_active / 1e9, 1) == 37.6
    assert arch.mtp_layers == 1
    assert arch.moe is not None
    assert (arch.moe.num_experts, arch.moe.num_shared_experts, arch.moe.experts_per_token) == (
        256,
        1,
        8,
    )


@pytest.mark.parametrize(
    ("model", "kv", "bytes_per_token"),
    [
        # 80 layers x 2 (K and V) x 8 KV heads x 128 dims x 2 bytes
        ("meta-llama/Llama-3.3-70B-Instruct", KVCacheType.F16, 80 * 2 * 8 * 128 * 2),
        ("meta-llama/Llama-3.3-70B-Instruct", KVCacheType.F16, 327_680),
        # MLA: 61 layers x (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes
        ("deepseek-ai/DeepSeek-R1", KVCacheType.F16, 70_272),
        # q8_0 stores 32 elements in 34 bytes: 61 x 576/32 x 34
        ("deepseek-ai/DeepSeek-R1", KVCacheType.Q8_0, 61 * 18 * 34),
        # Qwen2.5-7B: 28 layers x 2 x 4 KV heads x 128 x 2 bytes
        ("Qwen/Qwen2.5-7B-Instruct", KVCacheType.F16, 57_344),
        # Qwen3-Next: only 12 of 48 layers are full attention: 12 x 2 x 2 KV heads x 256 x 2
        ("Qwen/Qwen3-Next-80B-A3B-Instruct", KVCacheType.F16, 12 * 2 * 2 * 256 * 2),
        # gpt-oss-120b: 36 layers x 2 x 8 KV heads x 64 x 2 (sliding layers included)
        ("openai/gpt-oss-120b", KVCacheType.F16, 36 * 2 * 8 * 64 * 2),
    ],
)
def test_kv_bytes_per_token(model: str, kv: KVCacheType, bytes_per_token: int) -> None:
    assert rigfit.get_model(model).arch.kv_bytes_per_token(kv) == bytes_per_token


def test_sliding_window_caps_kv() -> None:
    """Gemma 2 9B: 21 sliding layers (window 4096) and 21 global, 8192 B/token/layer."""
    arch = rigfit.get_model("google/gemma-2-9b-it").arch
    assert arch.count_layers(LayerKind.SLIDING) == 21
    per_layer = 2 * 8 * 256 * 2
    assert arch.kv_cache_bytes(8192, KVCacheType.F16) == per_layer * (21 * 8192 + 21 * 4096)
    assert arch.kv_cache_bytes(2048, KVCacheType.F16) == per_layer * 42 * 2048


def test_gpt_oss_alternates_window_128() -> None:
    arch = rigfit.get_model("openai/gpt-oss-20b").arch
    kinds = [layer.kind for layer in arch.layers]
    assert kinds[:2] == [LayerKind.SLIDING, LayerKind.FULL]
    assert {layer.window for layer in arch.layers if layer.window} == {128}


def test_hybrid_state_is_fixed() -> None:
    """Qwen3-Next gated DeltaNet: conv (4-1) x (2x16x128 + 32x128) + 32 x 128 x 128 per layer."""
    arch = rigfit.get_model("Qwen/Qwen3-Next-80B-A3B-Instruct").arch
    assert arch.linear_attention is not None
    per_layer = 3 * (2 * 16 * 128 + 32 * 128) + 32 * 128 * 128
    assert arch.linear_attention.state_elems() == per_layer
    assert arch.count_layers(LayerKind.LINEAR) == 36
    assert arch.state_bytes(2) == 36 * per_layer * 2


def test_mla_attention_kind() -> None:
    arch = rigfit.get_model("deepseek-ai/DeepSeek-V2-Lite-Chat").arch
    assert arch.attention.kind is AttentionKind.MLA
    assert arch.attention.q_lora_rank is None  # V2-Lite projects q directly


def _config(**kw: object) -> HFConfig:
    base: dict[str, object] = {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 100,
        "max_position_embeddings": 256,
    }
    base.update(kw)
    return read(HFConfig, base)


def test_unknown_architecture_fails_closed() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="model_type 'mamba' is not supported"):
        from_config(_config(model_type="mamba"))


def test_unknown_layer_type_fails_closed() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="unknown layer type 'chunked'"):
        from_config(_config(layer_types=["full_attention", "chunked"]))


def test_tiny_llama_by_hand() -> None:
    """2 layers of a 64-wide GQA model, counted by hand."""
    arch = from_config(_config())
    attn = 64 * 64 + 2 * (32 * 64) + 64 * 64  # q, k, v (2 heads x 16), o
    mlp = 3 * 64 * 128
    per_layer = attn + mlp + 2 * 64
    assert arch.params_total == 2 * 100 * 64 + 2 * per_layer + 64
    assert arch.kv_bytes_per_token(KVCacheType.F16) == 2 * 2 * 2 * 16 * 2


def test_siglip_vision_tower_matches_gemma3_report() -> None:
    """Gemma 3 report, Table 1: the SigLIP vision encoder has 417M parameters.

    Its vision_config (google/gemma-3-4b-it config.json): hidden 1152, MLP 4304, 27 layers,
    16 heads, patch 14, image 896.
    """
    cfg = _config(
        model_type="gemma3",
        sliding_window=512,
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_hidden_layers": 27,
            "num_attention_heads": 16,
            "patch_size": 14,
            "image_size": 896,
            "vision_use_head": False,
        },
    )
    arch = from_config(cfg)
    vision = arch.vision_params
    projector = 1152 * 64 + 1152  # mm_input_projection to the 64-wide test text model + norm
    assert abs((vision - projector) - 417_000_000) <= 0.005 * 417_000_000
