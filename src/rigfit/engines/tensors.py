"""The weight tensors a request loads, each with its layer and its bytes.

Engines place tensors on devices (llama.cpp's layer split and expert offload) or shard them
(vLLM's and SGLang's tensor parallelism); both need bytes per tensor, not only the total. For a
catalog model the bytes come from pricing :meth:`Architecture.tensors` in the weight format;
for a GGUF or safetensors file they come from the file's own headers. The per-head KV rows that
transformers and mlx-lm cache are here too: their length follows from the attention tensors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from rigfit.arch import Architecture, KVLayout, Role
from rigfit.estimate.memory import Request
from rigfit.estimate.weights import tensor_storage
from rigfit.quant import Family

__all__ = ["Kind", "PlacedTensor", "per_head_kv_elems", "request_tensors", "vision_bytes"]


class Kind(Enum):
    """Where an engine puts a tensor: with its layer, or one of the special places."""

    EMBEDDING = "token embedding"
    OUTPUT = "output head and final norm"
    LAYER = "a repeating layer's tensor"
    EXPERT = "a routed expert stack"
    VISION = "vision tower"


@dataclass(frozen=True, slots=True)
class PlacedTensor:
    name: str
    kind: Kind
    layer: int | None
    nbytes: int
    role: Role | None = None  # known for priced inventories; None for a file's tensors


_ROLE_KIND = {Role.TOKEN_EMBD: Kind.EMBEDDING, Role.OUTPUT: Kind.OUTPUT, Role.VISION: Kind.VISION}

# GGUF names blocks "blk.N."; Hugging Face checkpoints "model.layers.N." (or "layers.N.").
_LAYER = re.compile(r"(?:^|\.)(?:blk|layers|h)\.(\d+)\.")
# llama.cpp's expert stacks end in _exps (common.h LLM_FFN_EXPS_REGEX); HF checkpoints keep
# per-expert matrices under ".experts." (Mixtral: block_sparse_moe.experts.N).
_EXPERT = re.compile(r"_(?:ch)?exps\.|\.experts\.\d+\.|\.experts\.(?:gate_up|down)_proj")


def _kind_of_name(name: str) -> tuple[Kind, int | None]:
    m = _LAYER.search(name)
    if m is not None:
        layer = int(m.group(1))
        return (Kind.EXPERT if _EXPERT.search(name) else Kind.LAYER), layer
    low = name.lower()
    if low.startswith(("v.", "mm.", "vision", "visual", "multi_modal")):
        return Kind.VISION, None
    if "embed_tokens" in low or low.startswith("token_embd"):
        return Kind.EMBEDDING, None
    return Kind.OUTPUT, None  # output.weight, output_norm, lm_head, model.norm


def request_tensors(req: Request) -> tuple[PlacedTensor, ...]:
    """Every tensor the request loads, with bytes (the file's own when it has them)."""
    if req.file_tensors:
        return req.file_tensors
    key = ("placed", req.weight_format)
    cached = req.arch.cache.get(key)
    if isinstance(cached, tuple):
        return cached
    out = []
    for t in req.arch.tensors():
        if t.role is Role.VISION and req.weight_format.family is Family.GGUF:
            continue  # llama.cpp loads the vision tower from its own mmproj file
        _, nbytes = tensor_storage(t, req.weight_format, req.arch)
        kind = Kind.EXPERT if t.role.is_expert else _ROLE_KIND.get(t.role, Kind.LAYER)
        if t.layer is None and kind is Kind.LAYER:
            kind = Kind.OUTPUT  # output_norm
        out.append(PlacedTensor(t.name, kind, t.layer, nbytes, t.role))
    result = tuple(out)
    req.arch.cache[key] = result
    return result


def vision_bytes(req: Request, bytes_per_param: int = 2) -> int:
    """Bytes of the vision tower stored at ``bytes_per_param`` (an f16 mmproj file: 2)."""
    return sum(t.numel for t in req.arch.tensors() if t.role is Role.VISION) * bytes_per_param


def per_head_kv_elems(arch: Architecture) -> int:
    """K and V elements one token keeps in one layer of a per-head cache (transformers'
    DynamicCache, mlx-lm's KVCache): MLA models cache the decompressed per-head keys (nope +
    rope) and values, not the latent (transformers modeling_deepseek_v2.py l.367-379; mlx-lm
    deepseek_v2.py ``keys = concat(k_nope, k_pe repeated per head)``)."""
    return arch.attention.kv_elems_per_token(KVLayout.PER_HEAD)


def kind_of_name(name: str) -> tuple[Kind, int | None]:
    """Kind and layer of a tensor known only by its name (GGUF or Hugging Face naming).

    >>> kind_of_name("blk.3.ffn_up_exps.weight")
    (<Kind.EXPERT: 'a routed expert stack'>, 3)
    >>> kind_of_name("model.layers.10.self_attn.q_proj.weight")
    (<Kind.LAYER: "a repeating layer's tensor">, 10)
    >>> kind_of_name("token_embd.weight")[0]
    <Kind.EMBEDDING: 'token embedding'>
    """
    return _kind_of_name(name)
