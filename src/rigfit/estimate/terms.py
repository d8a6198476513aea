"""Typed memory terms: what a byte is spent on (its kind) and where it lives (a GPU or RAM).

Every engine reports its memory as :class:`Term` objects. A term's :class:`TermKind` is a closed
set, and each kind belongs to one :class:`Summary` group, so the summary fields of a report
(weights, KV cache, state, activations, reserve) are sums over kinds and add up to the total by
construction. A term's location is the GPU (``host=False``, bytes per device) or the host's
system RAM (``host=True``).
"""

from __future__ import annotations

from dataclasses import field
from enum import StrEnum

from rigfit.frozen import frozen

__all__ = ["KVPool", "Summary", "Term", "TermKind"]


class Summary(StrEnum):
    """The five summary fields of a report; every term kind adds to exactly one."""

    WEIGHTS = "weights"
    KV_CACHE = "kv_cache"
    STATE = "state"
    ACTIVATIONS = "activations"
    RESERVE = "reserve"


class TermKind(StrEnum):
    """What a term's bytes hold. The value is the term's key in the JSON contract."""

    summary: Summary

    def __new__(cls, value: str, summary: Summary) -> TermKind:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.summary = summary
        return obj

    WEIGHTS = ("weights", Summary.WEIGHTS)
    # a vision projector file loaded beside the model (llama.cpp's mmproj)
    MMPROJ = ("mmproj", Summary.WEIGHTS)
    KV_CACHE = ("kv_cache", Summary.KV_CACHE)
    # SGLang's request-to-token index of its KV pool
    REQ_TO_TOKEN = ("req_to_token", Summary.KV_CACHE)
    STATE = ("state", Summary.STATE)
    ACTIVATIONS = ("activations", Summary.ACTIVATIONS)
    # llama.cpp's compute buffers
    COMPUTE = ("compute", Summary.ACTIVATIONS)
    # vLLM's rotary cos/sin cache
    ROTARY = ("rotary", Summary.ACTIVATIONS)
    # transformers' concatenated K/V copy during attention
    KV_CONCAT = ("kv_concat", Summary.ACTIVATIONS)
    # llama.cpp's logits buffer
    OUTPUT = ("output", Summary.ACTIVATIONS)
    RESERVE = ("reserve", Summary.RESERVE)
    # vLLM's memory outside PyTorch (NCCL, cuBLAS, custom all-reduce)
    NON_TORCH = ("non_torch", Summary.RESERVE)
    # SGLang's CUDA context, torch and NCCL before the weights load
    CONTEXT = ("context", Summary.RESERVE)


@frozen
class Term:
    """One part of the estimate, in bytes, with the formula that produced it.

    A GPU term gives the bytes on the most loaded GPU (``per_gpu_bytes``) and, when devices
    differ, the bytes on each (``per_device``, in ``System.devices`` order). A host term
    (``host=True``: offloaded layers or experts, mmapped embeddings, pinned output buffers) is
    system RAM and counts against no GPU.
    """

    kind: TermKind
    label: str
    total_bytes: int  # across all GPUs (or in RAM, for a host term)
    per_gpu_bytes: int  # on the most loaded GPU (0 for a host term)
    formula: str
    inputs: dict[str, int | str | float] = field(default_factory=dict)
    per_device: tuple[int, ...] = ()  # empty: per_gpu_bytes on every device
    host: bool = False

    @property
    def key(self) -> str:
        """The term's key in the JSON contract: its kind, ``host_`` first for host memory
        (but ``output``: llama.cpp's logits buffer is host memory only, and schema 1 named it
        so)."""
        prefixed = self.host and self.kind is not TermKind.OUTPUT
        return f"host_{self.kind.value}" if prefixed else self.kind.value

    def on_device(self, i: int) -> int:
        if self.host:
            return 0
        return self.per_device[i] if self.per_device else self.per_gpu_bytes


@frozen
class KVPool:
    """A pre-allocated KV cache (vLLM's blocks, SGLang's token pool): what it holds.

    An engine with a pool takes its whole budget at start-up whatever the request needs; the
    request fits when its sequences' KV (``demand_per_gpu_bytes``) fits in the pool.
    """

    budget_per_gpu_bytes: int  # bytes the engine gives the KV cache on each GPU (<0: none)
    bytes_per_token_per_gpu: int  # one token's KV over the layers that GPU holds
    tokens: int  # tokens the pool holds ("GPU KV cache size", "max_total_num_tokens")
    block_tokens: int = 1
    blocks: int | None = None  # vLLM "# GPU blocks" (per GPU)
    max_concurrency: float | None = None  # vLLM "Maximum concurrency for N tokens per request"
    formula: str = ""
    # bytes the request's sequences take in the pool on the tightest GPU (0: not priced)
    demand_per_gpu_bytes: int = 0
