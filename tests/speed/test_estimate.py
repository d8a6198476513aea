"""The speed answers: workload checks, bands, and the answer path's speed section."""

from __future__ import annotations

import pytest

from rigfit.answer import Query, answer, plan
from rigfit.errors import InvalidSpecError
from rigfit.estimate.settings import EngineSettings
from rigfit.speed import Workload, default_workload, estimate_speed
from rigfit.speed.calibration import Band, HardwareClass
from rigfit.speed.estimate import Figure


def test_default_workload_fits_the_context() -> None:
    assert default_workload(8192) == Workload(1024, 256, 1)
    w = default_workload(1000, 3)
    assert w.prompt_tokens + w.output_tokens == 1000
    assert w.users == 3


@pytest.mark.parametrize(
    ("w", "message"),
    [
        (Workload(0, 10), "at least 1 token"),
        (Workload(10, -1), "at least 1 token"),
        (Workload(4000, 200), "exceed the context of 4,096"),
        (Workload(10, 10, 0), "users must be at least 1"),
    ],
)
def test_bad_workloads_are_refused(w: Workload, message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message):
        w.check(4096)


def test_a_rate_band_and_a_time_band() -> None:
    b = Band(0.8, 1.1, 10)
    rate = Figure.of(100, b, "tok/s")
    assert (rate.low, rate.high) == pytest.approx((80, 110))
    t = Figure.of(2.0, b, "s", inverse=True)
    assert (t.low, t.high) == pytest.approx((2 / 1.1, 2 / 0.8))


def test_answer_carries_a_speed_section() -> None:
    r = answer(Query("meta-llama/Llama-3.1-8B-Instruct", gpu="h100", ctx=8192))
    assert r.speed is not None
    s = r.speed
    assert s.engine == "vllm"
    assert s.decode_tok_s.low <= s.decode_tok_s.value <= s.decode_tok_s.high
    assert s.prefill_tok_s is not None
    assert s.prefill_tok_s.value > s.decode_tok_s.value
    curve = [p.output_tok_s for p in s.throughput_curve]
    assert curve == sorted(curve)  # more users, more output in all
    assert s.throughput_curve[-1].users >= 1


def test_speed_of_a_plan_that_holds_no_weights_is_none() -> None:
    r = answer(Query("meta-llama/Llama-3.1-405B-Instruct", gpu="rtx-4090", ctx=8192))
    assert not r.fits
    assert r.speed is None
    assert r.speed_note is not None
    assert "not estimated" in r.speed_note


def test_too_many_users_names_the_most_that_fit() -> None:
    q = Query(
        "meta-llama/Llama-3.1-8B-Instruct",
        gpu="rtx-4090",
        quant="Q4_K_M",
        engine="llama.cpp",
        ctx=8192,
        users=100_000,
    )
    with pytest.raises(InvalidSpecError, match=r"the most that fit: \d+ \(give --users"):
        answer(q)


def test_apple_prefill_is_not_guessed() -> None:
    p = plan(
        Query(
            "meta-llama/Llama-3.1-8B-Instruct",
            gpu="m2-ultra-192gb",
            quant="Q4_0",
            engine="llama.cpp",
            ctx=4096,
        )
    )
    s = estimate_speed(p.request, p.profile, default_workload(4096))
    assert s.prefill_tok_s is None
    assert s.ttft_s is None
    assert any("rigfit does not guess it" in n for n in s.notes)
    assert s.decode_tok_s.value > 0


def test_offload_without_a_ram_figure_says_what_it_assumed() -> None:
    r = answer(
        Query(
            "openai/gpt-oss-120b",
            gpu="rtx-4090",
            quant="MXFP4_MOE",
            engine="llama.cpp",
            ctx=8192,
            settings=EngineSettings(cpu_moe=True),
        )
    )
    assert r.speed is not None
    assert any("assumed DDR5-5600" in n for n in r.speed.notes)
    given = answer(
        Query(
            "openai/gpt-oss-120b",
            gpu="rtx-4090",
            quant="MXFP4_MOE",
            engine="llama.cpp",
            ctx=8192,
            ram_bandwidth="ddr5-12x",
            settings=EngineSettings(cpu_moe=True),
        )
    )
    assert given.speed is not None
    assert given.speed.decode_tok_s.value > r.speed.decode_tok_s.value


def test_speeds_on_accelerators_stop_at_one_node() -> None:
    from rigfit.answer import speeds_on

    rows = speeds_on("deepseek-ai/DeepSeek-R1", ("rtx-4090", "h200"), ("Q4_K_M",), 8192)
    small, big = rows
    assert small.gpus_needed is not None
    assert small.gpus_needed > 8
    assert small.decode_tok_s is None
    assert big.gpus_needed is not None
    assert big.gpus_needed <= 8
    assert big.decode_tok_s is not None
    assert big.decode_tok_s > 0


def test_llamacpp_without_flash_attention_says_its_attention_is_not_modelled() -> None:
    def notes(
        engine: str, model: str = "meta-llama/Llama-2-7b-hf", quant: str = "Q4_0", **given: object
    ) -> str:
        r = answer(
            Query(
                model,
                gpu="ryzen-ai-max-plus-395-128gb",
                quant=quant,
                engine=engine,
                ctx=4096,
                settings=EngineSettings(**given),  # type: ignore[arg-type]
            )
        )
        assert r.speed is not None
        return " ".join(r.speed.notes)

    assert "flash attention off" in notes("llama.cpp", flash_attn=False)
    assert "flash attention off" not in notes("llama.cpp")
    assert "flash attention off" not in notes("llama.cpp", flash_attn=True)
    # builds before b6300 ran without flash attention unless -fa was given
    assert "flash attention off" in notes("llama.cpp", version="b5392")
    # Ollama v0.24.0 runs Gemma 2 on llama.cpp's runner with flash attention off
    assert "flash attention off" in notes("ollama", model="google/gemma-2-9b-it")
    # vLLM's kernels are fused: no such note
    assert "flash attention off" not in notes("vllm", model="Qwen/Qwen3-8B", quant="BF16")


def test_time_to_first_token_adds_the_serving_engines_request_handling() -> None:
    from rigfit.speed.calibration import calibration

    cal = calibration()
    # fitted where the rows measure a server's first token; none where they time the prefill
    assert cal.constants["sglang/nvidia-hbm"].request_overhead_s > 0
    assert cal.constants["llama.cpp/nvidia-gddr"].request_overhead_s == 0
    assert cal.constants["mlx/apple"].request_overhead_s == 0

    def speed(engine: str, model: str, gpu: str, gpus: int, quant: str) -> tuple[float, float]:
        p = plan(Query(model, gpu=gpu, gpus=gpus, quant=quant, engine=engine, ctx=8192))
        s = estimate_speed(p.request, p.profile, Workload(1024, 64, 1))
        assert s.ttft_s is not None
        assert s.prefill_tok_s is not None
        return s.ttft_s.value, 1024 / s.prefill_tok_s.value

    ttft, prefill = speed("sglang", "Qwen/Qwen3-8B", "h100-sxm", 1, "BF16")
    c = cal.lookup("sglang", HardwareClass.NVIDIA_HBM)
    assert ttft == pytest.approx(prefill + c.request_overhead_s)
    ttft, prefill = speed("llama.cpp", "Qwen/Qwen3-8B", "rtx-4090", 1, "Q4_K_M")
    assert ttft == pytest.approx(prefill)
    # an engine without constants of its own borrows none: a server's handling is its own
    for engine in ("vllm", "transformers"):
        ttft, prefill = speed(engine, "Qwen/Qwen3-8B", "h100-sxm", 1, "BF16")
        assert ttft == pytest.approx(prefill)
    assert all(c.request_overhead_s == 0 for k, c in cal.constants.items() if k.startswith("*/"))


def test_a_served_round_counts_the_request_overhead_once_and_tpot_leaves_it_out() -> None:
    from rigfit.speed.estimate import ServedCycle

    r = ServedCycle(users=4, output_tokens=101, request_s=0.1, prefill_s=0.05, step_s=0.02)
    # the user's own prefill gives its first token; 100 decode steps give the rest
    assert r.cycle_s == pytest.approx(0.1 + 4 * 0.05 + 100 * 0.02)
    assert r.output_tok_s == pytest.approx(4 * 101 / r.cycle_s)
    # a user's tokens after its first: its steps, with the other three prefills between them
    assert r.tpot_s == pytest.approx((3 * 0.05 + 100 * 0.02) / 100)
    # the curve's per-user figure is the rate those tokens stream at, not output over a round
    assert r.point().per_user_tok_s == pytest.approx(1 / r.tpot_s)
    one = ServedCycle(users=1, output_tokens=101, request_s=0.1, prefill_s=0.05, step_s=0.02)
    assert one.point().per_user_tok_s == pytest.approx(1 / 0.02)  # one user: its decode speed


def test_the_answer_the_plan_and_validation_price_a_served_round_alike() -> None:
    """One formula: the answer's per-user figure, the plan's search (served_rates) and
    validation's TPOT row replay agree on the same request."""
    import json

    from rigfit.speed import served_rates
    from rigfit.speed.calibration import calibration
    from rigfit.validation.speed_rows import parse_speed_rows
    from rigfit.validation.speed_score import predict_row

    q = Query("Qwen/Qwen3-8B", gpu="h100-sxm", quant="BF16", engine="sglang", ctx=8192, seqs=8)
    p = plan(q)
    w = Workload(1000, 200, 8)
    s = estimate_speed(p.request, p.profile, w)
    rates = served_rates(p.request, p.profile, w)
    assert s.per_user_tok_s.value == pytest.approx(rates.per_user_tok_s)
    assert s.aggregate_tok_s.value == pytest.approx(rates.output_tok_s)
    (row,) = parse_speed_rows(
        json.dumps(
            {
                "id": "sgl-x-tpot",
                "engine": "sglang",
                "model": "Qwen/Qwen3-8B",
                "quant": "BF16",
                "gpu": "h100-sxm",
                "gpus": 1,
                "parallel": "single",
                "setup": {
                    "input_len": 1000,
                    "output_len": 200,
                    "concurrency": 8,
                    "num_prompts": 80,
                    "random_range_ratio": 1.0,
                    "kv_type": "auto",
                },
                "metric": "tpot_ms",
                "value": 10.0,
                "unit": "ms",
                "quote": "Median TPOT (ms): 10.0",
                "source": "https://example.com/x",
            }
        ),
        "test",
    )
    cal = calibration()
    c = cal.lookup("sglang", HardwareClass.NVIDIA_HBM)
    tpot_ms = predict_row(row, c, cal.host_bandwidth_efficiency, cal.allreduce_latency_s)
    assert 1000 / tpot_ms == pytest.approx(rates.per_user_tok_s, rel=0.02)


def test_serving_throughput_includes_the_engines_request_handling() -> None:
    """The curve's rounds carry SGLang's fitted request overhead: one user asking for few
    tokens gets fewer tokens/s than its prefill and decode steps alone would give."""
    from dataclasses import replace

    from rigfit.speed.calibration import calibration
    from rigfit.speed.estimate import prefill_compute_s, served_cycle
    from rigfit.speed.model import SpeedModel

    p = plan(Query("Qwen/Qwen3-8B", gpu="h100-sxm", quant="BF16", engine="sglang", ctx=8192))
    s = estimate_speed(p.request, p.profile, Workload(1024, 16, 1))
    cal = calibration()
    m = SpeedModel(p.request, p.profile)
    c = cal.lookup(m.kernels, HardwareClass.NVIDIA_HBM)
    assert c.request_overhead_s > 0
    host, ar = cal.host_bandwidth_efficiency, cal.allreduce_latency_s
    bare = served_cycle(
        m, replace(c, request_overhead_s=0.0), 1, 1024, 16, prefill_compute_s(m, 1024, c), host, ar
    )
    assert s.curve[0].users == 1
    assert s.curve[0].output_tok_s == pytest.approx(16 / (bare.cycle_s + c.request_overhead_s))
