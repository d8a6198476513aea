"""SGLang 0.5.3 profile: hand-derived pool sizes from the models' config numbers."""

from __future__ import annotations

import dataclasses

import pytest
from engines_kit import req_for

from rigfit.engines import get_engine
from rigfit.engines.sglang import SGLANG, default_mem_fraction_static, pp_stages
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import estimate
from rigfit.estimate.settings import EngineSettings

GIB = 1 << 30
MIB = 1 << 20
H100 = 85520809984  # h100-sxm: nvidia-smi's 81559 MiB
CONTEXT_TP1 = int(0.84 * GIB)
CONTEXT_TP = int(3.11 * GIB)

# Llama-3.1-8B config.json: hidden 4096, 32 layers, 32 heads, 8 KV heads of 128,
# intermediate 14336, vocab 128256, untied head
L8_PARAMS = 2 * 128256 * 4096 + 32 * (
    4096 * 4096 + 2 * 1024 * 4096 + 4096 * 4096 + 3 * 14336 * 4096 + 2 * 4096
)
L8_PARAMS += 4096  # final norm
L8_NORMS = 32 * 2 * 4096 + 4096

# DeepSeek-V2-Lite config.json: hidden 2048, 27 layers, 16 heads, qk nope 128 + rope 64,
# v_head_dim 128, kv_lora_rank 512, no q_lora, vocab 102400, first layer dense (10944),
# 26 MoE layers of 64 experts (1408) + 2 shared (2816), untied
DS_ATTN = 16 * 192 * 2048 + 576 * 2048 + 512 + 16 * 256 * 512 + 2048 * 16 * 128
DS_MOE = 64 * 2048 + 64 * 3 * 1408 * 2048 + 3 * 2816 * 2048
DS_PARAMS = 2 * 102400 * 2048 + 27 * (DS_ATTN + 2 * 2048) + 3 * 10944 * 2048 + 26 * DS_MOE + 2048
# whole on every rank: norms (incl. kv_a_layernorm), routers, the kv_a projection
DS_REPLICATED = 27 * (2 * 2048 + 512) + 2048 + 26 * 64 * 2048 + 27 * 576 * 2048


def test_registered() -> None:
    assert get_engine("sglang") is SGLANG
    assert SGLANG.reference_version == "0.5.3"


@pytest.mark.parametrize(
    ("mib", "tp", "expected"),
    [
        # 512 + 8192 × 1.5 + 256 × 2 + 1/8 × 1024 = 13440 (> the 10 GiB floor)
        (81559, 1, round((81559 - 13440) / 81559, 3)),
        # 512 + 2048 × 1.5 + 16 × 2 + 128 = 3744
        (24564, 1, round((24564 - 3744) / 24564, 3)),
        # TP 8: 512 + 12288 + 512 × 2 + 1024 = 14848
        (81559, 8, round((81559 - 14848) / 81559, 3)),
        # A100 40GB: 512 + 4096 × 1.5 + 32 × 2 + 128 = 6848
        (40960, 1, round((40960 - 6848) / 40960, 3)),
        # B200-class: 512 + 16384 × 1.5 + 512 × 2 + 128 = 26240
        (183360, 1, round((183360 - 26240) / 183360, 3)),
    ],
)
def test_default_mem_fraction_static(mib: int, tp: int, expected: float) -> None:
    assert default_mem_fraction_static(mib, tp, 1) == expected


def test_llama_8b_h100_pool() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", quant="BF16", ctx=8192)
    est = estimate(req, SGLANG)
    weights = 2 * L8_PARAMS
    assert weights == 16_060_522_496
    assert est.term_bytes("weights") == weights
    assert est.term_bytes("context") == CONTEXT_TP1
    mfs = 0.835
    free0 = H100 - CONTEXT_TP1
    headroom = int(free0 * (1 - mfs))
    cell = 8 * 128 * 32 * 2 * 2  # kv heads × head_dim × layers × (K, V) × bf16
    tokens = (free0 - weights - headroom) // cell
    assert est.pool is not None
    assert est.pool.tokens == tokens
    assert est.pool.bytes_per_token_per_gpu == cell
    assert est.pool.budget_per_gpu_bytes == free0 - weights - headroom
    # SGLang allocates the whole pool at start-up, whatever the request
    assert est.term_bytes("kv_cache") == tokens * cell
    assert est.pool.demand_per_gpu_bytes == 8192 * cell
    reqs = min(max(int(tokens / 8192 * 512), 2048), 4096)
    r2t = reqs * (8192 + 4) * 4
    assert est.term_bytes("req_to_token") == r2t
    assert est.term_bytes("activations") == headroom - r2t
    assert est.fits
    # the GPU holds context + weights + the pool + the (1 - mfs) headroom: all of it but the
    # pool's page rounding; the request has what its cells leave free in the pool
    assert est.device_bytes == (CONTEXT_TP1 + weights + tokens * cell + headroom,)
    assert 0 <= H100 - est.device_bytes[0] < cell
    assert est.headroom_per_gpu_bytes == free0 - headroom - weights - 8192 * cell


def test_fit_is_pool_holds_request() -> None:
    base = req_for("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", quant="BF16", ctx=131072)
    pool = SGLANG.kv_pool(base)
    assert pool is not None
    fitting = pool.tokens // 131072
    ok = estimate(dataclasses.replace(base, seqs=fitting), SGLANG)
    over = estimate(dataclasses.replace(base, seqs=fitting + 1), SGLANG)
    assert ok.fits
    assert not over.fits


def test_matches_sglang_docs_log() -> None:
    # SGLang docs server log (2025-01-23): Llama-3.1-8B-Instruct on one H100 80GB with
    # mem_fraction_static 0.88 logged max_total_num_tokens=444500
    req = req_for(
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100-sxm",
        quant="BF16",
        ctx=131072,
        engine=EngineSettings(mem_fraction_static=0.88),
    )
    assert SGLANG.pool_tokens(req) == pytest.approx(444500, rel=0.005)


def test_deepseek_v2_lite_mla_tp2() -> None:
    req = req_for(
        "deepseek-ai/DeepSeek-V2-Lite-Chat", "h100-sxm", gpus=2, quant="BF16", ctx=8192, seqs=4
    )
    est = estimate(req, SGLANG)
    assert req.arch.params_total == DS_PARAMS
    per_rank = 2 * ((DS_PARAMS - DS_REPLICATED) // 2 + DS_REPLICATED)
    w = next(t for t in est.terms if t.key == "weights")
    assert w.per_device == (per_rank, per_rank)
    cell = (512 + 64) * 27 * 2  # the latent, whole on each rank
    assert est.pool is not None
    assert est.pool.bytes_per_token_per_gpu == cell
    assert est.term_bytes("kv_cache") == 2 * est.pool.tokens * cell
    assert est.pool.demand_per_gpu_bytes == 4 * 8192 * cell
    assert est.term_bytes("context") == 2 * CONTEXT_TP
    mfs = round((81559 - 13440 - 128) / 81559, 3)  # tp 2 adds 2/8 × 1024 MiB
    free0 = H100 - CONTEXT_TP
    assert est.pool.tokens == (free0 - per_rank - int(free0 * (1 - mfs))) // cell
    fp8 = req_for(
        "deepseek-ai/DeepSeek-V2-Lite-Chat", "h100-sxm", gpus=2, quant="BF16", kv_type="fp8"
    )
    pool = SGLANG.kv_pool(fp8)
    assert pool is not None
    assert pool.bytes_per_token_per_gpu == (512 + 64) * 27


def test_kv_heads_replicated_past_tp() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", gpus=16, quant="BF16", ctx=4096)
    assert SGLANG.cell_bytes_per_layer(req) == 1 * 128 * 2 * 2  # max(1, 8 // 16) heads
    assert any("replicated" in n for n in SGLANG.notes(req))


def test_sliding_window_layers_full_length() -> None:
    # Gemma-2-9B: 42 layers of 8 KV heads × 256, every one holds the whole pool in 0.5.3
    req = req_for("google/gemma-2-9b-it", "rtx-4090", quant="BF16", ctx=8192)
    assert SGLANG.cell_bytes_per_layer(req) * 42 == 42 * 8 * 256 * 2 * 2
    assert any("sliding-window" in n for n in SGLANG.notes(req))


def test_pipeline_stages_and_pp_command() -> None:
    assert pp_stages(32, 3) == [range(10), range(10, 20), range(20, 32)]
    req = req_for(
        "meta-llama/Llama-3.1-70B-Instruct",
        "h100-sxm",
        gpus=4,
        quant="BF16",
        ctx=8192,
        engine=EngineSettings(tp=2, pp=2),
    )
    est = estimate(req, SGLANG)
    cell_layer = 8 // 2 * 128 * 2 * 2
    assert est.pool is not None
    assert est.pool.bytes_per_token_per_gpu == cell_layer * 40
    assert SGLANG.command(req, "m") == (
        "python -m sglang.launch_server --model-path m --tp 2 --pp-size 2 --context-length 8192"
        f" --mem-fraction-static {SGLANG.mem_fraction_static(req):g}"
    )


def test_command_line() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", quant="BF16", ctx=32768)
    assert SGLANG.command(req, "meta-llama/Llama-3.1-8B-Instruct") == (
        "python -m sglang.launch_server --model-path meta-llama/Llama-3.1-8B-Instruct --tp 1"
        " --context-length 32768 --mem-fraction-static 0.835"
    )
    fp8 = req_for(
        "meta-llama/Llama-3.1-8B-Instruct",
        "h100-sxm",
        gpus=2,
        quant="FP8",
        kv_type="fp8",
        engine=EngineSettings(mem_fraction_static=0.8),
    )
    assert SGLANG.command(fp8, "m") == (
        "python -m sglang.launch_server --model-path m --tp 2 --quantization fp8"
        " --context-length 8192 --mem-fraction-static 0.8 --kv-cache-dtype fp8_e4m3"
    )


def test_errors() -> None:
    llama = "meta-llama/Llama-3.1-8B-Instruct"
    with pytest.raises(InvalidSpecError, match=r"Apple silicon"):
        estimate(req_for(llama, "m2-max-96gb", quant="BF16"), SGLANG)
    with pytest.raises(InvalidSpecError, match=r"allowed: f16/bf16"):
        estimate(req_for(llama, "h100-sxm", quant="BF16", kv_type="q8_0"), SGLANG)
    with pytest.raises(InvalidSpecError, match=r"32 attention heads.*allowed: 1, 2, 4, 8"):
        estimate(req_for(llama, "h100-sxm", gpus=3, quant="BF16"), SGLANG)
    with pytest.raises(InvalidSpecError, match=r"make --gpus 4"):
        estimate(req_for(llama, "h100-sxm", gpus=2, engine=EngineSettings(tp=2, pp=2)), SGLANG)
    with pytest.raises(InvalidSpecError, match=r"allowed: 0.5.0"):
        estimate(req_for(llama, "h100-sxm", engine=EngineSettings(version="0.4.9")), SGLANG)
    with pytest.raises(UnsupportedArchitectureError, match=r"Qwen3-Next and Falcon-H1 only"):
        estimate(req_for("Qwen/Qwen3.6-35B-A3B", "h200", quant="BF16"), SGLANG)
    with pytest.raises(InvalidSpecError, match=r"llama.cpp options"):
        estimate(req_for(llama, "h100-sxm", engine=EngineSettings(ngl=10)), SGLANG)


def test_not_enough_memory_note() -> None:
    req = req_for("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", quant="BF16", ctx=8192)
    est = estimate(req, SGLANG)
    assert est.pool is not None
    assert est.pool.tokens == 0
    assert not est.fits
    assert any("Not enough memory" in n for n in est.notes)


def test_hybrid_models_reserve_a_mamba_pool_before_the_kv_pool() -> None:
    """Qwen3-Next at TP2: 512 request slots × 36 DeltaNet layers × (a bf16 conv window of
    3 × 8,192 / 2 elements + a float32 state of 16 × 128 × 128) per rank, taken before the KV
    pool, whose cell counts the 12 attention layers only."""
    req = req_for("Qwen/Qwen3-Next-80B-A3B-Instruct", "h200", gpus=2, quant="BF16", ctx="64k")
    per_layer = 3 * 8192 // 2 * 2 + 16 * 128 * 128 * 4
    assert SGLANG.state_pool_bytes(req, range(48)) == 512 * 36 * per_layer
    est = estimate(req, SGLANG)
    state = next(t for t in est.terms if t.label.startswith("Mamba state pool"))
    assert state.per_gpu_bytes == 512 * 36 * per_layer
    pool = SGLANG.kv_pool(req)
    assert pool is not None
    assert pool.bytes_per_token_per_gpu == 12 * SGLANG.cell_bytes_per_layer(req)
    assert SGLANG.max_num_reqs(req) <= 512


def test_hybrids_sglang_0_5_3_does_not_pool_are_refused() -> None:
    req = req_for("Qwen/Qwen3.5-27B", "h200", quant="BF16", ctx="32k")
    with pytest.raises(UnsupportedArchitectureError, match="Qwen3-Next and Falcon-H1 only"):
        SGLANG.check(req)
