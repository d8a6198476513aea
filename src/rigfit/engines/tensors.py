"""What engines ask of a request's tensors: the list they place or shard, the vision tower,
the per-head KV row.

Engines place tensors on devices (llama.cpp's layer split and expert offload) or shard them
(vLLM's and SGLang's tensor parallelism); both need bytes per tensor, not only the total. The
list is the request's one weights value (:class:`~rigfit.estimate.weights.WeightBreakdown`):
priced from :meth:`Architecture.tensors` for a catalog model, read from the headers for a GGUF
or safetensors file.
"""

from __future__ import annotations

from rigfit.arch import Architecture, KVLayout
from rigfit.estimate.memory import Request
from rigfit.estimate.weights import Kind, PlacedTensor, kind_of_name

# Kind, PlacedTensor and kind_of_name live with the weights they describe (estimate/weights.py)
__all__ = [
    "Kind",
    "PlacedTensor",
    "kind_of_name",
    "per_head_kv_elems",
    "request_tensors",
    "vision_bytes",
]


def request_tensors(req: Request) -> tuple[PlacedTensor, ...]:
    """Every tensor the request loads, with bytes (the file's own when it has them): the
    tensors of its one :class:`~rigfit.estimate.weights.WeightBreakdown`."""
    return req.weights().tensors


def vision_bytes(req: Request, bytes_per_param: int = 2) -> int:
    """Bytes of the encoder towers (vision, and audio where there is one: llama.cpp's mmproj
    holds both) stored at ``bytes_per_param`` (an f16 mmproj file: 2)."""
    return req.arch.tower_params * bytes_per_param


def per_head_kv_elems(arch: Architecture) -> int:
    """K and V elements one token keeps in one layer of a per-head cache (transformers'
    DynamicCache, mlx-lm's KVCache): MLA models cache the decompressed per-head keys (nope +
    rope) and values, not the latent (transformers modeling_deepseek_v2.py l.367-379; mlx-lm
    deepseek_v2.py ``keys = concat(k_nope, k_pe repeated per head)``)."""
    return arch.attention.kv_elems_per_token(KVLayout.PER_HEAD)
