"""The inference memory estimate: weights, KV cache or state, activations, runtime reserve.

An :class:`EngineProfile` turns a :class:`Request` into :class:`Term` objects, each with its
bytes, its formula and its inputs. Engines (llama.cpp, vLLM, SGLang, transformers) plug in
their own profiles; :data:`GENERIC` is the documented default (docs/estimate.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from rigfit.arch import Architecture, AttentionKind, LayerKind
from rigfit.errors import InvalidSpecError
from rigfit.estimate.settings import DEFAULT_SETTINGS, EngineSettings
from rigfit.estimate.terms import KVPool, Summary, Term, TermKind
from rigfit.estimate.weights import WeightBreakdown, weight_breakdown
from rigfit.hardware import System
from rigfit.quant import KVCacheType, WeightFormat
from rigfit.units import MIB

if TYPE_CHECKING:
    from rigfit.engines.tensors import PlacedTensor

__all__ = [
    "GENERIC",
    "MAX_SEQS",
    "EngineProfile",
    "Estimate",
    "GenericProfile",
    "KVPool",
    "ProfileBase",
    "Request",
    "Term",
    "estimate",
]

MAX_SEQS = 65_536  # an upper bound on concurrent sequences, to keep every search bounded


@dataclass(frozen=True)
class Request:
    """What the user asks: a model in a format, a context, a concurrency, on a system."""

    arch: Architecture
    weight_format: WeightFormat
    kv_type: KVCacheType
    ctx_tokens: int
    seqs: int
    system: System
    allow_ctx_over_max: bool = False
    engine: EngineSettings = DEFAULT_SETTINGS
    # exact weight bytes read from a file's headers (GGUF, safetensors); None: priced from
    # the architecture's tensor inventory in ``weight_format``
    file_weights: WeightBreakdown | None = None
    # the same file's tensors, for engines that place or shard them (rigfit.engines.tensors)
    file_tensors: tuple[PlacedTensor, ...] = ()

    def weights(self) -> WeightBreakdown:
        """The weights this request loads: the file's own bytes, or the priced inventory."""
        if self.file_weights is not None:
            return self.file_weights
        return weight_breakdown(self.arch, self.weight_format)

    def __post_init__(self) -> None:
        if self.ctx_tokens <= 0:
            raise InvalidSpecError(f"context must be at least 1 token, got {self.ctx_tokens}")
        if self.ctx_tokens > self.arch.context_length and not self.allow_ctx_over_max:
            raise InvalidSpecError(
                f"context {self.ctx_tokens:,} exceeds the model's maximum of"
                f" {self.arch.context_length:,} tokens (allowed: 1 to"
                f" {self.arch.context_length:,}; force it with --force-ctx)"
            )
        if not 1 <= self.seqs <= MAX_SEQS:
            raise InvalidSpecError(
                f"concurrent sequences must be between 1 and {MAX_SEQS}, got {self.seqs}"
            )


class EngineProfile(Protocol):
    """How an inference engine spends memory; one implementation per engine."""

    name: str
    description: str

    def terms(self, req: Request) -> list[Term]: ...

    def capacities(self, req: Request) -> tuple[int, ...]:
        """Bytes the engine may use on each device (vLLM: a fraction of the total)."""
        ...

    def kv_pool(self, req: Request) -> KVPool | None:
        """The KV pool an engine pre-allocates (None when the KV cache grows as asked)."""
        ...

    def notes(self, req: Request) -> tuple[str, ...]:
        """What the user should know about this plan under this engine."""
        ...


class ProfileBase(ABC):
    """Defaults of an engine profile: the whole device is usable, no pool, no notes."""

    name = "base"
    description = ""

    @abstractmethod
    def terms(self, req: Request) -> list[Term]:
        """The engine's terms for ``req`` (each engine defines them)."""

    def capacities(self, req: Request) -> tuple[int, ...]:
        return req.system.capacities_bytes

    def kv_pool(self, req: Request) -> KVPool | None:
        return None

    def notes(self, req: Request) -> tuple[str, ...]:
        return ()


# ---- the generic profile -------------------------------------------------------------------

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
        qkv = (a.num_heads + 2 * a.num_kv_heads) * a.head_dim
        attn_out = a.num_heads * a.head_dim
    if arch.linear_attention is not None:
        s = arch.linear_attention
        qkv = max(qkv, 2 * s.key_dim + 2 * s.value_dim)
    ffn = 0
    for layer in arch.layers:
        if layer.moe:
            assert arch.moe is not None
            m = arch.moe
            width = m.experts_per_token * m.expert_intermediate_size + m.shared_intermediate_size
        else:
            width = layer.dense_intermediate_size
        ffn = max(ffn, width)
    elems = 2 * h + qkv + attn_out + 3 * ffn
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
        if arch.linear_attention is not None:
            elem = 4 if req.kv_type is KVCacheType.F32 else 2  # state kept at model precision
            state = arch.state_bytes(elem) * req.seqs
            terms.append(
                Term(
                    TermKind.STATE,
                    "recurrent state",
                    state,
                    _split(state, n),
                    "seqs × linear layers × ((kernel-1) × conv_dim + v_heads × d_k × d_v) × bytes",
                    {
                        "seqs": req.seqs,
                        "linear_layers": arch.count_layers(LayerKind.LINEAR),
                        "elems_per_layer": arch.linear_attention.state_elems(),
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


# ---- the estimate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """Where the memory goes, per GPU and in total, and whether it fits."""

    request: Request
    profile: str
    terms: tuple[Term, ...]
    capacities: tuple[int, ...] = ()  # usable bytes per device; empty: the system's capacity
    pool: KVPool | None = None
    notes: tuple[str, ...] = ()

    def term_bytes(self, key: str) -> int:
        """Bytes of the terms whose JSON key is ``key`` (``host_weights`` for host weights)."""
        return sum(t.total_bytes for t in self.terms if t.key == key)

    def summary_bytes(self, group: Summary) -> int:
        """Bytes on all GPUs of every term in ``group``: the five groups add up to
        :attr:`total_bytes` by construction."""
        return sum(t.total_bytes for t in self.terms if not t.host and t.kind.summary is group)

    @cached_property
    def total_bytes(self) -> int:
        """Bytes on all GPUs together (host terms excluded)."""
        return sum(t.total_bytes for t in self.terms if not t.host)

    @cached_property
    def host_bytes(self) -> int:
        """System RAM the plan uses: offloaded weights, mmapped embeddings, host buffers."""
        return sum(t.total_bytes for t in self.terms if t.host)

    @cached_property
    def device_capacities(self) -> tuple[int, ...]:
        return self.capacities or self.request.system.capacities_bytes

    @cached_property
    def device_bytes(self) -> tuple[int, ...]:
        """Bytes on each device, in ``System.devices`` order."""
        n = self.request.system.n_devices
        if not any(t.per_device for t in self.terms):  # every device carries per_gpu_bytes
            return (sum(t.per_gpu_bytes for t in self.terms if not t.host),) * n
        return tuple(sum(t.on_device(i) for t in self.terms) for i in range(n))

    @cached_property
    def tightest_index(self) -> int:
        """Index of the device with the least headroom."""
        caps, used = self.device_capacities, self.device_bytes
        if len(used) == 1:
            return 0
        return min(range(len(used)), key=lambda i: (caps[i] - used[i], i))

    @property
    def per_gpu_bytes(self) -> int:
        """Bytes on the tightest GPU (the most loaded one when all are alike)."""
        return self.device_bytes[self.tightest_index]

    @property
    def capacity_per_gpu_bytes(self) -> int:
        return self.device_capacities[self.tightest_index]

    @property
    def capacity_total_bytes(self) -> int:
        return sum(self.device_capacities)

    @property
    def headroom_per_gpu_bytes(self) -> int:
        """Free bytes on the tightest GPU; negative is the shortfall.

        An engine that pre-allocates its KV pool (vLLM, SGLang) takes its whole budget
        whatever the request: there the headroom is what the pool has left once the
        request's sequences are in it (negative: the bytes the pool lacks)."""
        if self.pool is not None:
            return self.pool.budget_per_gpu_bytes - self.pool.demand_per_gpu_bytes
        i = self.tightest_index
        return self.device_capacities[i] - self.device_bytes[i]

    @property
    def fits(self) -> bool:
        return self.headroom_per_gpu_bytes >= 0

    @property
    def shortfall_bytes(self) -> int:
        """Bytes missing on the most loaded GPU (0 when it fits)."""
        return max(0, -self.headroom_per_gpu_bytes)


def estimate(req: Request, profile: EngineProfile = GENERIC) -> Estimate:
    """Estimate the memory of ``req`` under ``profile``."""
    return Estimate(
        req,
        profile.name,
        tuple(profile.terms(req)),
        capacities=profile.capacities(req),
        pool=profile.kv_pool(req),
        notes=profile.notes(req),
    )
