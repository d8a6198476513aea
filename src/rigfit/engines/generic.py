"""The generic profile: weights and KV split evenly, no engine's quirks.

No program runs this way; it is kept as a peer of the engines for comparison (``--engine
generic``) and for the property tests of the arithmetic it shares with them (docs/estimate.md).
It is never the default: that is the engine a format and device imply (rigfit.engines.choice).
"""

from __future__ import annotations

from rigfit.arch import Architecture, AttentionKind, LayerKind
from rigfit.estimate.memory import EngineProfile, ProfileBase, Request, refuse_pooling
from rigfit.estimate.terms import Term, TermKind
from rigfit.estimate.weights import WeightBreakdown
from rigfit.quant import KVCacheType
from rigfit.units import MIB

__all__ = ["GENERIC", "RESERVE_PER_GPU_BYTES", "GenericProfile"]

# Prefill runs in chunks of 512 tokens: llama.cpp's default n_ubatch (common/common.h,
# n_ubatch = 512); vLLM and SGLang chunk prefill similarly.
PREFILL_CHUNK_TOKENS = 512
# Activations are held in f32 during the forward pass (ggml computes in F32).
ACTIVATION_BYTES = 4
# Logits are f32, one row of vocab_size per sequence for the token being sampled.
LOGIT_BYTES = 4
# Per-device runtime reserve: the CUDA/ROCm context, cuBLAS/hipBLAS workspaces and allocator
# slack. 512 MiB is a round working figure, not a measurement: the engine profiles
# (rigfit.engines) replace it with each engine's own sourced figures. Apple's Metal has no
# separate context of that size, and its capacity is already the GPU working-set limit: 0 there.
RESERVE_PER_GPU_BYTES = 512 * MIB


def _activation_elems_per_token(arch: Architecture) -> int:
    """Widest per-token working set of one layer: residual, normed input, q/k/v, attention
    output and the gated FFN's three intermediates (routed experts used per token + shared)."""
    cached = arch.cache.get("activation_elems")
    if isinstance(cached, int):
        return cached
    a, h = arch.attention, arch.hidden_size
    if a.kind is AttentionKind.MLA:
        assert a.v_head_dim is not None
        assert a.qk_nope_head_dim is not None
        qkv = a.num_heads * a.head_dim + a.num_heads * (a.qk_nope_head_dim + a.v_head_dim)
        attn_out = a.num_heads * a.v_head_dim
    else:
        qkv, attn_out = arch.widest_qkv, arch.widest_attn_out
    if arch.linear_attention is not None:
        s = arch.linear_attention
        qkv = max(qkv, 2 * s.key_dim + 2 * s.value_dim)
    if arch.mamba is not None:
        qkv = max(qkv, arch.mamba.working_width())
    elems = 2 * h + qkv + attn_out + 3 * arch.widest_ffn
    arch.cache["activation_elems"] = elems
    return elems


class GenericProfile(ProfileBase):
    """The documented default: no engine's quirks, every constant above with its reason."""

    name = "generic"
    description = (
        "weights and KV split evenly across GPUs; prefill in 512-token chunks with f32"
        " activations; f32 logits per sequence; 512 MiB runtime reserve per GPU"
    )

    def terms(self, req: Request) -> list[Term]:
        refuse_pooling(req, "the generic estimate")
        arch, n = req.arch, req.system.n_devices
        wb: WeightBreakdown = req.weights()
        terms = [
            Term(
                TermKind.WEIGHTS,
                f"weights ({req.weight_format.label})",
                wb.total_bytes,
                _split(wb.total_bytes, n),
                "sum over tensors of bytes(shape, storage type); all experts resident",
                wb.inputs,
            )
        ]
        kv_seq = arch.kv_cache_bytes(req.ctx_tokens, req.kv_type)
        kv_total = kv_seq * req.seqs
        per_tok = req.kv_type.row_bytes(arch.attention.kv_elems_per_token())
        terms.append(
            Term(
                TermKind.KV_CACHE,
                f"KV cache ({req.kv_type.flag})",
                kv_total,
                _split(kv_total, n),
                "seqs × Σ_layers min(ctx, window) × bytes per token per layer",
                {
                    "seqs": req.seqs,
                    "ctx_tokens": req.ctx_tokens,
                    "kv_layers": arch.kv_layers,
                    "sliding_layers": arch.count_layers(LayerKind.SLIDING),
                    "elems_per_token_per_layer": arch.attention.kv_elems_per_token(),
                    "bytes_per_token_per_layer": per_tok,
                    "bytes_per_token_all_layers": arch.kv_bytes_per_token(req.kv_type),
                },
            )
        )
        if arch.has_state:
            elem = 4 if req.kv_type is KVCacheType.F32 else 2  # state kept at model precision
            state = arch.state_bytes(elem) * req.seqs
            terms.append(
                Term(
                    TermKind.STATE,
                    "recurrent state",
                    state,
                    _split(state, n),
                    "seqs × Σ state layers ((kernel-1) × conv_dim + the recurrent state) × bytes",
                    {
                        "seqs": req.seqs,
                        "state_layers": arch.state_layers,
                        "elems_per_sequence": arch.state_bytes(1),
                        "bytes_per_elem": elem,
                    },
                )
            )
        chunk = min(PREFILL_CHUNK_TOKENS, req.ctx_tokens * req.seqs)
        per_token = _activation_elems_per_token(arch)
        act = chunk * per_token * ACTIVATION_BYTES + req.seqs * arch.vocab_size * LOGIT_BYTES
        terms.append(
            Term(
                TermKind.ACTIVATIONS,
                "activations and logits",
                act * n,
                act,
                "chunk × widest layer working set × 4 B + seqs × vocab × 4 B, on each GPU",
                {
                    "chunk_tokens": chunk,
                    "elems_per_token": per_token,
                    "vocab_size": arch.vocab_size,
                    "seqs": req.seqs,
                },
            )
        )
        reserve = 0 if req.system.gpu.unified_memory else RESERVE_PER_GPU_BYTES
        terms.append(
            Term(
                TermKind.RESERVE,
                "runtime reserve",
                reserve * n,
                reserve,
                "per GPU: CUDA/ROCm context and library workspaces (0 on Apple Metal)",
                {"per_gpu_bytes": reserve},
            )
        )
        return terms


def _split(total: int, n: int) -> int:
    """Bytes on the most loaded of ``n`` GPUs when ``total`` is split as evenly as possible."""
    return -(-total // n)


GENERIC: EngineProfile = GenericProfile()
