"""Ollama v0.24.0 profile: llama.cpp's accounting under Ollama's defaults and offload search.

F16 weights only for now (GGUF quant pricing is being rewritten): add a Q4_K_M case later.
"""

from __future__ import annotations

import dataclasses

import pytest
from engines_kit import req_for

from rigfit.engines import get_engine
from rigfit.engines.llamacpp import LLAMACPP
from rigfit.engines.ollama import OLLAMA, default_num_ctx
from rigfit.errors import InvalidSpecError
from rigfit.estimate.memory import estimate
from rigfit.estimate.settings import EngineSettings

MIB = 1 << 20
GIB = 1 << 30
# Llama-3.1-8B config.json: hidden 4096, 32 layers, 8 KV heads of 128, intermediate 14336,
# vocab 128256, untied head
L8_LAYER = 2 * (2 * 4096 * 4096 + 2 * 1024 * 4096 + 3 * 14336 * 4096 + 2 * 4096)
L8_EMBD = 2 * 128256 * 4096
L8_HEAD = 2 * (128256 * 4096 + 4096)
L8_KV_ROW = 2 * 1024 * 2  # K and V rows of 8 heads × 128 in f16


def test_registered() -> None:
    assert get_engine("ollama") is OLLAMA
    assert OLLAMA.reference_version == "v0.24.0"


def test_llama_8b_full_offload() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", "rtx-4090", quant="F16", ctx=8192)
    est = estimate(req, OLLAMA)
    assert OLLAMA.plan(req) == (33, 1)  # every layer and the output layer
    # token_embd stays in host memory; the layers and the head are on the GPU
    assert est.term_bytes("weights") == 32 * L8_LAYER + L8_HEAD == 15_009_849_344
    assert est.term_bytes("host_weights") == L8_EMBD
    assert est.term_bytes("kv_cache") == 32 * 8192 * L8_KV_ROW
    assert est.term_bytes("reserve") == 457 * MIB
    # the compute buffer is llama.cpp's with flash attention and a 512-token ubatch
    inner = dataclasses.replace(
        req, engine=EngineSettings(version="b7800", flash_attn=True, n_ubatch=512)
    )
    assert est.term_bytes("compute") == estimate(inner, LLAMACPP).term_bytes("compute")
    assert est.fits


def test_partial_offload_is_the_most_layers_that_fit() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", "rtx-3060-12gb", quant="F16", ctx=8192)
    ngl, gpus = OLLAMA.plan(req)
    assert gpus == 1
    assert 0 < ngl < 33
    cap = req.system.capacities_bytes[0]

    def on_gpu(n: int) -> int:
        r = dataclasses.replace(req, engine=EngineSettings(ngl=n))
        return estimate(r, OLLAMA).device_bytes[0]

    assert on_gpu(ngl) <= cap < on_gpu(ngl + 1)
    # the estimate prices every layer on the GPU, which does not fit; the notes give the split
    est = estimate(req, OLLAMA)
    assert not est.fits
    assert est.term_bytes("weights") == 32 * L8_LAYER + L8_HEAD
    assert any(f"only {ngl} of 33 layers" in n for n in est.notes)
    # num_gpu given: the last ngl repeating layers on the GPU, the output head on the CPU
    split = estimate(dataclasses.replace(req, engine=EngineSettings(ngl=ngl)), OLLAMA)
    assert split.fits
    assert split.term_bytes("weights") == ngl * L8_LAYER
    assert split.term_bytes("kv_cache") == ngl * 8192 * L8_KV_ROW
    assert split.term_bytes("host_weights") == L8_EMBD + (32 - ngl) * L8_LAYER + L8_HEAD


def test_fewest_gpus() -> None:
    # Qwen3-8B in F16 fits one RTX 4090: Ollama leaves the second one empty
    req = req_for("Qwen/Qwen3-8B", "rtx-4090", gpus=2, quant="F16", ctx=8192)
    est = estimate(req, OLLAMA)
    assert OLLAMA.plan(req) == (37, 1)
    assert est.device_bytes[1] == 0
    # 36 layers × 8 KV heads of 128, K and V in f16
    assert est.term_bytes("kv_cache") == 36 * 8192 * 2 * 1024 * 2


def test_sliding_window_cells() -> None:
    # Gemma-2 runs on llama.cpp's runner, whose library defaults keep full-size SWA caches:
    # 42 layers × 8192 cells × 8 KV heads of 256
    gemma2 = req_for("google/gemma-2-9b-it", "a100-80gb-sxm", quant="F16", ctx=8192)
    assert estimate(gemma2, OLLAMA).term_bytes("kv_cache") == 42 * 8192 * 2 * 8 * 256 * 2
    # Gemma-3 runs on Ollama's engine: sliding layers keep window 512 + batch 512 cells
    gemma3 = req_for("google/gemma-3-1b-it", "rtx-4090", quant="F16", ctx=8192)
    assert estimate(gemma3, OLLAMA).term_bytes("kv_cache") == (4 * 8192 + 22 * (512 + 512)) * (
        2 * 256 * 2
    )


def test_quantized_kv_needs_flash_attention() -> None:
    req = req_for(
        "meta-llama/Llama-3.1-8B-Instruct", "rtx-4090", quant="F16", ctx=8192, kv_type="q8_0"
    )
    # q8_0: 34 bytes per 32 elements
    assert estimate(req, OLLAMA).term_bytes("kv_cache") == 32 * 8192 * 2 * (1024 // 32 * 34)
    assert OLLAMA.command(req, "llama3.1:8b") == (
        "OLLAMA_CONTEXT_LENGTH=8192 OLLAMA_FLASH_ATTENTION=1 OLLAMA_KV_CACHE_TYPE=q8_0"
        " ollama serve & ollama run llama3.1:8b"
    )
    off = dataclasses.replace(req, engine=EngineSettings(flash_attn=False))
    with pytest.raises(InvalidSpecError, match=r"flash attention is off"):
        estimate(off, OLLAMA)
    with pytest.raises(InvalidSpecError, match=r"never enables flash attention for gemma2"):
        estimate(req_for("google/gemma-2-9b-it", "h100-sxm", quant="F16", kv_type="q8_0"), OLLAMA)
    with pytest.raises(InvalidSpecError, match=r"deepseek2"):
        estimate(
            req_for("deepseek-ai/DeepSeek-V2-Lite-Chat", "h100-sxm", quant="F16", kv_type="q4_0"),
            OLLAMA,
        )


def test_default_context_and_metal() -> None:
    assert default_num_ctx((25_757_220_864,)) == 32768  # RTX 4090: 23.99 GiB
    assert default_num_ctx((12 * GIB,)) == 4096
    assert default_num_ctx((12 * GIB, 12 * GIB)) == 32768
    assert default_num_ctx((80 * GIB,)) == 262144
    mac = req_for("meta-llama/Llama-3.1-8B-Instruct", "m4-max-36gb", quant="F16", ctx=8192)
    assert estimate(mac, OLLAMA).term_bytes("reserve") == 512 * MIB


def test_command_line() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", "rtx-4090", quant="F16", ctx=16384, seqs=2)
    assert OLLAMA.command(req, "llama3.1:8b-instruct-fp16") == (
        "OLLAMA_CONTEXT_LENGTH=16384 OLLAMA_NUM_PARALLEL=2 ollama serve"
        " & ollama run llama3.1:8b-instruct-fp16"
    )


def test_errors() -> None:
    llama = "meta-llama/Llama-3.1-8B-Instruct"
    with pytest.raises(InvalidSpecError, match=r"allowed: f16, q8_0, q4_0"):
        estimate(req_for(llama, "rtx-4090", quant="F16", kv_type="bf16"), OLLAMA)
    with pytest.raises(InvalidSpecError, match=r"no tensor parallelism"):
        estimate(
            req_for(llama, "rtx-4090", gpus=2, quant="F16", engine=EngineSettings(tp=2)), OLLAMA
        )
    with pytest.raises(InvalidSpecError, match=r"places layers itself"):
        estimate(
            req_for(llama, "rtx-4090", gpus=2, engine=EngineSettings(tensor_split=(1.0, 1.0))),
            OLLAMA,
        )
    with pytest.raises(InvalidSpecError, match=r"not like v0.24.0"):
        estimate(req_for(llama, "rtx-4090", engine=EngineSettings(version="b5331")), OLLAMA)
    # the refusal names the engine asked for, not the one it wraps
    with pytest.raises(InvalidSpecError, match=r"^Ollama loads GGUF files, and AWQ has no GGUF"):
        estimate(req_for(llama, "rtx-4090", quant="AWQ"), OLLAMA)


def test_a_gguf_file_enters_through_a_modelfile() -> None:
    req = req_for("meta-llama/Llama-3.1-8B-Instruct", "rtx-4090", quant="Q4_K_M", ctx=4096)
    assert OLLAMA.command(req, "Llama-3.1-8B-Instruct-Q4_K_M.gguf") == (
        "OLLAMA_CONTEXT_LENGTH=4096 ollama serve & printf 'FROM"
        " ./Llama-3.1-8B-Instruct-Q4_K_M.gguf\\n' > Modelfile && ollama create"
        " llama-3.1-8b-instruct-q4_k_m -f Modelfile && ollama run llama-3.1-8b-instruct-q4_k_m"
    )


def test_other_ollama_releases_are_refused_not_priced_as_the_replayed_one() -> None:
    """rigfit replays Ollama v0.24.0 (its vendored llama.cpp, runner and num_ctx rules); an
    --engine-version naming another release was priced as v0.24.0 under that name."""
    from rigfit.answer import Query, answer
    from rigfit.estimate.settings import EngineSettings

    def fit(version: str) -> object:
        q = Query("llama-3.1-8b", gpu="rtx-4090", engine="ollama",
                  settings=EngineSettings(version=version), speed=False)  # fmt: skip
        return answer(q)

    with pytest.raises(InvalidSpecError, match=r"allowed: v0\.24\.0"):
        fit("0.12.0")
    fit("0.24.0")
    fit("v0.24.0")
