"""Llama 4's chunked layers in each engine: how many tokens a chunked layer keeps."""

from __future__ import annotations

import math

import pytest
from engines_kit import req_for

from rigfit.arch import LayerKind
from rigfit.engines import get_engine
from rigfit.engines.llamacpp import LLAMACPP
from rigfit.engines.mlx import MLX, PREFILL_STEP
from rigfit.engines.transformers import TRANSFORMERS
from rigfit.engines.vllm import VLLM
from rigfit.errors import UnsupportedArchitectureError
from rigfit.estimate.memory import estimate

SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
CHUNK = 8192


def _chunked_layer(req):  # type: ignore[no-untyped-def]
    return next(x for x in req.arch.layers if x.kind is LayerKind.CHUNKED)


def test_llamacpp_chunked_layers_keep_chunk_plus_ubatch_cells() -> None:
    """llama_kv_cache_iswa: n_swa (8192 for Llama 4) + n_ubatch (512), padded to 256."""
    req = req_for(SCOUT, "h100-sxm", gpus=2, quant="Q4_K_M", ctx="128k")
    full, swa = LLAMACPP.cells(req)
    assert (full, swa) == (131072, 8704)
    kv = next(t for t in estimate(req, LLAMACPP).terms if t.label.startswith("KV cache"))
    row = 2 * 8 * 128 * 2  # K and V of 8 heads × 128 in f16
    assert kv.total_bytes == row * (12 * full + 36 * swa)


def test_vllm_chunked_group_caps_a_request_at_chunk_plus_batch() -> None:
    """ChunkedLocalAttentionSpec: min(chunk + scheduled tokens, context) per request."""
    req = req_for(SCOUT, "h100-sxm", gpus=4, quant="BF16", ctx="128k")
    groups = VLLM._groups(req, range(48))
    assert sum(g.layers for g in groups if g.kind is LayerKind.CHUNKED) == 36
    chunk_group = next(g for g in groups if g.kind is LayerKind.CHUNKED)
    blocks = VLLM._blocks_per_request(req, chunk_group, 131072)
    batched = VLLM.batched_tokens(req)
    assert blocks == math.ceil((CHUNK + batched) / VLLM.block_size(req))
    assert VLLM._blocks_per_request(req, chunk_group, 4096) == 4096 // VLLM.block_size(req)


def test_transformers_and_mlx_chunked_tokens() -> None:
    """transformers: a DynamicSlidingWindowLayer of the chunk size keeps chunk - 1 tokens;
    mlx-lm: ChunkedKVCache keeps the chunk plus one prefill step, in 256-token buffers."""
    req = req_for(SCOUT, "h100-sxm", gpus=4, quant="BF16", ctx="128k")
    layer = _chunked_layer(req)
    assert TRANSFORMERS.layer_tokens(req, layer) == CHUNK - 1
    mac = req_for(SCOUT, "m3-ultra-512gb", quant="BF16", ctx="128k")
    assert MLX.layer_tokens(mac, layer) == CHUNK + PREFILL_STEP
    short = req_for(SCOUT, "m3-ultra-512gb", quant="BF16", ctx="4k")
    assert MLX.layer_tokens(short, layer) == 4096


@pytest.mark.parametrize("engine", ["sglang", "ollama"])
def test_engines_not_replayed_refuse_chunked_layers(engine: str) -> None:
    quant = "Q4_K_M" if engine == "ollama" else "BF16"
    req = req_for(SCOUT, "h100-sxm", gpus=4, quant=quant, ctx="32k")
    with pytest.raises(UnsupportedArchitectureError, match="chunked"):
        get_engine(engine).check(req)
