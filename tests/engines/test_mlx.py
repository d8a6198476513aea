"""mlx-lm 0.32 profile: hand-derived bytes from the models' config numbers."""

from __future__ import annotations

import dataclasses

import pytest

from rigfit.api import make_request
from rigfit.engines import get_engine
from rigfit.engines.mlx import MLX
from rigfit.errors import InvalidSpecError
from rigfit.estimate.memory import Request, estimate
from rigfit.estimate.settings import EngineSettings

# Llama-3.1-8B config.json: hidden 4096, 32 layers, 32 heads, 8 KV heads of 128,
# intermediate 14336, vocab 128256, untied head
L8_NORMS = 32 * 2 * 4096 + 4096
L8_MATRICES = 2 * 128256 * 4096 + 32 * (
    2 * 4096 * 4096 + 2 * 1024 * 4096 + 3 * 14336 * 4096
)  # embedding, head and every Linear: all rows are multiples of 64
# Qwen3-30B-A3B: 48 layers, hidden 2048, 32 heads / 4 KV heads of 128 (q/k norms of 128),
# 128 experts of 768, vocab 151936, untied
Q3_NORMS = 48 * (2 * 2048 + 2 * 128) + 2048
Q3_ROUTERS = 48 * 128 * 2048
Q3_MATRICES = 2 * 151936 * 2048 + 48 * (
    32 * 128 * 2048 + 2 * 4 * 128 * 2048 + 2048 * 32 * 128 + 128 * 3 * 768 * 2048
)


def req_for(model: str, gpu: str = "m4-max-36gb", **kw: object) -> Request:
    settings = kw.pop("engine", EngineSettings())
    _, req = make_request(model, gpu, **kw)  # type: ignore[arg-type]
    assert isinstance(settings, EngineSettings)
    return dataclasses.replace(req, engine=settings)


def q_bytes(n: int, bits: int) -> int:
    """Affine quantization in groups of 64: bits per weight + a 16-bit scale and bias."""
    return n * bits // 8 + n // 64 * 2 * 2


def test_registered() -> None:
    assert get_engine("mlx") is MLX
    assert MLX.reference_version == "0.32.2"


def test_llama_8b_bf16() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", quant="BF16", ctx=8000)
    est = estimate(req, MLX)
    assert est.term_bytes("weights") == 2 * (L8_MATRICES + L8_NORMS) == 16_060_522_496
    # KVCache grows in 256-token steps: 8000 -> 8192 slots
    assert est.term_bytes("kv_cache") == 32 * 8192 * 2 * 8 * 128 * 2
    # one 2048-token prefill chunk: residual + normed + the MLP's three 14336-wide tensors
    assert est.term_bytes("activations") == 2048 * 2 * (2 * 4096 + 3 * 14336) + 128256 * 6
    assert est.device_capacities == (28_991_029_248,)  # 3/4 of 36 GiB: the working set
    assert est.fits


@pytest.mark.parametrize("bits", [4, 8])
def test_llama_8b_quantized(bits: int) -> None:
    req = req_for(
        "meta-llama/Llama-3.1-8B-Instruct", quant="BF16", engine=EngineSettings(mlx_bits=bits)
    )
    w = estimate(req, MLX).term_bytes("weights")
    assert w == q_bytes(L8_MATRICES, bits) + 2 * L8_NORMS
    if bits == 4:  # 4.5 bits per quantized weight
        assert q_bytes(L8_MATRICES, 4) * 8 == L8_MATRICES * 9 // 2


def test_qwen3_moe_router_at_8_bits() -> None:
    req = req_for("Qwen/Qwen3-30B-A3B", "m3-max-128gb", engine=EngineSettings(mlx_bits=4))
    est = estimate(req, MLX)
    assert est.term_bytes("weights") == (
        q_bytes(Q3_MATRICES, 4) + q_bytes(Q3_ROUTERS, 8) + 2 * Q3_NORMS
    )
    assert est.term_bytes("kv_cache") == 48 * 8192 * 2 * 4 * 128 * 2
    # MoE MLP: top-8 experts × (gate, up, product) of 768 = 18432 > attention's 10240
    assert est.term_bytes("activations") == 2048 * 2 * (2 * 2048 + 3 * 8 * 768) + 151936 * 6


def test_gemma3_rotating_cache() -> None:
    # Gemma-3-1B: 26 layers, every 6th global, the rest a 512-token window; 1 KV head of 256
    req = req_for("google/gemma-3-1b-it", quant="BF16", ctx=8192)
    row = 2 * 1 * 256 * 2
    full, sliding = 4, 22
    # a rotating layer holds window + prefill chunk - 1 tokens while the prompt streams in
    assert (
        estimate(req, MLX).term_bytes("kv_cache")
        == (full * 8192 + sliding * (512 + 2048 - 1)) * row
    )
    short = req_for("google/gemma-3-1b-it", quant="BF16", ctx=300)
    assert estimate(short, MLX).term_bytes("kv_cache") == (full * 512 + sliding * 512) * row


def test_deepseek_v2_caches_per_head() -> None:
    req = req_for("deepseek-ai/DeepSeek-V2-Lite-Chat", "m3-max-128gb", quant="BF16", ctx=4096)
    assert estimate(req, MLX).term_bytes("kv_cache") == 27 * 4096 * 16 * (192 + 128) * 2


def test_command_line() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", quant="BF16", ctx=4096)
    assert MLX.command(req, "meta-llama/Llama-3.1-8B-Instruct") == (
        "mlx_lm.generate --model meta-llama/Llama-3.1-8B-Instruct --max-kv-size 4096"
    )
    q = dataclasses.replace(req, engine=EngineSettings(mlx_bits=4))
    assert MLX.command(q, "m") == (
        "mlx_lm.convert --hf-path m -q --q-bits 4 --q-group-size 64 --mlx-path mlx_model"
        " && mlx_lm.generate --model mlx_model --max-kv-size 4096"
    )


def test_errors() -> None:
    llama = "meta-llama/Llama-3.1-8B-Instruct"
    with pytest.raises(InvalidSpecError, match=r"Apple silicon only"):
        estimate(req_for(llama, "h100-sxm", quant="BF16"), MLX)
    with pytest.raises(InvalidSpecError, match=r"allowed: F16, BF16"):
        estimate(req_for(llama, quant="AWQ"), MLX)
    with pytest.raises(InvalidSpecError, match=r"allowed: f16, bf16"):
        estimate(req_for(llama, quant="BF16", kv_type="q8_0"), MLX)
    with pytest.raises(
        InvalidSpecError, match=r"--q-bits must be one of 2, 3, 4, 5, 6, 8, got '7'"
    ):
        estimate(req_for(llama, quant="BF16", engine=EngineSettings(mlx_bits=7)), MLX)
    with pytest.raises(InvalidSpecError, match=r"drop --tp"):
        estimate(req_for(llama, quant="BF16", engine=EngineSettings(tp=2)), MLX)
