"""The inference memory estimate: weights, KV cache or state, activations, runtime reserve.

An :class:`EngineProfile` turns a :class:`Request` into :class:`Term` objects, each with its
bytes, its formula and its inputs. Engines (llama.cpp, vLLM, SGLang, transformers) plug in
their own profiles; :data:`GENERIC` is the documented default (docs/estimate.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from typing import Protocol

from rigfit.arch import Architecture
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.settings import DEFAULT_SETTINGS, EngineSettings
from rigfit.estimate.split import Split
from rigfit.estimate.terms import KVPool, Summary, Term, TermKind
from rigfit.estimate.weights import WeightBreakdown, weight_breakdown
from rigfit.frozen import frozen
from rigfit.hardware import System
from rigfit.quant import KVCacheType, WeightFormat

__all__ = [
    "DEFAULT_CTX_TOKENS",
    "MAX_SEQS",
    "EngineProfile",
    "Estimate",
    "KVPool",
    "ProfileBase",
    "Request",
    "Term",
    "estimate",
]

MAX_SEQS = 65_536
# The context priced when neither the user nor the engine sets one (transformers, MLX): 8,192
# tokens, or the model's maximum if smaller; a working length, not a measurement.
DEFAULT_CTX_TOKENS = 8192  # an upper bound on concurrent sequences, to keep every search bounded


@frozen
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
    # the weights a file's headers give (GGUF, safetensors: exact bytes and every tensor);
    # None: priced from the architecture's tensor inventory in ``weight_format``
    file_weights: WeightBreakdown | None = None
    # the format of the checkpoint the engine loads (a catalog model's published one); an
    # engine that can quantize at load time (vLLM's --quantization fp8) goes from it to
    # ``weight_format``. None: the checkpoint is in ``weight_format`` already.
    source_format: WeightFormat | None = None
    # an embedding model run as a pooling model (one pass, a pooled vector, no tokens
    # generated): engines that replay their pooling runs price it, the others refuse
    pooling: bool = False

    def quantized_at_load(self) -> bool:
        """Whether the engine must quantize the checkpoint to ``weight_format`` as it loads."""
        return self.source_format is not None and self.source_format is not self.weight_format

    @property
    def loaded_format(self) -> WeightFormat:
        """The format of the weights this request loads, without pricing them."""
        return self.file_weights.format if self.file_weights is not None else self.weight_format

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

    def check(self, req: Request) -> None:
        """Raise the engine's one-line refusal when it cannot run ``req``."""
        ...

    def resolve(self, req: Request) -> EngineProfile:
        """The profile that prices ``req``: itself, or the engine an automatic choice picks."""
        ...

    def default_ctx(self, req: Request) -> tuple[int, str]:
        """The context the engine takes when none is given, and why; ``req`` is the request
        at the model's maximum context."""
        ...

    def capacities(self, req: Request) -> tuple[int, ...]:
        """Bytes the engine may use on each device (vLLM: a fraction of the total)."""
        ...

    def kv_pool(self, req: Request) -> KVPool | None:
        """The KV pool an engine pre-allocates (None when the KV cache grows as asked)."""
        ...

    def notes(self, req: Request) -> tuple[str, ...]:
        """What the user should know about this plan under this engine."""
        ...

    def split(self, req: Request) -> Split:
        """How the engine divides one token's work over the devices (for speed)."""
        ...

    def flash_attention(self, req: Request) -> bool:
        """Whether the engine runs ``req``'s attention as a fused (flash) kernel, as given or
        as its own default (for speed: without it the score matrix is written and read)."""
        ...

    def backend(self, req: Request) -> str | None:
        """The GPU backend the engine's build runs ``req`` on, where one engine has several
        (llama.cpp's --backend); None for the rest."""
        ...

    def kernels(self, req: Request) -> str:
        """The kernels that run ``req``, as the speed calibration keys them: the engine's name,
        or its backend's where one engine builds several (llama.cpp's Vulkan)."""
        ...


class ProfileBase(ABC):
    """Defaults of an engine profile: the whole device is usable, no pool, no notes."""

    name = "base"
    description = ""

    @abstractmethod
    def terms(self, req: Request) -> list[Term]:
        """The engine's terms for ``req`` (each engine defines them)."""

    def check(self, req: Request) -> None:
        refuse_pooling(req, self.name)

    def resolve(self, req: Request) -> EngineProfile:
        return self

    def default_ctx(self, req: Request) -> tuple[int, str]:
        ctx = min(DEFAULT_CTX_TOKENS, req.arch.context_length)
        return ctx, (
            f"rigfit's default context ({ctx:,} tokens): {self.name} grows its cache with the"
            " conversation and sets no length of its own; give --ctx"
        )

    def capacities(self, req: Request) -> tuple[int, ...]:
        return req.system.capacities_bytes

    def kv_pool(self, req: Request) -> KVPool | None:
        return None

    def notes(self, req: Request) -> tuple[str, ...]:
        return ()

    def split(self, req: Request) -> Split:
        return Split.layers(req.arch.num_layers, req.system.n_devices)

    def flash_attention(self, req: Request) -> bool:
        # vLLM, SGLang and MLX run fused attention kernels; llama.cpp, Ollama and
        # transformers decide per request (their profiles say how)
        return True if req.engine.flash_attn is None else req.engine.flash_attn

    def backend(self, req: Request) -> str | None:
        return None

    def kernels(self, req: Request) -> str:
        return self.name


# ---- the estimate ----------------------------------------------------------------------------


def refuse_pooling(req: Request, engine: str) -> None:
    """The one-line refusal of an engine whose pooling (embedding) runs rigfit does not
    replay."""
    if req.pooling:
        raise UnsupportedArchitectureError(
            f"rigfit does not replay embedding runs under {engine}; it prices embedding models"
            " under vLLM (--runner pooling), SGLang (--is-embedding) and llama.cpp"
            " (--embedding): use --engine vllm, sglang or llama.cpp"
        )


@frozen
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
    def needed_per_gpu_bytes(self) -> int:
        """Bytes the request itself needs on the tightest GPU. An engine that pre-allocates
        its KV pool takes :attr:`per_gpu_bytes` whatever the request; of that pool the
        request needs only its sequences' share, which is what curves and tables compare."""
        if self.pool is None:
            return self.per_gpu_bytes
        i = self.tightest_index
        kv = sum(t.on_device(i) for t in self.terms if t.kind is TermKind.KV_CACHE)
        return self.per_gpu_bytes - kv + self.pool.demand_per_gpu_bytes

    @property
    def needed_total_bytes(self) -> int:
        """Bytes the request needs on all GPUs (see :attr:`needed_per_gpu_bytes`)."""
        if self.pool is None:
            return self.total_bytes
        kv = sum(t.total_bytes for t in self.terms if t.kind is TermKind.KV_CACHE)
        n = self.request.system.n_devices
        return self.total_bytes - kv + self.pool.demand_per_gpu_bytes * n

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
    def host_used_bytes(self) -> int:
        """System RAM the plan takes: its host terms, and on a unified-memory machine its GPU
        terms too (one pool of memory serves both)."""
        unified = self.request.system.gpu.unified_memory
        return self.host_bytes + (self.total_bytes if unified else 0)

    @property
    def host_headroom_bytes(self) -> int | None:
        """Free system RAM given ``--ram``; negative is the shortfall; None when not given."""
        ram = self.request.system.host_ram_bytes
        return None if ram is None else ram - self.host_used_bytes

    @property
    def fits(self) -> bool:
        host = self.host_headroom_bytes
        return self.headroom_per_gpu_bytes >= 0 and (host is None or host >= 0)

    @property
    def shortfall_bytes(self) -> int:
        """Bytes missing on the most loaded GPU (0 when it fits)."""
        return max(0, -self.headroom_per_gpu_bytes)

    @property
    def host_shortfall_bytes(self) -> int:
        """System RAM missing (0 when it fits or no ``--ram`` was given)."""
        host = self.host_headroom_bytes
        return 0 if host is None else max(0, -host)


def estimate(req: Request, profile: EngineProfile | None = None) -> Estimate:
    """Estimate the memory of ``req`` under ``profile``: by default, and under ``auto``, the
    engine its weight format and device imply (:mod:`rigfit.engines.choice`)."""
    if profile is None:
        from rigfit.engines.choice import AUTO

        profile = AUTO
    profile = profile.resolve(req)
    return Estimate(
        req,
        profile.name,
        tuple(profile.terms(req)),
        capacities=profile.capacities(req),
        pool=profile.kv_pool(req),
        notes=profile.notes(req),
    )
