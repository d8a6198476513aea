"""Builders of small real model files, for the tests of this folder.

The GGUF builder writes the metadata keys llama.cpp's convert_hf_to_gguf.py writes for each
architecture and the tensor names llama.cpp uses, from an HFConfig's tensor inventory, so a
file read back must give the same architecture and the same parameter count.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from rigfit.arch import Architecture, Role, Tensor, from_config
from rigfit.catalog.schema import HFConfig
from rigfit.formats import config_from_dict

LLAMA: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
    "max_position_embeddings": 256,
    "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
    "rope_theta": 500000.0,
    "bos_token_id": 1,  # a key rigfit does not read
}

QWEN3_MOE: dict[str, Any] = {
    "model_type": "qwen3_moe",
    "hidden_size": 64,
    "intermediate_size": 128,
    "moe_intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "vocab_size": 128,
    "max_position_embeddings": 256,
    "tie_word_embeddings": False,
}

DEEPSEEK_V3: dict[str, Any] = {
    "model_type": "deepseek_v3",
    "hidden_size": 64,
    "intermediate_size": 128,
    "moe_intermediate_size": 32,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "n_routed_experts": 4,
    "n_shared_experts": 1,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 1,
    "q_lora_rank": 48,
    "kv_lora_rank": 32,
    "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8,
    "v_head_dim": 16,
    "vocab_size": 128,
    "max_position_embeddings": 256,
    "num_nextn_predict_layers": 1,
    "tie_word_embeddings": False,
}

GEMMA3_TEXT: dict[str, Any] = {
    "model_type": "gemma3_text",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "vocab_size": 128,
    "max_position_embeddings": 512,
    "sliding_window": 32,
    "sliding_window_pattern": 6,
}

GPT_OSS: dict[str, Any] = {
    "model_type": "gpt_oss",
    "hidden_size": 64,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "num_local_experts": 4,
    "experts_per_token": 2,
    "vocab_size": 128,
    "max_position_embeddings": 256,
    "sliding_window": 16,
    "layer_types": ["sliding_attention", "full_attention"],
    "attention_bias": True,
    "tie_word_embeddings": False,
}

GLM4_MOE: dict[str, Any] = {
    "model_type": "glm4_moe",
    "hidden_size": 64,
    "intermediate_size": 128,
    "moe_intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "n_routed_experts": 4,
    "n_shared_experts": 1,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 1,
    "num_nextn_predict_layers": 1,
    "attention_bias": True,
    "partial_rotary_factor": 0.5,
    "vocab_size": 128,
    "max_position_embeddings": 256,
    "tie_word_embeddings": False,
}

QWEN2: dict[str, Any] = {
    "model_type": "qwen2",
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
    "max_position_embeddings": 256,
    "tie_word_embeddings": True,
}

MIXTRAL: dict[str, Any] = {
    "model_type": "mixtral",
    "hidden_size": 64,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "vocab_size": 128,
    "max_position_embeddings": 256,
}

# rigfit model_type -> GGUF general.architecture
GGUF_ARCH = {
    "llama": "llama",
    "mixtral": "llama",
    "qwen2": "qwen2",
    "qwen3_moe": "qwen3moe",
    "deepseek_v2": "deepseek2",
    "deepseek_v3": "deepseek2",
    "gemma3_text": "gemma3",
    "gpt_oss": "gpt-oss",
    "glm4_moe": "glm4moe",
}


def write_config(folder: Path, config: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


# ---- GGUF ----------------------------------------------------------------------------------


def _gguf_tensors(arch: Architecture) -> Iterator[tuple[str, tuple[int, ...]]]:
    """llama.cpp names and ``ne`` dims for every tensor of ``arch`` (split as llama.cpp does)."""
    a, h = arch.attention, arch.hidden_size
    norm_names = (
        ("attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm")
        if arch.norms_per_layer == 4
        else ("attn_norm", "ffn_norm")
    )
    for t in arch.tensors():
        p = f"blk.{t.layer}." if t.layer is not None else ""
        short = t.name.removeprefix(p)
        if short.startswith("norm_"):
            yield p + norm_names[int(short[5])] + ".weight", (t.cols,)
        elif short == "attn_qkv.bias":
            q = a.num_heads * a.head_dim
            kv = a.num_kv_heads * a.head_dim
            yield p + "attn_q.bias", (q,)
            yield p + "attn_k.bias", (kv,)
            yield p + "attn_v.bias", (kv,)
        elif short == "ffn_exps.bias":
            assert arch.moe is not None
            e, inter = arch.moe.num_experts, arch.moe.expert_intermediate_size
            yield p + "ffn_gate_exps.bias", (inter, e)
            yield p + "ffn_up_exps.bias", (inter, e)
            yield p + "ffn_down_exps.bias", (h, e)
        elif short == "ffn_gate_inp.bias" and arch.model_type != "gpt_oss":
            yield p + "exp_probs_b.bias", (t.cols,)
        else:
            yield t.name, _dims(t)


def _dims(t: Tensor) -> tuple[int, ...]:
    if t.count > 1:
        return (t.cols, t.rows, t.count)
    return (t.cols,) if t.rows == 1 else (t.cols, t.rows)


def _write_metadata(w: gguf.GGUFWriter, c: HFConfig, arch: Architecture, ga: str) -> None:
    a = arch.attention
    mtp = c.num_nextn_predict_layers if ga == "glm4moe" else 0
    w.add_block_count(c.num_hidden_layers + (mtp or 0))
    if mtp:
        w.add_nextn_predict_layers(mtp)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    if c.intermediate_size:
        w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    if ga == "deepseek2":
        assert a.kv_lora_rank
        assert a.qk_rope_head_dim
        assert a.qk_nope_head_dim
        assert a.v_head_dim
        w.add_head_count_kv(1)
        w.add_kv_lora_rank(a.kv_lora_rank)
        if a.q_lora_rank:
            w.add_q_lora_rank(a.q_lora_rank)
        w.add_key_length(a.kv_lora_rank + a.qk_rope_head_dim)
        w.add_value_length(a.kv_lora_rank)
        w.add_key_length_mla(a.qk_nope_head_dim + a.qk_rope_head_dim)
        w.add_value_length_mla(a.v_head_dim)
        w.add_rope_dimension_count(a.qk_rope_head_dim)
        w.add_leading_dense_block_count(c.first_k_dense_replace or 0)
    else:
        w.add_head_count_kv(a.num_kv_heads)
        w.add_key_length(a.head_dim)
        w.add_value_length(a.head_dim)
        w.add_rope_dimension_count(int(a.head_dim * (c.partial_rotary_factor or 1)))
    if arch.moe is not None:
        w.add_expert_count(arch.moe.num_experts)
        w.add_expert_used_count(arch.moe.experts_per_token)
        if ga != "llama":
            w.add_expert_feed_forward_length(arch.moe.expert_intermediate_size)
        if arch.moe.num_shared_experts:
            w.add_expert_shared_count(arch.moe.num_shared_experts)
        if ga == "glm4moe":
            w.add_leading_dense_block_count(c.first_k_dense_replace or 0)
    if c.sliding_window and ga in ("gemma3", "gpt-oss", "gemma2"):
        w.add_sliding_window(c.sliding_window)


GGUFBuilder = Callable[..., Path]


def build_gguf(
    path: Path,
    config: dict[str, Any],
    *,
    ftype: gguf.LlamaFileType = gguf.LlamaFileType.ALL_F32,
    tokens: int | None = None,
    extra: dict[str, tuple[int, ...]] | None = None,
    drop: tuple[str, ...] = (),
    kv: Callable[[gguf.GGUFWriter], None] | None = None,
    quant: gguf.GGMLQuantizationType | None = None,
) -> Path:
    """Write a GGUF file whose tensors are the inventory of ``config`` (zeros, F32).

    ``quant`` stores 2-D weights with rows divisible by 32 in that type instead (raw bytes);
    ``extra`` adds tensors (name -> ne dims); ``drop`` removes some; ``kv`` adds metadata.
    """
    c = config_from_dict(config)
    arch = from_config(c)
    ga = GGUF_ARCH[c.model_type]
    w = gguf.GGUFWriter(path, ga)
    _write_metadata(w, c, arch, ga)
    w.add_file_type(int(ftype))
    if tokens is not None:
        w.add_token_list([f"tok{i}" for i in range(tokens)])
    if kv is not None:
        kv(w)
    tensors = dict(_gguf_tensors(arch))
    if c.num_nextn_predict_layers and ga == "glm4moe":
        mtp = c.num_hidden_layers
        tensors[f"blk.{mtp}.nextn.eh_proj.weight"] = (2 * c.hidden_size, c.hidden_size)
        tensors[f"blk.{mtp}.attn_norm.weight"] = (c.hidden_size,)
    tensors.update(extra or {})
    for name in drop:
        tensors.pop(name)
    for name, dims in tensors.items():
        shape = tuple(reversed(dims))
        if quant is not None and len(dims) >= 2 and dims[0] % 32 == 0:
            elems, size = gguf.GGML_QUANT_SIZES[quant]
            raw = np.zeros((*shape[:-1], dims[0] // elems * size), dtype=np.uint8)
            w.add_tensor(name, raw, raw_dtype=quant)
        else:
            w.add_tensor(name, np.zeros(shape, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# ---- safetensors ----------------------------------------------------------------------------


def inventory_arrays(config: dict[str, Any], dtype: Any = np.float16) -> dict[str, Any]:
    """Zero arrays for every tensor of ``config``'s architecture, in PyTorch's shape order."""
    arch = from_config(config_from_dict(config))
    out = {}
    for t in arch.tensors():
        shape = (t.count, t.rows, t.cols) if t.count > 1 else (t.rows, t.cols)
        out[t.name] = np.zeros(shape if t.rows > 1 or t.count > 1 else (t.cols,), dtype=dtype)
    return out


def write_safetensors_model(
    folder: Path,
    config: dict[str, Any],
    *,
    shards: int = 2,
    dtype: Any = np.float16,
    extra: dict[str, Any] | None = None,
    index: bool = True,
) -> dict[str, Any]:
    """config.json + ``shards`` safetensors files (+ the index); returns the arrays written."""
    from safetensors.numpy import save_file

    write_config(folder, config)
    arrays = inventory_arrays(config, dtype) | (extra or {})
    names = sorted(arrays)
    weight_map = {}
    for i in range(shards):
        shard = (
            f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            if shards > 1
            else ("model.safetensors")
        )
        part = {n: arrays[n] for n in names[i::shards]}
        save_file(part, str(folder / shard), metadata={"format": "pt"})
        weight_map |= dict.fromkeys(part, shard)
    if index and shards > 1:
        total = sum(a.nbytes for a in arrays.values())
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})
        )
    return arrays


def raw_safetensors(
    header: bytes | dict[str, Any], data: bytes = b"", *, n: int | None = None
) -> bytes:
    """A safetensors file from a header (JSON-encoded when a dict) and a data buffer."""
    raw = json.dumps(header).encode() if isinstance(header, dict) else header
    return struct.pack("<Q", len(raw) if n is None else n) + raw + data


# ---- GGUF headers in memory (for full-size catalog models) ---------------------------------

CATALOG_GGUF_ARCH = {
    "llama4": "llama4",
    "qwen3_vl": "qwen3vl",
    "qwen3_vl_moe": "qwen3vlmoe",
    "qwen3_5": "qwen35",
    "qwen3_5_moe": "qwen35moe",
    "nemotron_h": "nemotron_h",
    "granitemoehybrid": "granitehybrid",
    "falcon_h1": "falcon-h1",
    "minimax_m2": "minimax-m2",
    "deepseek_v32": "deepseek32",
    "llama": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe",
    "qwen3_next": "qwen3next",
    "deepseek_v2": "deepseek2",
    "deepseek_v3": "deepseek2",
    "kimi_k2": "deepseek2",
    "gemma2": "gemma2",
    "gemma3_text": "gemma3",
    "phi3": "phi3",
    "gpt_oss": "gpt-oss",
    "glm4_moe": "glm4moe",
    "olmo3": "olmo2",
    "exaone4": "exaone4",
    "ministral3": "mistral3",
    "mistral3": "mistral3",
    "nemotron-nas": "deci",
}


def gguf_header_for(c: HFConfig) -> Any:
    """The GGUF header convert_hf_to_gguf.py would write for ``c``, built in memory."""
    from rigfit.formats.gguf.header import GGUFHeader, GGUFTensor

    arch = from_config(c)
    ga = CATALOG_GGUF_ARCH[c.model_type]
    if ga == "nemotron_h" and arch.moe is not None:
        ga = "nemotron_h_moe"  # convert_hf_to_gguf: a config with num_experts_per_tok
    a = arch.attention
    p = ga
    md: dict[str, Any] = {
        "general.architecture": ga,
        f"{p}.block_count": c.num_hidden_layers,
        f"{p}.context_length": c.max_position_embeddings,
        f"{p}.embedding_length": c.hidden_size,
        f"{p}.attention.head_count": c.num_attention_heads,
    }
    if c.intermediate_size:
        md[f"{p}.feed_forward_length"] = c.intermediate_size
    if ga == "llama4":
        md[f"{p}.feed_forward_length"] = c.intermediate_size_mlp
        md[f"{p}.interleave_moe_layer_step"] = c.interleave_moe_layer_step or 1
    if ga == "granitehybrid":
        # the expert width (or the dense MLP's, which is the shared one); no key_length; RoPE
        # off for Granite 4.0-H, and then 2**20 as the context
        md[f"{p}.feed_forward_length"] = (
            arch.moe.expert_intermediate_size
            if arch.moe
            else arch.layers[0].dense_intermediate_size
        )
        md[f"{p}.rope.scaling.finetuned"] = c.position_embedding_type == "rope"
        md[f"{p}.context_length"] = 2**20
        md[f"{p}.expert_count"] = arch.moe.num_experts if arch.moe else 0
        if arch.moe and arch.moe.shared_intermediate_size:
            md[f"{p}.expert_shared_feed_forward_length"] = arch.moe.shared_intermediate_size
    if ga == "minimax-m2":
        md[f"{p}.feed_forward_length"] = c.intermediate_size
    if ga == "deci":
        # convert_hf_to_gguf DeciModel: per-layer head counts (0 without attention) and MLP
        # widths (0 without an MLP)
        md[f"{p}.attention.head_count"] = [
            c.num_attention_heads if x.kind.keeps_kv else 0 for x in arch.layers
        ]
        md[f"{p}.feed_forward_length"] = [x.dense_intermediate_size for x in arch.layers]
    if ga.startswith("nemotron_h"):
        # per-layer arrays, 0 where a layer has no attention or no MLP; 2**20 as the context
        md[f"{p}.context_length"] = 2**20
        md[f"{p}.feed_forward_length"] = [
            (arch.moe.expert_intermediate_size if x.moe and arch.moe else x.dense_intermediate_size)
            if x.has_ffn
            else 0
            for x in arch.layers
        ]
    if ga in ("deepseek2", "deepseek32"):
        assert a.kv_lora_rank is not None
        assert a.qk_rope_head_dim is not None
        assert a.qk_nope_head_dim is not None
        md |= {
            f"{p}.attention.head_count_kv": 1,
            f"{p}.attention.kv_lora_rank": a.kv_lora_rank,
            f"{p}.attention.key_length": a.kv_lora_rank + a.qk_rope_head_dim,
            f"{p}.attention.value_length": a.kv_lora_rank,
            f"{p}.attention.key_length_mla": a.qk_nope_head_dim + a.qk_rope_head_dim,
            f"{p}.attention.value_length_mla": a.v_head_dim,
            f"{p}.rope.dimension_count": a.qk_rope_head_dim,
            f"{p}.leading_dense_block_count": c.first_k_dense_replace or 0,
        }
        if a.q_lora_rank:
            md[f"{p}.attention.q_lora_rank"] = a.q_lora_rank
        if a.indexer is not None:
            md |= {
                f"{p}.attention.indexer.head_count": a.indexer.n_heads,
                f"{p}.attention.indexer.key_length": a.indexer.head_dim,
                f"{p}.attention.indexer.top_k": a.indexer.topk,
            }
    else:
        md |= {
            f"{p}.attention.head_count_kv": [
                arch.attn(x).num_kv_heads if x.kind.keeps_kv else 0 for x in arch.layers
            ]
            if ga.startswith("nemotron_h") or ga in ("granitehybrid", "deci")
            else a.num_kv_heads,
            f"{p}.attention.key_length": a.head_dim,
            f"{p}.attention.value_length": a.head_dim,
            f"{p}.rope.dimension_count": c.rotary_dim
            or int(a.head_dim * (c.partial_rotary_factor or 1)),
        }
        if ga == "granitehybrid":  # GraniteModel pops head_dim: no key length in the file
            del md[f"{p}.attention.key_length"], md[f"{p}.attention.value_length"]
    if arch.moe is not None:
        md[f"{p}.expert_count"] = arch.moe.num_experts
        md[f"{p}.expert_used_count"] = arch.moe.experts_per_token
        if ga not in ("llama", "granitehybrid"):
            md[f"{p}.expert_feed_forward_length"] = arch.moe.expert_intermediate_size
        if arch.moe.num_shared_experts:
            md[f"{p}.expert_shared_count"] = arch.moe.num_shared_experts
        if arch.moe.shared_intermediate_size and ga in ("qwen3next", "qwen35moe", "nemotron_h_moe"):
            md[f"{p}.expert_shared_feed_forward_length"] = arch.moe.shared_intermediate_size
        if ga == "glm4moe":
            md[f"{p}.leading_dense_block_count"] = c.first_k_dense_replace or 0
        if arch.moe.latent_size:
            md[f"{p}.moe_latent_size"] = arch.moe.latent_size
    if arch.mamba is not None:
        mb = arch.mamba
        md |= {
            f"{p}.ssm.conv_kernel": mb.conv_kernel,
            f"{p}.ssm.state_size": mb.state_size,
            f"{p}.ssm.group_count": mb.n_groups,
            f"{p}.ssm.time_step_rank": mb.num_heads,
            f"{p}.ssm.inner_size": mb.d_inner,
        }
    if arch.linear_attention is not None:
        s = arch.linear_attention
        md |= {
            f"{p}.full_attention_interval": c.full_attention_interval or 4,
            f"{p}.ssm.conv_kernel": s.conv_kernel,
            f"{p}.ssm.state_size": s.key_head_dim,
            f"{p}.ssm.group_count": s.num_key_heads,
            f"{p}.ssm.time_step_rank": s.num_value_heads,
            f"{p}.ssm.inner_size": s.value_head_dim * s.num_value_heads,
        }
    if c.sliding_window and ga in ("gemma2", "gemma3", "gpt-oss", "phi3", "olmo2", "exaone4"):
        md[f"{p}.attention.sliding_window"] = c.sliding_window
    # the vision tower goes to the mmproj file, not the model's GGUF
    vision = {t.name for t in arch.tensors() if t.role is Role.VISION}
    tensors = [
        GGUFTensor(name, 0, dims, 0, 0) for name, dims in _gguf_tensors(arch) if name not in vision
    ]
    return GGUFHeader(f"{c.model_type}.gguf", 3, md, tuple(tensors), 0, 32, 0)
