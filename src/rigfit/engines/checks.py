"""Requests the tensor-parallel GPU servers (vLLM, SGLang) refuse, with one message each.

Both shard every layer evenly over identical CUDA/ROCm GPUs, load safetensors checkpoints and
keep their KV cache in the model dtype or FP8; rigfit does not replay either yet for
Qwen3-Next's linear-attention layers, and llama.cpp's placement options mean nothing to them.
Each engine passes its name, the formats and KV types it allows, and how to say them. Their
``--engine-version`` strings are read, and refused, the same way.
"""

from __future__ import annotations

import re

from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import Request
from rigfit.quant import Family, KVCacheType

__all__ = ["parse_engine_version", "refuse_for_tp_engine"]


def parse_engine_version(
    version: str | None, engine: str, reference: tuple[int, int, int]
) -> tuple[int, int, int]:
    """``0.5.3.post1`` or ``v0.11.0`` -> (major, minor, patch); None -> ``reference``; any
    other string is refused, with the reference as the example."""
    if version is None:
        return reference
    m = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if m is None:
        example = ".".join(map(str, reference))
        raise InvalidSpecError(f"{engine} version {version!r} is not like {example}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def refuse_for_tp_engine(
    req: Request,
    engine: str,
    *,
    formats: str,
    kv_types: tuple[KVCacheType, ...],
    kv_allowed: str,
    linear_attention: str,
) -> None:
    """Refuse mixed GPUs, Apple silicon, GGUF weights, other KV types, llama.cpp options and
    the linear-attention models rigfit does not replay for ``engine``.

    ``formats`` lists the weight formats for the message ("BF16, FP8, AWQ ..."), ``kv_types``
    the KV cache types ``engine`` has and ``kv_allowed`` how its flags name them;
    ``linear_attention`` names the state cache not yet replayed and the engines to use instead.
    """
    gpu = req.system.gpu
    if req.system.is_mixed:
        raise InvalidSpecError(
            f"{engine} shards every layer evenly over identical GPUs; for mixed GPUs use"
            " --engine llama.cpp"
        )
    if gpu.unified_memory:
        raise InvalidSpecError(
            f"{engine} does not run on {gpu.name} (Apple silicon); use --engine mlx"
            " or --engine llama.cpp"
        )
    if req.weights().format.family is Family.GGUF and req.file_weights is None:
        raise InvalidSpecError(
            f"rigfit prices {engine} with safetensors checkpoints, not GGUF"
            f" {req.weight_format.label} (allowed: {formats} ...); use --engine llama.cpp for"
            " GGUF"
        )
    if req.kv_type not in kv_types:
        raise InvalidSpecError(
            f"{engine} has no {req.kv_type.flag} KV cache (allowed: {kv_allowed})"
        )
    s = req.engine
    if s.ngl is not None or s.cpu_moe or s.n_cpu_moe or s.tensor_split is not None:
        raise InvalidSpecError(
            f"-ngl, --cpu-moe and --tensor-split are llama.cpp options, not {engine}'s"
        )
    if req.arch.linear_attention is not None:
        raise UnsupportedArchitectureError(
            f"rigfit does not yet replay {engine}'s {linear_attention}"
        )
