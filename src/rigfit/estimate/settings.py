"""The engine options a plan depends on: parallelism, offload and each engine's memory knobs.

Every field is the value of one engine flag (named beside it); ``None`` means "the engine's
default", which each engine profile fills in from its own versioned constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rigfit.errors import InvalidSpecError

__all__ = ["DEFAULT_SETTINGS", "MAX_BATCH_TOKENS", "EngineSettings"]

# Bound on token-count options, as for contexts (units.MAX_TOKENS = 2^30): far above any engine's
# real batch sizes, and it keeps every product of tokens × bytes inside exact integer ranges.
MAX_BATCH_TOKENS = 1 << 30


def _check_fraction(name: str, flag: str, value: float | None) -> None:
    if value is not None and not 0.0 < value <= 1.0:
        raise InvalidSpecError(f"{flag} must be in (0, 1], got {value} ({name})")


def _check_range(flag: str, value: int | None, lo: int, hi: int) -> None:
    if value is not None and not lo <= value <= hi:
        raise InvalidSpecError(f"{flag} must be between {lo:,} and {hi:,}, got {value:,}")


@dataclass(frozen=True)
class EngineSettings:
    """Options of the engine a request runs under (the generic profile ignores them)."""

    version: str | None = None  # engine version whose constants apply; None: the reference
    tp: int | None = None  # vLLM/SGLang --tensor-parallel-size; None: every GPU (over pp)
    pp: int = 1  # vLLM --pipeline-parallel-size, SGLang --pp-size
    ngl: int | None = None  # llama.cpp -ngl: repeating layers on GPU; None: all (-ngl 999)
    cpu_moe: bool = False  # llama.cpp --cpu-moe: every routed expert tensor in system RAM
    n_cpu_moe: int = 0  # llama.cpp --n-cpu-moe N: the experts of the first N layers in RAM
    tensor_split: tuple[float, ...] | None = None  # llama.cpp --tensor-split, one per device
    flash_attn: bool | None = None  # llama.cpp -fa on/off; None: auto
    n_ubatch: int | None = None  # llama.cpp -ub (physical batch)
    gpu_memory_utilization: float | None = None  # vLLM --gpu-memory-utilization
    mem_fraction_static: float | None = None  # SGLang --mem-fraction-static
    max_num_batched_tokens: int | None = None  # vLLM --max-num-batched-tokens
    max_num_seqs: int | None = None  # vLLM --max-num-seqs
    block_size: int | None = None  # vLLM --block-size (tokens per KV block)
    enforce_eager: bool = False  # vLLM --enforce-eager: no CUDA graphs
    attn_implementation: str | None = None  # transformers attn_implementation; None: sdpa
    mlx_bits: int | None = None  # mlx_lm.convert -q --q-bits N; None: unquantized F16/BF16

    def __post_init__(self) -> None:
        _check_range("--tensor-parallel-size", self.tp, 1, 1024)
        _check_range("--pipeline-parallel-size", self.pp, 1, 1024)
        _check_range("-ngl", self.ngl, 0, 100_000)
        _check_range("--n-cpu-moe", self.n_cpu_moe, 0, 100_000)
        _check_range("-ub", self.n_ubatch, 1, MAX_BATCH_TOKENS)
        _check_range("--max-num-batched-tokens", self.max_num_batched_tokens, 1, MAX_BATCH_TOKENS)
        _check_range("--max-num-seqs", self.max_num_seqs, 1, 1 << 20)
        _check_range("--block-size", self.block_size, 1, 1 << 16)
        _check_fraction("vLLM", "--gpu-memory-utilization", self.gpu_memory_utilization)
        _check_fraction("SGLang", "--mem-fraction-static", self.mem_fraction_static)
        if self.tensor_split is not None:
            if not self.tensor_split or any(
                not math.isfinite(x) or x < 0 for x in self.tensor_split
            ):
                raise InvalidSpecError(
                    "--tensor-split takes one finite, non-negative proportion per GPU, e.g. 3,1"
                )
            total = sum(self.tensor_split)
            if not 0 < total < math.inf:
                raise InvalidSpecError(
                    "--tensor-split needs at least one positive proportion, and a finite sum"
                )


# The engine defaults every request starts from (one shared, immutable instance)
DEFAULT_SETTINGS = EngineSettings()
