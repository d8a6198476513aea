"""Map GGUF metadata to the config.json keys rigfit reads, and check it against the tensors.

Each supported ``general.architecture`` is mapped by the keys llama.cpp's
``convert_hf_to_gguf.py`` writes for it (``{arch}.block_count`` <- ``num_hidden_layers``...).
Any other architecture fails closed. The mapped config is then checked: the
:class:`~rigfit.arch.Architecture` it builds must hold exactly as many parameters as the file's
tensors, less the few tensors rigfit does not model (RoPE frequency factors, MTP blocks, the
duplicate split of DeepSeek's ``attn_kv_b``), which are listed in the result. A disagreement
raises :class:`~rigfit.errors.UnsupportedArchitectureError` with both numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rigfit.arch import Architecture, from_config, nas_intermediate
from rigfit.catalog.schema import HFConfig
from rigfit.errors import UnsupportedArchitectureError
from rigfit.formats.config_json import validation_message
from rigfit.formats.errors import ReaderError
from rigfit.formats.gguf.header import GGUFHeader, GGUFTensor, MetaValue, Omitted
from rigfit.frozen import frozen
from rigfit.strict import RecordError, read

__all__ = ["SUPPORTED_GGUF_ARCHITECTURES", "GGUFMapping", "arch_from_gguf", "map_gguf"]

# general.architecture -> rigfit model_type (the GGUF "llama" arch also carries Mistral, and
# Mixtral when it has experts; "gemma3" GGUFs hold the text model only, vision is in mmproj)
SUPPORTED_GGUF_ARCHITECTURES = (
    "llama",
    "qwen2",
    "qwen3",
    "qwen3moe",
    "qwen3next",
    "deepseek2",
    "gemma2",
    "gemma3",
    "phi3",
    "gpt-oss",
    "glm4moe",
    "llama4",
    "qwen3vl",
    "qwen3vlmoe",
    "qwen35",
    "qwen35moe",
    "nemotron_h",
    "nemotron_h_moe",
    "granitehybrid",
    "falcon-h1",
    "minimax-m2",
    "deepseek32",
    "olmo2",
    "exaone4",
    "mistral3",
    "gemma4",
    "deci",
)
# Nemotron-H and Granite 4 GGUFs (convert_hf_to_gguf GraniteHybridModel) write head_count_kv
# per layer, 0 on Mamba layers, and Nemotron-H feed_forward_length too, 0 on mixer-only layers
_PER_LAYER_HYBRIDS = ("nemotron_h", "nemotron_h_moe", "granitehybrid")

# Tensors llama.cpp stores that the architecture does not model as weights: llama 3 RoPE
# frequency factors and Phi-3 LongRoPE factors (derived from rope_scaling, not trained).
_ROPE_TENSORS = frozenset(
    {"rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"}
)
_BLOCK = re.compile(r"^blk\.(\d+)\.")
# llama.cpp's Llama 4 chunk when the file does not switch chunking off (src/models/llama4.cpp
# n_swa = 8192, the published configs' attention_chunk_size)
LLAMA4_CHUNK_TOKENS = 8192


@frozen
class GGUFMapping:
    """A GGUF model as rigfit reads it: the config, its architecture, what was left out."""

    config: HFConfig
    arch: Architecture
    file_params: int  # elements of the tensors that were compared (excluded ones left out)
    excluded: tuple[str, ...]  # tensor names rigfit does not model, with the reason in notes
    notes: tuple[str, ...]


class _Meta:
    """Typed access to ``{arch}.*`` keys with one-line errors."""

    def __init__(self, header: GGUFHeader, arch: str) -> None:
        self.h = header
        self.md = header.metadata
        self.arch = arch

    def raw(self, key: str) -> MetaValue | None:
        return self.md.get(key.format(arch=self.arch) if "{arch}" in key else key)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        """An integer key; a per-layer array must hold one value for every layer."""
        v = self.raw(key)
        if v is None:
            return default
        if isinstance(v, list) and v:
            values = {x for x in v if isinstance(x, int) and not isinstance(x, bool)}
            if len(values) > 1:
                raise UnsupportedArchitectureError(
                    f"{self.h.name}: {key.format(arch=self.arch)} varies per layer"
                    f" ({sorted(values)}); rigfit models one value for all layers"
                )
            v = v[0]
        if isinstance(v, bool) or not isinstance(v, int):
            raise ReaderError(
                f"{self.h.name}: {key.format(arch=self.arch)} is {v!r}, not an integer"
            )
        return v

    def per_layer(self, key: str, n: int) -> list[int]:
        """A per-layer integer array (a scalar repeats), cut to the first ``n`` layers."""
        v = self.raw(key)
        if isinstance(v, list):
            ints = [x for x in v if isinstance(x, int) and not isinstance(x, bool)]
            if len(ints) != len(v) or len(ints) < n:
                raise ReaderError(
                    f"{self.h.name}: {key.format(arch=self.arch)} is not {n} per-layer integers"
                )
            return ints[:n]
        return [self.need(key)] * n

    def nonzero(self, key: str, n: int) -> int | None:
        """The one non-zero value of a per-layer array that is 0 on layers without the part."""
        values = {x for x in self.per_layer(key, n) if x}
        if len(values) > 1:
            raise UnsupportedArchitectureError(
                f"{self.h.name}: {key.format(arch=self.arch)} varies per layer"
                f" ({sorted(values)}); rigfit models one value for all layers"
            )
        return values.pop() if values else None

    def need(self, key: str) -> int:
        v = self.get_int(key)
        if v is None:
            raise ReaderError(f"{self.h.name}: GGUF metadata lacks {key.format(arch=self.arch)}")
        return v

    def get_float(self, key: str) -> float | None:
        v = self.raw(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _tensor_map(headers: Sequence[GGUFHeader]) -> dict[str, GGUFTensor]:
    out: dict[str, GGUFTensor] = {}
    for h in headers:
        for t in h.tensors:
            if t.name in out:
                raise ReaderError(f"{h.name}: tensor {t.name!r} appears in two shards")
            out[t.name] = t
    return out


def _vocab(m: _Meta, tensors: dict[str, GGUFTensor]) -> int:
    embd = tensors.get("token_embd.weight")
    if embd is not None and len(embd.dims) == 2:
        return embd.dims[1]  # ne = [hidden, vocab]
    tokens = m.raw("tokenizer.ggml.tokens")
    if isinstance(tokens, Omitted | list):
        return tokens.length if isinstance(tokens, Omitted) else len(tokens)
    return m.need("{arch}.vocab_size")


def _common(m: _Meta, tensors: dict[str, GGUFTensor], n_layers: int) -> dict[str, Any]:
    kv_heads: int | None
    ff: int | None
    if m.arch == "deci":
        # per-layer head counts and widths, read into block_configs by _deci
        heads = max(m.per_layer("{arch}.attention.head_count", n_layers))
        if not heads:
            raise ReaderError(f"{m.h.name}: no layer has attention heads")
        kv_heads, ff = None, None
    elif m.arch in _PER_LAYER_HYBRIDS:
        heads = m.need("{arch}.attention.head_count")
        kv_heads = m.nonzero("{arch}.attention.head_count_kv", n_layers)
        ff = (
            m.nonzero("{arch}.feed_forward_length", n_layers)
            if m.arch != "granitehybrid"
            else m.get_int("{arch}.feed_forward_length")
        )
    else:
        heads = m.need("{arch}.attention.head_count")
        kv_heads = m.get_int("{arch}.attention.head_count_kv", heads)
        ff = m.get_int("{arch}.feed_forward_length")
    d: dict[str, Any] = {
        "hidden_size": m.need("{arch}.embedding_length"),
        "num_hidden_layers": n_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": _vocab(m, tensors),
        "max_position_embeddings": m.need("{arch}.context_length"),
        "intermediate_size": ff or None,
        "tie_word_embeddings": "output.weight" not in tensors,
        "rope_theta": m.get_float("{arch}.rope.freq_base"),
        "rms_norm_eps": m.get_float("{arch}.attention.layer_norm_rms_epsilon"),
    }
    rtype = m.raw("{arch}.rope.scaling.type")
    factor = m.get_float("{arch}.rope.scaling.factor")
    if isinstance(rtype, str) and rtype != "none":
        d["rope_scaling"] = {"rope_type": rtype, **({"factor": factor} if factor else {})}
    if m.arch in ("deepseek2", "deepseek32"):
        return d  # MLA head sizes, rope and window are read by _deepseek2
    k, v = m.get_int("{arch}.attention.key_length"), m.get_int("{arch}.attention.value_length")
    if k is not None:
        if v is not None and v != k:
            raise UnsupportedArchitectureError(
                f"{m.h.name}: key length {k} differs from value length {v}; rigfit models one"
                " head dimension"
            )
        d["head_dim"] = k
    rope_dim = m.get_int("{arch}.rope.dimension_count")
    head_dim = d.get("head_dim") or d["hidden_size"] // heads
    # Nemotron-H applies no RoPE; its files carry hidden / heads there (GraniteModel pops head_dim)
    if rope_dim and rope_dim < head_dim and m.arch not in _PER_LAYER_HYBRIDS:
        d["partial_rotary_factor"] = rope_dim / head_dim
    window = m.get_int("{arch}.attention.sliding_window")
    if window:
        d["sliding_window"] = window
    return d


def _moe(m: _Meta) -> tuple[int, int, int | None]:
    experts = m.need("{arch}.expert_count")
    used = m.need("{arch}.expert_used_count")
    return experts, used, m.get_int("{arch}.expert_feed_forward_length")


def _has(tensors: dict[str, GGUFTensor], suffix: str) -> bool:
    return f"blk.0.{suffix}" in tensors


def _gemma4(m: _Meta, tensors: dict[str, GGUFTensor], n_layers: int) -> dict[str, Any]:
    """Gemma 4's text model from the keys its converter writes (Ollama convert_gemma4.go KV(),
    the same names in Google's QAT GGUF): key_length / key_length_swa for the full and sliding
    head sizes, head_count_kv per layer where they differ, sliding_window_pattern as booleans
    (true = sliding). No key marks K-as-V; a full layer without attn_v.weight shows it."""
    heads = m.need("{arch}.attention.head_count")
    pattern = m.raw("{arch}.attention.sliding_window_pattern")
    if not isinstance(pattern, list) or len(pattern) < n_layers:
        raise ReaderError(f"{m.h.name}: gemma4.attention.sliding_window_pattern is not per layer")
    sliding = [bool(x) for x in pattern[:n_layers]]
    kv = m.per_layer("{arch}.attention.head_count_kv", n_layers)
    kv_sliding = {k for k, s in zip(kv, sliding, strict=True) if s}
    kv_full = {k for k, s in zip(kv, sliding, strict=True) if not s}
    if len(kv_sliding) != 1 or len(kv_full) > 1:
        raise UnsupportedArchitectureError(
            f"{m.h.name}: head_count_kv varies within the sliding or the full layers"
        )
    full_layers = [i for i, s in enumerate(sliding) if not s]
    k_eq_v = bool(full_layers) and all(f"blk.{i}.attn_v.weight" not in tensors for i in full_layers)
    (kv_swa,) = kv_sliding
    kv_global = kv_full.pop() if kv_full else kv_swa
    if kv_global != kv_swa and not k_eq_v:
        raise UnsupportedArchitectureError(
            f"{m.h.name}: full layers with their own KV heads and a V projection; rigfit models"
            " Gemma 4's as transformers builds them (their own KV heads only with K as V)"
        )
    ff = m.per_layer("{arch}.feed_forward_length", n_layers)
    shared = m.get_int("{arch}.attention.shared_kv_layers", 0) or 0
    # E2B's double-wide MLPs: the converter writes 2 × n_ff for the KV-shared layers
    # (conversion/gemma.py Gemma4Model); any other variation is refused
    wide = bool(shared) and ff[: n_layers - shared] == [ff[0]] * (n_layers - shared)
    wide = wide and ff[n_layers - shared :] == [2 * ff[0]] * shared
    if len(set(ff)) != 1 and not wide:
        raise UnsupportedArchitectureError(
            f"{m.h.name}: feed_forward_length varies per layer other than by doubling on the"
            " KV-shared layers (Gemma 4 E2B), which rigfit does not model"
        )
    ple = tensors.get("per_layer_token_embd.weight")
    d: dict[str, Any] = {
        "model_type": "gemma4_text",
        "hidden_size": m.need("{arch}.embedding_length"),
        "num_hidden_layers": n_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_swa,
        "num_global_key_value_heads": kv_global,
        "attention_k_eq_v": k_eq_v,
        "head_dim": m.need("{arch}.attention.key_length_swa"),
        "global_head_dim": m.need("{arch}.attention.key_length"),
        "vocab_size": _vocab(m, tensors),
        "max_position_embeddings": m.need("{arch}.context_length"),
        "intermediate_size": ff[0],
        "tie_word_embeddings": "output.weight" not in tensors,
        "sliding_window": m.need("{arch}.attention.sliding_window"),
        "layer_types": ["sliding_attention" if s else "full_attention" for s in sliding],
        "rms_norm_eps": m.get_float("{arch}.attention.layer_norm_rms_epsilon"),
        "final_logit_softcapping": m.get_float("{arch}.final_logit_softcapping"),
        "hidden_size_per_layer_input": m.get_int("{arch}.embedding_length_per_layer_input", 0),
        "num_kv_shared_layers": shared,
        "use_double_wide_mlp": len(set(ff)) != 1,
    }
    if ple is not None:
        # [n_layer · per-layer width, vocab] in ggml order
        d["vocab_size_per_layer_input"] = ple.dims[1]
    if m.get_int("{arch}.expert_count"):
        experts, used, expert_ff = _moe(m)
        d |= {
            "enable_moe_block": True,
            "num_experts": experts,
            "top_k_experts": used,
            "moe_intermediate_size": expert_ff,
        }
    return d


def _config_dict(
    m: _Meta, tensors: dict[str, GGUFTensor], n_layers: int, nextn: int
) -> dict[str, Any]:
    arch = m.arch
    if arch == "gemma4":
        return _gemma4(m, tensors, n_layers)
    d = _common(m, tensors, n_layers)
    if arch == "llama":
        if m.get_int("{arch}.expert_count"):
            experts, used, expert_ff = _moe(m)
            d |= {
                "model_type": "mixtral",
                "num_local_experts": experts,
                "num_experts_per_tok": used,
                "intermediate_size": expert_ff or d["intermediate_size"],
            }
        else:
            d |= {
                "model_type": "llama",
                "attention_bias": _has(tensors, "attn_q.bias"),
                "mlp_bias": _has(tensors, "ffn_up.bias"),
            }
        d.pop("sliding_window", None)  # llama.cpp runs Mistral GGUFs without a window
    elif arch in ("qwen2", "qwen3"):
        d["model_type"] = arch
        d.pop("sliding_window", None)
    elif arch in ("olmo2", "exaone4"):
        # OLMo 2/3 convert to "olmo2"; llama.cpp slides 3 layers of every 4 when the file
        # names a window (LLM_ARCH_OLMO2: set_swa_pattern(4)). EXAONE 4 slides only in the
        # 64-layer 32B (LLM_ARCH_EXAONE4: n_layer == 64 -> pattern 4, n_swa from the file or
        # 4096); set_swa_pattern(n) makes layer il slide iff il % n < n - 1
        d["model_type"] = arch  # "olmo2": OLMo 2 and 3 as llama.cpp converts them
        window = d.get("sliding_window")
        if arch == "exaone4" and n_layers == 64:
            window = window or 4096
        elif arch == "exaone4":
            window = None
        if window:
            d["sliding_window"] = window
            d["layer_types"] = [
                "full_attention" if i % 4 == 3 else "sliding_attention" for i in range(n_layers)
            ]
        else:
            d.pop("sliding_window", None)
    elif arch == "mistral3":
        # Ministral 3 / Devstral 2 text models, and Mistral Small 3.1/3.2 from the current
        # converter: the same dense block, read as ministral3
        d["model_type"] = "ministral3"
        d.pop("sliding_window", None)
    elif arch == "llama4":
        # convert_hf_to_gguf Llama4Model: feed_forward_length <- intermediate_size_mlp (dense
        # layers), expert_feed_forward_length <- intermediate_size (experts and the shared one);
        # llama.cpp hard-codes 8,192-token chunks on 3 of every 4 layers unless the file sets
        # sliding_window 0 (src/models/llama4.cpp)
        experts, used, expert_ff = _moe(m)
        window = m.get_int("{arch}.attention.sliding_window")
        d |= {
            "model_type": "llama4_text",
            "num_local_experts": experts,
            "num_experts_per_tok": used,
            "intermediate_size": expert_ff,
            "intermediate_size_mlp": d["intermediate_size"],
            "interleave_moe_layer_step": m.get_int("{arch}.interleave_moe_layer_step", 1),
            "attention_chunk_size": None if window == 0 else LLAMA4_CHUNK_TOKENS,
        }
        d.pop("sliding_window", None)
    elif arch in ("qwen3vl", "qwen3vlmoe"):
        # the text model of Qwen3-VL (the tower is in the mmproj file)
        d["model_type"] = "qwen3_vl" if arch == "qwen3vl" else "qwen3_vl_moe"
        if arch == "qwen3vlmoe":
            experts, used, expert_ff = _moe(m)
            d |= {
                "num_experts": experts,
                "num_experts_per_tok": used,
                "moe_intermediate_size": expert_ff,
            }
        d.pop("sliding_window", None)
    elif arch in ("nemotron_h", "nemotron_h_moe"):
        d |= _nemotron_h(m, n_layers, d)
    elif arch == "deci":
        d |= _deci(m, n_layers, d)
    elif arch == "granitehybrid":
        d |= _granite_hybrid(m, tensors, n_layers, d)
    elif arch == "falcon-h1":
        # conversion/falcon_h1.py: inner_size <- mamba_d_ssm, time_step_rank <- heads; the muP
        # multipliers are folded into the weights; ssm_norm only with mamba_rms_norm
        heads = m.need("{arch}.ssm.time_step_rank")
        inner = m.need("{arch}.ssm.inner_size")
        d |= {
            "model_type": "falcon_h1",
            "mamba_d_ssm": inner,
            "mamba_n_heads": heads,
            "mamba_d_head": inner // heads,
            "mamba_d_state": m.need("{arch}.ssm.state_size"),
            "mamba_n_groups": m.need("{arch}.ssm.group_count"),
            "mamba_d_conv": m.need("{arch}.ssm.conv_kernel"),
            "mamba_rms_norm": _has(tensors, "ssm_norm.weight"),
            "mamba_conv_bias": _has(tensors, "ssm_conv1d.bias"),
            "attention_bias": _has(tensors, "attn_q.bias"),
            "mlp_bias": _has(tensors, "ffn_up.bias"),
        }
    elif arch == "minimax-m2":
        # conversion/minimax.py: feed_forward_length and expert_feed_forward_length both hold
        # intermediate_size; rope.dimension_count is rotary_dim; q/k norms span all heads
        experts, used, expert_ff = _moe(m)
        q_norm = tensors.get("blk.0.attn_q_norm.weight")
        d |= {
            "model_type": "minimax_m2",
            "num_local_experts": experts,
            "num_experts_per_tok": used,
            "intermediate_size": expert_ff or d["intermediate_size"],
            "use_qk_norm": q_norm is not None,
            "qk_norm_type": "per_layer"
            if q_norm is not None and q_norm.dims[0] > (d.get("head_dim") or 0)
            else "per_head",
            "rotary_dim": m.get_int("{arch}.rope.dimension_count"),
        }
        d.pop("partial_rotary_factor", None)
    elif arch in ("qwen3moe", "qwen3next", "qwen35", "qwen35moe"):
        if arch == "qwen35":  # dense Qwen3.5: no experts
            d["model_type"] = "qwen3_5"
        else:
            experts, used, expert_ff = _moe(m)
            d |= {
                "num_experts": experts,
                "num_experts_per_tok": used,
                "moe_intermediate_size": expert_ff,
                "decoder_sparse_step": 1,
                "shared_expert_intermediate_size": m.get_int(
                    "{arch}.expert_shared_feed_forward_length"
                ),
            }
        d |= {
            "model_type": {
                "qwen3moe": "qwen3_moe",
                "qwen3next": "qwen3_next",
                "qwen35": "qwen3_5",
                "qwen35moe": "qwen3_5_moe",
            }[arch],
        }
        d.pop("sliding_window", None)
        if arch in ("qwen3next", "qwen35", "qwen35moe"):
            # convert_hf_to_gguf.py Qwen3NextModel: ssm.state_size <- linear_key_head_dim,
            # group_count <- linear_num_key_heads, time_step_rank <- linear_num_value_heads,
            # inner_size <- linear_value_head_dim * linear_num_value_heads
            n_v = m.need("{arch}.ssm.time_step_rank")
            d |= {
                "full_attention_interval": m.need("{arch}.full_attention_interval"),
                "linear_conv_kernel_dim": m.need("{arch}.ssm.conv_kernel"),
                "linear_key_head_dim": m.need("{arch}.ssm.state_size"),
                "linear_num_key_heads": m.need("{arch}.ssm.group_count"),
                "linear_num_value_heads": n_v,
                "linear_value_head_dim": m.need("{arch}.ssm.inner_size") // n_v,
            }
    elif arch in ("deepseek2", "deepseek32"):
        d |= _deepseek2(m, tensors)
        if arch == "deepseek32":
            # conversion/deepseek.py DeepseekV32Model: the indexer's three keys
            d |= {
                "model_type": "deepseek_v32",
                "index_n_heads": m.need("{arch}.attention.indexer.head_count"),
                "index_head_dim": m.need("{arch}.attention.indexer.key_length"),
                "index_topk": m.need("{arch}.attention.indexer.top_k"),
            }
    elif arch in ("gemma2", "gemma3"):
        d["model_type"] = "gemma2" if arch == "gemma2" else "gemma3_text"
        d["attn_logit_softcapping"] = m.get_float("{arch}.attn_logit_softcapping")
        d["final_logit_softcapping"] = m.get_float("{arch}.final_logit_softcapping")
        pattern = m.raw("{arch}.attention.sliding_window_pattern")
        if isinstance(pattern, int) and not isinstance(pattern, bool):
            d["sliding_window_pattern"] = pattern
        elif isinstance(pattern, list):
            d["layer_types"] = [
                "sliding_attention" if x else "full_attention" for x in pattern[:n_layers]
            ]
    elif arch == "phi3":
        d["model_type"] = "phi3"
    elif arch == "gpt-oss":
        experts, used, expert_ff = _moe(m)
        d |= {
            "model_type": "gpt_oss",
            "num_local_experts": experts,
            "experts_per_token": used,
            "intermediate_size": expert_ff,
            "attention_bias": _has(tensors, "attn_q.bias"),
            # llama.cpp LLM_ARCH_OPENAI_MOE: set_swa_pattern(2), even layers use the window
            "layer_types": [
                "sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n_layers)
            ],
        }
    elif arch == "glm4moe":
        experts, used, expert_ff = _moe(m)
        d |= {
            "model_type": "glm4_moe",
            "n_routed_experts": experts,
            "num_experts_per_tok": used,
            "moe_intermediate_size": expert_ff,
            "n_shared_experts": m.get_int("{arch}.expert_shared_count", 0),
            "first_k_dense_replace": m.get_int("{arch}.leading_dense_block_count", 0),
            "attention_bias": _has(tensors, "attn_q.bias"),
            "use_qk_norm": _has(tensors, "attn_q_norm.weight"),
            "num_nextn_predict_layers": nextn or None,
        }
    return d


def _nemotron_h(m: _Meta, n_layers: int, d: dict[str, Any]) -> dict[str, Any]:
    """Nemotron-H: the layer pattern from where head_count_kv and feed_forward_length are 0
    (src/models/nemotron-h.cpp: recurrent iff both are 0, attention iff only the MLP width is,
    an MLP or MoE block otherwise), the Mamba2 sizes from the ssm keys (time_step_rank holds the
    head count, inner_size heads × head_dim)."""
    kv = m.per_layer("{arch}.attention.head_count_kv", n_layers)
    ff = m.per_layer("{arch}.feed_forward_length", n_layers)
    moe = m.arch == "nemotron_h_moe"
    pattern = "".join(
        "*" if k else ("E" if moe else "-") if f else "M" for k, f in zip(kv, ff, strict=True)
    )
    heads = m.need("{arch}.ssm.time_step_rank")
    out: dict[str, Any] = {
        "model_type": "nemotron_h",
        "hybrid_override_pattern": pattern,
        "mamba_num_heads": heads,
        "mamba_head_dim": m.need("{arch}.ssm.inner_size") // heads,
        "ssm_state_size": m.need("{arch}.ssm.state_size"),
        "n_groups": m.need("{arch}.ssm.group_count"),
        "conv_kernel": m.need("{arch}.ssm.conv_kernel"),
    }
    if moe:
        experts, used, expert_ff = _moe(m)
        out |= {
            "intermediate_size": None,
            "n_routed_experts": experts,
            "num_experts_per_tok": used,
            "moe_intermediate_size": expert_ff or d["intermediate_size"],
            "moe_shared_expert_intermediate_size": m.get_int(
                "{arch}.expert_shared_feed_forward_length"
            ),
            # Nemotron 3 Super: experts in a latent space (gguf-py constants.py
            # Keys.LLM.MOE_LATENT_SIZE "{arch}.moe_latent_size", llama.cpp PR #20411)
            "moe_latent_size": m.get_int("{arch}.moe_latent_size"),
        }
    return out


def _deci(m: _Meta, n_layers: int, d: dict[str, Any]) -> dict[str, Any]:
    """Llama-Nemotron (convert_hf_to_gguf DeciModel): per layer, head_count is 0 where a block
    has no attention (num_attention_heads where it has, or where a linear layer replaces it),
    head_count_kv is 0 without attention, and feed_forward_length is the block's MLP width (0
    for a block without one); read back as the config's block_configs."""
    heads = m.per_layer("{arch}.attention.head_count", n_layers)
    kv = m.per_layer("{arch}.attention.head_count_kv", n_layers)
    ff = m.per_layer("{arch}.feed_forward_length", n_layers)
    h, n_head = d["hidden_size"], d["num_attention_heads"]
    blocks: list[dict[str, Any]] = []
    for i in range(n_layers):
        if kv[i]:
            attention: dict[str, Any] = {"n_heads_in_group": n_head // kv[i]}
        elif heads[i]:
            attention = {"replace_with_linear": True}  # refused by the architecture
        else:
            attention = {"no_op": True}
        ffn: dict[str, Any] = {"no_op": True}
        if ff[i]:
            # the ffn_mult that gives this width back through DeciLM's rounding
            mult = ff[i] * 3 / (2 * h)
            if nas_intermediate(mult, h) != ff[i]:
                raise ReaderError(
                    f"{m.h.name}: layer {i}'s feed_forward_length {ff[i]} is not a DeciLM width"
                    " (a multiple of 256)"
                )
            ffn = {"ffn_mult": mult}
        blocks.append({"attention": attention, "ffn": ffn})
    return {
        "model_type": "nemotron-nas",
        "num_key_value_heads": None,
        "intermediate_size": None,
        "block_configs": blocks,
    }


def _granite_hybrid(
    m: _Meta, tensors: dict[str, GGUFTensor], n_layers: int, d: dict[str, Any]
) -> dict[str, Any]:
    """Granite 4 (conversion/granite.py GraniteHybridModel): a layer is Mamba where its
    head_count_kv is 0; feed_forward_length is the expert width (a dense file's MLP is the
    shared one); inner_size is mamba_expand × hidden; rope.scaling.finetuned switches RoPE."""
    kv = m.per_layer("{arch}.attention.head_count_kv", n_layers)
    heads = m.need("{arch}.ssm.time_step_rank")
    inner = m.need("{arch}.ssm.inner_size")
    experts = m.get_int("{arch}.expert_count", 0) or 0
    ff = d["intermediate_size"]
    rope = m.raw("{arch}.rope.scaling.finetuned")
    out: dict[str, Any] = {
        "model_type": "granitemoehybrid",
        "layer_types": ["attention" if k else "mamba" for k in kv],
        "mamba_n_heads": heads,
        "mamba_d_head": inner // heads,
        "mamba_expand": inner // d["hidden_size"],
        "mamba_d_state": m.need("{arch}.ssm.state_size"),
        "mamba_n_groups": m.need("{arch}.ssm.group_count"),
        "mamba_d_conv": m.need("{arch}.ssm.conv_kernel"),
        "mamba_conv_bias": _has(tensors, "ssm_conv1d.bias")
        or any(n.endswith(".ssm_conv1d.bias") for n in tensors),
        "attention_bias": any(n.endswith(".attn_q.bias") for n in tensors),
        "position_embedding_type": "rope" if rope is True else "nope",
        "num_local_experts": experts,
        "shared_intermediate_size": m.get_int("{arch}.expert_shared_feed_forward_length")
        or (0 if experts else ff),
    }
    if experts:
        out["num_experts_per_tok"] = m.need("{arch}.expert_used_count")
    return out


def _deepseek2(m: _Meta, tensors: dict[str, GGUFTensor]) -> dict[str, Any]:
    experts, used, expert_ff = _moe(m)
    rope = m.need("{arch}.rope.dimension_count")
    # Since 2025 llama.cpp stores MLA as MQA over the latent: key_length = kv_lora_rank + rope,
    # with the per-head sizes in key_length_mla / value_length_mla; older files have the
    # per-head sizes in key_length / value_length.
    qk = m.get_int("{arch}.attention.key_length_mla") or m.need("{arch}.attention.key_length")
    v = m.get_int("{arch}.attention.value_length_mla") or m.need("{arch}.attention.value_length")
    heads = m.need("{arch}.attention.head_count")
    return {
        # DeepSeek-V3/R1 and Kimi-K2 keep a per-expert score-correction bias; V2 does not
        "model_type": "deepseek_v3"
        if _has(tensors, "exp_probs_b.bias")
        or any(t.endswith(".exp_probs_b.bias") for t in tensors)
        else "deepseek_v2",
        "num_key_value_heads": heads,  # MLA: rigfit's from_config reads heads, not kv heads
        "q_lora_rank": m.get_int("{arch}.attention.q_lora_rank") or None,
        "kv_lora_rank": m.need("{arch}.attention.kv_lora_rank"),
        "qk_rope_head_dim": rope,
        "qk_nope_head_dim": qk - rope,
        "v_head_dim": v,
        "n_routed_experts": experts,
        "num_experts_per_tok": used,
        "moe_intermediate_size": expert_ff,
        "n_shared_experts": m.get_int("{arch}.expert_shared_count", 0),
        "first_k_dense_replace": m.get_int("{arch}.leading_dense_block_count", 0),
        "moe_layer_freq": 1,
    }


def _excluded(tensors: dict[str, GGUFTensor], n_layers: int) -> tuple[dict[str, str], list[str]]:
    """Tensors rigfit does not model -> why, and the notes that say so."""
    out: dict[str, str] = {}
    for name in tensors:
        if name in _ROPE_TENSORS:
            out[name] = "RoPE frequency factors"
            continue
        match = _BLOCK.match(name)
        if match and int(match.group(1)) >= n_layers:
            out[name] = "multi-token-prediction layer"
        elif name.endswith((".attn_k_b.weight", ".attn_v_b.weight")):
            # DeepSeek MLA: attn_kv_b split in two for the absorbed kernels; when attn_kv_b
            # is stored too, the split is a second copy of the same weights
            kv_b = name.rsplit(".", 2)[0] + ".attn_kv_b.weight"
            if kv_b in tensors:
                out[name] = "second copy of attn_kv_b"
    notes = []
    for reason in sorted(set(out.values())):
        names = [n for n, r in out.items() if r == reason]
        count = sum(tensors[n].numel for n in names)
        notes.append(
            f"not counted as model weights: {len(names)} tensors ({reason}, {count:,} elements)"
        )
    return out, notes


def map_gguf(header: GGUFHeader, shards: Sequence[GGUFHeader] = ()) -> GGUFMapping:
    """Map a GGUF header (plus the other shards of a split file) and cross-check it."""
    arch_name = header.architecture
    if arch_name not in SUPPORTED_GGUF_ARCHITECTURES:
        raise UnsupportedArchitectureError(
            f"GGUF architecture {arch_name!r} is not supported (supported: "
            + ", ".join(SUPPORTED_GGUF_ARCHITECTURES)
            + ")"
        )
    m = _Meta(header, arch_name)
    tensors = _tensor_map((header, *shards))
    blocks = m.need("{arch}.block_count")
    nextn = m.get_int("{arch}.nextn_predict_layers", 0) or 0
    n_layers = blocks - nextn
    d = _config_dict(m, tensors, n_layers, nextn)
    try:
        config = read(HFConfig, {k: v for k, v in d.items() if v is not None})
    except RecordError as exc:
        raise ReaderError(f"{header.name}: GGUF metadata: {validation_message(exc)}") from None
    arch = from_config(config)
    excluded, notes = _excluded(tensors, n_layers)
    if arch_name in _PER_LAYER_HYBRIDS and config.position_embedding_type != "rope":
        notes.append(
            "Nemotron-H and Granite 4.0-H GGUFs record 1,048,576 tokens as the context length"
            " (no RoPE; convert_hf_to_gguf writes 2**20), which llama.cpp's -c 0 takes"
        )
    file_params = sum(t.numel for n, t in tensors.items() if n not in excluded)
    if file_params != arch.params_total:
        raise UnsupportedArchitectureError(
            f"{header.name}: its tensors hold {file_params:,} parameters but the"
            f" {config.model_type} architecture read from its metadata has"
            f" {arch.params_total:,}; rigfit will not price a shape that differs from the file"
        )
    return GGUFMapping(config, arch, file_params, tuple(sorted(excluded)), tuple(notes))


def arch_from_gguf(header: GGUFHeader, shards: Sequence[GGUFHeader] = ()) -> HFConfig:
    """The config.json keys a GGUF header describes, checked against its tensors."""
    return map_gguf(header, shards).config
