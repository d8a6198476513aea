"""The speed model's parts and times: each rule checked against its formula."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigfit.answer import Query, plan
from rigfit.catalog.lookup import get_gpu
from rigfit.estimate.split import SplitKind
from rigfit.quant import WeightFormat
from rigfit.speed.calibration import Constants
from rigfit.speed.model import SpeedModel, _attended, compute_path, pcie_bytes_per_s
from rigfit.speed.ram import parse_ram_bandwidth

C = Constants("test", 0.8, 0.5, 1e-5, {}, 0)


def model(**kw: object) -> SpeedModel:
    p = plan(Query(**kw))  # type: ignore[arg-type]
    return SpeedModel(p.request, p.profile.resolve(p.request))


@given(st.integers(0, 3000), st.integers(0, 3000), st.one_of(st.none(), st.integers(1, 2000)))
def test_attended_is_the_sum_it_names(a: int, n: int, w: int | None) -> None:
    """Σ over t in (a, a+n] of min(t, w): the closed form equals the loop."""
    b = a + n
    brute = sum(t if w is None else min(t, w) for t in range(a + 1, b + 1))
    assert _attended(a, b, w) == pytest.approx(brute)


def test_experts_touched_follows_the_formula() -> None:
    m = model(model="Qwen/Qwen3-30B-A3B", gpu="h100", quant="BF16", engine="vllm", ctx=4096)
    e, k = 128, 8
    for b in (1, 4, 64):
        assert m.experts_touched(b) == pytest.approx(1 - (1 - k / e) ** b)
    assert m.experts_touched(1) == pytest.approx(k / e)
    dense = model(model="meta-llama/Llama-3.1-8B-Instruct", gpu="h100", engine="vllm", ctx=4096)
    assert dense.experts_touched(8) == 0


def test_layer_split_reads_every_weight_but_the_embedding_once() -> None:
    m = model(
        model="meta-llama/Llama-3.1-8B-Instruct",
        gpu="rtx-4090",
        gpus=2,
        quant="Q4_K_M",
        engine="llama.cpp",
        ctx=4096,
    )
    assert m.split.kind is SplitKind.LAYERS
    w = m.req.weights()
    embd = sum(t.nbytes for t in w.tensors if t.kind.name == "EMBEDDING")
    read = sum(p.dense_bytes + p.expert_bytes for p in m.parts)
    assert read == w.total_bytes - embd
    assert [p.gpu.id if p.gpu else None for p in m.parts] == ["rtx-4090", "rtx-4090"]
    assert sum(p.layer_share for p in m.parts) == pytest.approx(1)
    assert sum(p.flop_share for p in m.parts) == pytest.approx(1)


def test_tensor_parallel_divides_the_weights_over_ranks() -> None:
    one = model(
        model="meta-llama/Llama-3.1-70B-Instruct", gpu="h100", gpus=4, engine="vllm", ctx=4096
    )
    (p,) = one.parts
    assert p.ranks == 4
    w = one.req.weights()
    embd = sum(t.nbytes for t in w.tensors if t.kind.name == "EMBEDDING")
    assert p.dense_bytes * 4 == pytest.approx(w.total_bytes - embd)
    # four ranks read a quarter each, and pay two all-reduces a layer
    assert one.kv_rank_factor == pytest.approx(2 / 8)  # 8 KV heads over 4 ranks


def test_mla_latent_is_read_whole_on_every_rank() -> None:
    m = model(model="deepseek-ai/DeepSeek-R1", gpu="h200", gpus=8, engine="sglang", ctx=4096)
    assert m.kv_rank_factor == 1


def test_cpu_moe_moves_the_experts_to_the_host_part() -> None:
    base = {
        "model": "openai/gpt-oss-120b",
        "gpu": "rtx-4090",
        "quant": "MXFP4_MOE",
        "engine": "llama.cpp",
        "ctx": 4096,
    }
    p = plan(Query(**base))  # type: ignore[arg-type]
    req = replace(p.request, engine=replace(p.request.engine, cpu_moe=True))
    m = SpeedModel(req, p.profile.resolve(req), parse_ram_bandwidth("ddr5-6000x2"))
    host = [x for x in m.parts if x.gpu is None]
    assert len(host) == 1
    assert host[0].dense_bytes == 0
    assert host[0].expert_bytes == pytest.approx(req.weights().expert_bytes)
    gpu_only = SpeedModel(p.request, p.profile.resolve(p.request))
    # experts read from DDR5 at 96 GB/s are slower than from GDDR6X at 1008 GB/s
    assert m.decode_step_s(1, 1024, C, 0.6, 0) > gpu_only.decode_step_s(1, 1024, C, 0.6, 0)


def test_decode_slows_with_context_and_batches_amortise_the_weights() -> None:
    m = model(model="meta-llama/Llama-3.1-8B-Instruct", gpu="h100", engine="vllm", ctx=32768)
    short, long = m.decode_step_s(1, 512, C, 0.6, 0), m.decode_step_s(1, 32768, C, 0.6, 0)
    assert long > short
    one, many = m.decode_step_s(1, 1024, C, 0.6, 0), m.decode_step_s(32, 1024, C, 0.6, 0)
    assert many > one
    assert 32 / many > 4 / one  # aggregate tokens/s grows with the batch


def test_prefill_grows_faster_than_linearly_with_the_prompt() -> None:
    m = model(model="meta-llama/Llama-3.1-8B-Instruct", gpu="h100", engine="vllm", ctx=131072)
    t8k, t64k = m.prefill_s(8192, C, 0.6, 0), m.prefill_s(65536, C, 0.6, 0)
    assert t64k > 8 * t8k  # the attention term grows with P²


def test_compute_paths() -> None:
    h100, a100, b200 = get_gpu("h100"), get_gpu("a100-80gb-sxm"), get_gpu("b200")
    assert compute_path(h100, WeightFormat.FP8, "vllm").figure == "fp8_dense_tflops"
    # Ampere has no FP8 tensor cores: Marlin runs FP8 weight-only at 16-bit
    assert compute_path(a100, WeightFormat.FP8, "vllm").figure == "bf16_dense_tflops"
    assert compute_path(h100, WeightFormat.Q4_K_M, "llama.cpp").figure == "int8_dense_tops"
    assert compute_path(b200, WeightFormat.NVFP4, "vllm").figure == "fp4_dense_tflops"
    mac = get_gpu("m2-ultra-192gb")
    assert compute_path(mac, WeightFormat.Q4_0, "llama.cpp").flops_per_s is None


def test_pcie_generation_from_the_catalog_text() -> None:
    assert pcie_bytes_per_s(get_gpu("rtx-4090"))[0] == 31.5e9
    assert pcie_bytes_per_s(get_gpu("rtx-5090"))[0] == 63.0e9


def _llama(gpus: int, **settings: object) -> SpeedModel:
    p = plan(
        Query(
            model="meta-llama/Llama-3.1-8B-Instruct",
            gpu="a100-80gb-pcie",
            gpus=gpus,
            quant="Q4_K_M",
            engine="llama.cpp",
            ctx=16384,
        )
    )
    req = replace(p.request, engine=replace(p.request.engine, **settings))
    return SpeedModel(req, p.profile.resolve(req))


def test_llama_cpp_pipelines_a_prompts_micro_batches_over_its_gpus() -> None:
    one, four = _llama(1), _llama(4)
    assert one.split.pipeline_copies == 1
    assert four.split.pipeline_copies == 4  # GGML_SCHED_MAX_COPIES
    # one micro-batch (-ub 512) has nothing to overlap: four GPUs in a row take one's time
    assert four.prefill_s(512, C, 0.6, 0) == pytest.approx(one.prefill_s(512, C, 0.6, 0), 0.05)
    # sixteen micro-batches overlap on the four GPUs: close to four times faster, never more
    ratio = one.prefill_s(8192, C, 0.6, 0) / four.prefill_s(8192, C, 0.6, 0)
    assert 2.5 < ratio <= 4
    # decode is one token: nothing to pipeline
    assert four.decode_step_s(1, 1024, C, 0.6, 0) >= one.decode_step_s(1, 1024, C, 0.6, 0)


def test_tensor_overrides_and_layers_in_ram_turn_llama_cpp_pipelining_off() -> None:
    # --n-cpu-moe writes tensor overrides; -ngl below the layer count leaves layers on the CPU
    moe = plan(
        Query(
            model="Qwen/Qwen3-30B-A3B",
            gpu="rtx-4090",
            gpus=2,
            quant="Q4_K_M",
            engine="llama.cpp",
            ctx=4096,
        )
    )
    assert moe.profile.split(moe.request).pipeline_copies == 4
    req = replace(moe.request, engine=replace(moe.request.engine, n_cpu_moe=4))
    assert moe.profile.split(req).pipeline_copies == 1
    assert _llama(4, ngl=20).split.pipeline_copies == 1


def test_llama_cpp_prompts_on_hopper_take_the_fitted_fraction_of_the_share() -> None:
    c = replace(C, quantized_compute_efficiency=0.2, hopper_compute_factor=0.5)

    def share(gpu: str, quant: str, engine: str = "llama.cpp") -> float:
        m = model(model="meta-llama/Llama-3.1-8B-Instruct", gpu=gpu, quant=quant, engine=engine)
        return m.compute_share(c, get_gpu(gpu))

    assert share("h100-pcie", "Q4_K_M") == 0.1  # MMQ on Hopper: half the MMQ share
    assert share("h100-pcie", "F16") == 0.25  # cuBLAS there too: half the dense share
    assert share("a100-80gb-pcie", "Q4_K_M") == 0.2
    assert share("rtx-5090", "Q4_K_M") == 0.2
    assert share("h100-pcie", "FP8", "vllm") == 0.5  # another engine's kernels: its own share
    # a key fitted without Hopper rows leaves the share as it is
    assert replace(c, hopper_compute_factor=None).compute(True, True) == 0.2


def test_ollamas_own_engine_does_not_pipeline() -> None:
    # Ollama's Go engine builds its scheduler with parallel=false (ml/backend/ggml/ggml.go);
    # Qwen3 runs there, Llama 3 in its llama.cpp runner
    def copies(model_id: str) -> int:
        p = plan(
            Query(
                model=model_id,
                gpu="rtx-4090",
                gpus=2,
                quant="Q4_K_M",
                engine="ollama",
                ctx=4096,
            )
        )
        return p.profile.split(p.request).pipeline_copies

    assert copies("Qwen/Qwen3-8B") == 1
    assert copies("meta-llama/Llama-3.1-8B-Instruct") == 4


def test_cpu_moe_on_a_dense_model_still_turns_pipelining_off() -> None:
    # llama.cpp writes the --cpu-moe override rules whether or not a tensor matches them
    assert _llama(4, cpu_moe=True).split.pipeline_copies == 1


def test_a_custom_hopper_card_takes_the_hopper_fraction() -> None:
    c = replace(C, quantized_compute_efficiency=0.2, hopper_compute_factor=0.5)
    m = model(
        model="meta-llama/Llama-3.1-8B-Instruct",
        gpu="custom:memory=80GB,bandwidth=2000GB/s,int8=1513,arch=hopper",
        quant="Q4_K_M",
        engine="llama.cpp",
    )
    assert m.compute_share(c, m.req.system.gpu) == 0.1


def test_builds_before_pipeline_parallelism_run_micro_batches_in_turn() -> None:
    assert _llama(4, version="b2412").split.pipeline_copies == 1  # PR #6017 is b2413
    assert _llama(4, version="b2413").split.pipeline_copies == 4
