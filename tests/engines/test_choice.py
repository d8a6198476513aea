"""The default engine: the one the weight format and the device imply, and why."""

from __future__ import annotations

import pytest
from engines_kit import req_for

from rigfit.catalog.lookup import get_gpu
from rigfit.engines import get_engine
from rigfit.engines.choice import AUTO, choose_engine
from rigfit.errors import InvalidSpecError, RigfitError
from rigfit.estimate.memory import estimate
from rigfit.estimate.plan import gpu_table
from rigfit.estimate.settings import EngineSettings

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.mark.parametrize(
    ("model", "gpu", "quant", "engine"),
    [
        (LLAMA, "rtx-4090", "Q4_K_M", "llama.cpp"),  # a GGUF type, on any device
        (LLAMA, "m4-max-128gb", "Q4_K_M", "llama.cpp"),
        (LLAMA, "h100-sxm", "BF16", "vllm"),  # safetensors on NVIDIA
        (LLAMA, "mi300x", "FP8", "vllm"),  # and on AMD with FP8 cores
        (LLAMA, "rtx-4090", "BNB-NF4", "transformers"),  # bitsandbytes
        (LLAMA, "m4-max-128gb", "BF16", "mlx"),  # 16-bit on Apple silicon
        ("openai/gpt-oss-20b", "m4-max-128gb", None, "llama.cpp"),  # MXFP4 experts on Apple
    ],
)
def test_the_format_and_device_pick_the_engine(
    model: str, gpu: str, quant: str | None, engine: str
) -> None:
    req = req_for(model, gpu, quant=quant)
    assert choose_engine(req).engine == engine
    assert estimate(req).profile == engine  # the default estimate is that engine's


def test_a_refusal_falls_back_and_says_why() -> None:
    req = req_for(LLAMA, "h100-sxm", quant="BF16", kv_type="q8_0")
    choice = choose_engine(req)
    assert choice.engine == "llama.cpp"
    assert "vllm, sglang cannot: vLLM has no q8_0 KV cache" in choice.reason
    # a hybrid model stays with vLLM, which keeps its recurrent state in the KV pool
    hybrid = req_for("Qwen/Qwen3-Next-80B-A3B-Instruct", "h100-sxm", gpus=2, quant="BF16")
    assert choose_engine(hybrid).engine == "vllm"


def test_an_engine_option_picks_its_engine() -> None:
    req = req_for(LLAMA, "rtx-4090", quant="BF16", engine=EngineSettings(ngl=10))
    assert choose_engine(req).engine == "llama.cpp"
    req = req_for(LLAMA, "rtx-4090", quant="BF16", engine=EngineSettings(mem_fraction_static=0.8))
    assert choose_engine(req).engine == "sglang"


@pytest.mark.parametrize(
    ("gpu", "quant", "message"),
    [
        ("v100-32gb", "FP8", "vLLM has no FP8 kernels for NVIDIA V100"),
        ("mi250x", "FP8", "has no FP8 matrix cores"),
        ("m4-max-128gb", "AWQ", "AWQ weights have no Apple silicon kernels"),
        ("m4-max-128gb", "BNB-NF4", "BNB-NF4 weights have no Apple silicon kernels"),
        ("mi300x", "NVFP4", "NVFP4 is NVIDIA's format"),
    ],
)
def test_formats_a_device_cannot_run_are_refused(gpu: str, quant: str, message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message):
        choose_engine(req_for(LLAMA, gpu, quant=quant))


def test_emulated_formats_are_flagged_and_engine_limits_hold() -> None:
    ampere = req_for(LLAMA, "a100-80gb-sxm", quant="FP8")
    assert any("weight-only Marlin" in n for n in estimate(ampere).notes)
    with pytest.raises(RigfitError, match=r"need 10\.0 or later"):
        estimate(req_for(LLAMA, "a100-80gb-sxm", quant="NVFP4"), get_engine("sglang"))
    with pytest.raises(RigfitError, match="dequantizes FP8 weights to BF16"):
        estimate(ampere, get_engine("transformers"))


def test_a_table_picks_per_accelerator() -> None:
    req = req_for(LLAMA, "h100-sxm", quant="BF16", ctx=8192)
    rows = {r.gpu.id: r for r in gpu_table(req, [get_gpu("h100-sxm"), get_gpu("m4-max-128gb")])}
    assert rows["h100-sxm"].engine == "vllm"
    assert rows["m4-max-128gb"].engine == "mlx"
    assert AUTO.resolve(req).name == "vllm"
