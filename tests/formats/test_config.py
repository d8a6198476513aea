"""config.json reading: unknown keys, text_config lifting, defaults, errors, native formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from readers_kit import LLAMA

from rigfit.answer import Query, answer
from rigfit.arch import from_config
from rigfit.formats import (
    ReaderError,
    UnsupportedQuantizationError,
    config_from_dict,
    dtype_format,
    load_config,
    native_format,
    quant_format,
)
from rigfit.formats.config_json import CONFIG_MAX_BYTES, parse_config
from rigfit.quant import WeightFormat

# google/gemma-3-4b-it config.json, abridged to its structure: text_config omits the keys
# Gemma3TextConfig defaults (heads, vocab, head_dim...)
GEMMA3_4B: dict[str, Any] = {
    "architectures": ["Gemma3ForConditionalGeneration"],
    "boi_token_index": 255999,
    "eos_token_id": [1, 106],
    "mm_tokens_per_image": 256,
    "model_type": "gemma3",
    "text_config": {
        "hidden_size": 2560,
        "intermediate_size": 10240,
        "model_type": "gemma3_text",
        "num_hidden_layers": 34,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "sliding_window": 1024,
    },
    "torch_dtype": "bfloat16",
    "vision_config": {
        "hidden_size": 1152,
        "image_size": 896,
        "intermediate_size": 4304,
        "model_type": "siglip_vision_model",
        "num_attention_heads": 16,
        "num_hidden_layers": 27,
        "patch_size": 14,
        "vision_use_head": False,
    },
}

# a LLaVA wrapper around a Mistral text model and a Pixtral tower (the shape of
# mistral-community/pixtral-12b, abridged): "llava" is not a family whose tower rigfit counts
LLAVA: dict[str, Any] = {
    "architectures": ["LlavaForConditionalGeneration"],
    "model_type": "llava",
    "text_config": {
        "head_dim": 128,
        "hidden_size": 5120,
        "intermediate_size": 14336,
        "max_position_embeddings": 1024000,
        "model_type": "mistral",
        "num_attention_heads": 32,
        "num_hidden_layers": 40,
        "num_key_value_heads": 8,
        "vocab_size": 131072,
    },
    "torch_dtype": "bfloat16",
    "vision_config": {
        "hidden_size": 1024,
        "image_size": 1024,
        "intermediate_size": 4096,
        "model_type": "pixtral",
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "patch_size": 16,
    },
}


def test_unknown_keys_dropped() -> None:
    c = config_from_dict({**LLAMA, "foo": {"bar": 1}, "use_cache": True})
    assert c.model_type == "llama"
    assert c.hidden_size == 64


def test_none_values_mean_unset() -> None:
    c = config_from_dict({**LLAMA, "architectures": None, "head_dim": None})
    assert c.architectures == ()
    assert c.head_dim is None


def test_gemma3_multimodal_lifts_text_and_keeps_vision() -> None:
    parsed = parse_config(GEMMA3_4B)
    c = parsed.config
    assert c.model_type == "gemma3"
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads) == (2560, 34, 8)
    assert (c.num_key_value_heads, c.head_dim, c.vocab_size) == (4, 256, 262_208)
    assert c.sliding_window == 1024  # the config's own value wins over the default
    assert c.vision_config is not None
    assert c.vision_config.num_channels == 3
    assert c.torch_dtype == "bfloat16"
    assert any("Gemma3TextConfig defaults" in n for n in parsed.notes)
    # the same architecture as a config that spells every default out
    explicit = {
        **GEMMA3_4B["text_config"],
        "model_type": "gemma3",
        "vocab_size": 262_208,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 131_072,
        "query_pre_attn_scalar": 256,
        "vision_config": GEMMA3_4B["vision_config"],
    }
    explicit["vision_config"] = {
        k: v for k, v in explicit["vision_config"].items() if k != "vision_use_head"
    }
    want = from_config(config_from_dict(explicit))
    got = from_config(c)
    assert got.params_total == want.params_total
    assert got.vision is not None


def test_other_multimodal_prices_the_text_model_with_a_note() -> None:
    parsed = parse_config(LLAVA)
    assert parsed.config.model_type == "mistral"
    assert parsed.config.vision_config is None
    assert parsed.config.torch_dtype == "bfloat16"
    assert any("vision tower is not counted" in n for n in parsed.notes)
    assert from_config(parsed.config).num_layers == 40


def test_the_fit_answer_carries_the_readers_notes(tmp_path: Path) -> None:
    # a tower priced nowhere must be said where the memory is answered, not only by `show`
    (tmp_path / "config.json").write_text(json.dumps(LLAVA))
    report = answer(Query(str(tmp_path), gpu="rtx-4090", quant="Q4_K_M", files=True))
    assert any("vision tower is not counted" in n for n in report.notes)


def test_dtype_key_of_new_transformers() -> None:
    raw = {**LLAMA, "dtype": "float16"}
    raw.pop("torch_dtype")
    assert config_from_dict(raw).torch_dtype == "float16"


def test_quantization_config_kept_verbatim() -> None:
    qc = {"quant_method": "fp8", "weight_block_size": [128, 128], "activation_scheme": "dynamic"}
    assert config_from_dict({**LLAMA, "quantization_config": qc}).quantization_config == qc


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1, 2], "x.json: not a JSON object (got list)"),
        ({"model_type": "llama"}, "x.json: missing required key 'hidden_size' (and 4 more"),
        (
            {**LLAMA, "num_attention_heads": 0},
            "x.json: num_attention_heads: Input should be greater than 0 (got 0)",
        ),
        (
            {**LLAMA, "num_key_value_heads": 3},
            "x.json: num_attention_heads (4) is not a multiple of num_key_value_heads (3)",
        ),
    ],
)
def test_errors_are_one_line(raw: Any, message: str) -> None:
    with pytest.raises(ReaderError) as err:
        parse_config(raw, "x.json")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_load_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ReaderError, match=r"config.json: not valid JSON \(.* line 1 column 2\)"):
        load_config(bad)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (CONFIG_MAX_BYTES + 1))
    with pytest.raises(ReaderError, match=r"too large for a config\.json"):
        load_config(big)
    with pytest.raises(ReaderError, match="cannot read"):
        load_config(tmp_path / "absent.json")


def test_load_config(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA))
    assert load_config(path).config == config_from_dict(LLAMA)


def _int4(layout: str = "pack-quantized", **weights: Any) -> dict[str, Any]:
    """A compressed-tensors config of 4-bit int weights in groups of 128, symmetric (the W4A16
    llm-compressor writes), with ``weights`` changed and another ``layout`` if given."""
    scheme = {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, **weights}
    return {
        "quant_method": "compressed-tensors",
        "format": layout,
        "config_groups": {"group_0": {"weights": scheme}},
    }


QUANT_CASES: list[tuple[dict[str, Any], WeightFormat]] = [
    ({"quant_method": "fp8", "weight_block_size": [128, 128]}, WeightFormat.FP8_BLOCK),
    ({"quant_method": "fp8", "activation_scheme": "static"}, WeightFormat.FP8),
    ({"quant_method": "mxfp4", "modules_to_not_convert": ["lm_head"]}, WeightFormat.MXFP4_EXPERTS),
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True}, WeightFormat.AWQ),
    ({"quant_method": "gptq", "bits": 4, "group_size": 128}, WeightFormat.GPTQ_INT4),
    ({"quant_method": "gptq", "bits": 8, "group_size": 128}, WeightFormat.GPTQ_INT8),
    (
        {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"},
        WeightFormat.BNB_NF4,
    ),
    (
        {
            "quant_method": "bitsandbytes",
            "load_in_4bit": True,
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_use_double_quant": True,
        },
        WeightFormat.BNB_NF4_DQ,
    ),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, WeightFormat.BNB_FP4),
    ({"quant_method": "bitsandbytes", "load_in_8bit": True}, WeightFormat.BNB_INT8),
    (
        {
            "quant_method": "compressed-tensors",
            "config_groups": {
                "group_0": {
                    "weights": {
                        "num_bits": 8,
                        "type": "float",
                        "strategy": "block",
                        "block_structure": [128, 128],
                    }
                }
            },
        },
        WeightFormat.FP8_BLOCK,
    ),
    (
        {
            "quant_method": "compressed-tensors",
            "config_groups": {
                "g": {"weights": {"num_bits": 8, "type": "int", "strategy": "channel"}}
            },
        },
        WeightFormat.INT8,
    ),
    ({"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized"}, WeightFormat.NVFP4),
    ({"quant_method": "modelopt", "quant_algo": "FP8"}, WeightFormat.FP8),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, WeightFormat.NVFP4),
    # GLM-4.5-FP8's weights (compressed-tensors float-quantized, strategy channel)
    (
        {
            "quant_method": "compressed-tensors",
            "format": "float-quantized",
            "config_groups": {
                "group_0": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}
            },
        },
        WeightFormat.FP8_CHANNEL,
    ),
    (
        {"quant_method": "modelopt", "quant_algo": "FP8_PER_CHANNEL_PER_TOKEN"},
        WeightFormat.FP8_CHANNEL,
    ),
    # hf_quant_config.json's layout: the algorithm under "quantization"
    ({"quant_method": "modelopt", "quantization": {"quant_algo": "NVFP4"}}, WeightFormat.NVFP4),
    ({"quant_method": "ModelOpt", "quant_algo": "FP8"}, WeightFormat.FP8),
    # Nemotron-H-47B-Reasoning-128K-FP8: no quant_method, ModelOpt named as the producer
    (
        {"quant_algo": "FP8", "kv_cache_scheme": "FP8", "producer": {"name": "modelopt"}},
        WeightFormat.FP8,
    ),
    # llm-compressor's W4A16 (RedHatAI "quantized.w4a16"), actorder "weight" keeps no g_idx
    (_int4(actorder="weight"), WeightFormat.W4A16),
]


@pytest.mark.parametrize(("qc", "fmt"), QUANT_CASES, ids=[f.label for _, f in QUANT_CASES])
def test_quant_format(qc: dict[str, Any], fmt: WeightFormat) -> None:
    assert quant_format(qc) is fmt


@pytest.mark.parametrize(
    "qc",
    [
        {"quant_method": "hqq"},
        {"quant_method": "gptq", "bits": 3, "group_size": 128},
        {"quant_method": "awq", "bits": 4, "group_size": 64},
        {"quant_method": "fp8", "weight_block_size": [64, 64]},
        # a ModelOpt algorithm rigfit has no layout for, and a producer that is not ModelOpt
        {"quant_method": "modelopt", "quant_algo": "W4A8_AWQ"},
        {"quant_algo": "FP8", "producer": {"name": "someone-else"}},
        # int4 groups of 32 (Kimi-K2-Thinking's experts), asymmetric, or with a stored g_idx
        _int4(group_size=32),
        _int4(symmetric=False),
        _int4(actorder="group"),
        # another compressed layout of the same int4 weights (2:4 sparse Marlin)
        _int4("marlin-24"),
    ],
)
def test_unsupported_quant_lists_supported(qc: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedQuantizationError) as err:
        quant_format(qc)
    msg = str(err.value)
    assert "supported: fp8" in msg
    assert "\n" not in msg


def test_native_format() -> None:
    assert native_format(config_from_dict(LLAMA)) is WeightFormat.BF16
    assert native_format(config_from_dict({**LLAMA, "torch_dtype": "float32"})) is WeightFormat.F32
    qc = {"quant_method": "gptq", "bits": 4, "group_size": 128}
    cfg = config_from_dict({**LLAMA, "quantization_config": qc})
    assert native_format(cfg) is WeightFormat.GPTQ_INT4
    raw = dict(LLAMA)
    raw.pop("torch_dtype")
    assert native_format(config_from_dict(raw)) is None
    assert dtype_format("torch.bfloat16") is WeightFormat.BF16


def test_fp8_of_a_per_channel_config_is_that_checkpoint(tmp_path: Path) -> None:
    """A RedHatAI "-FP8-dynamic" config.json read from a path: --quant FP8 prices its own
    per-channel checkpoint, as it does for a catalog model."""
    qc = {
        "quant_method": "compressed-tensors",
        "format": "float-quantized",
        "config_groups": {
            "group_0": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}
        },
    }
    (tmp_path / "config.json").write_text(json.dumps({**LLAMA, "quantization_config": qc}))
    report = answer(Query(str(tmp_path), gpu="h100-sxm", quant="FP8", files=True))
    assert report.quant == "FP8-CHANNEL"


def test_a_config_without_a_format_still_plans_named_formats(tmp_path: Path) -> None:
    """Files that name no weight format of their own plan the formats --quant names."""
    from rigfit.planner import PlanQuery, plan_hardware

    raw = {k: v for k, v in LLAMA.items() if k not in ("torch_dtype", "dtype")}
    raw["max_position_embeddings"] = 8192
    (tmp_path / "config.json").write_text(json.dumps(raw))
    query = PlanQuery(str(tmp_path), quants=("Q4_K_M",), gpus=("rtx-4090",), files=True)
    plan = plan_hardware(query)
    assert {o.quant for o in plan.options} == {"Q4_K_M"}
