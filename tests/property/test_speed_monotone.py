"""The speed model's invariants over catalog models, engines and systems (Hypothesis).

* A decode step never gets faster as the context grows or as more sequences share it (more
  bytes to read, more FLOPs), and the aggregate output of B sequences never falls below one
  sequence's (the weights are read once for all of them).
* A longer prompt never prefills in less time.
* More bandwidth on the same plan never slows a step: scaling every efficiency up is faster.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rigfit.answer import Query, plan
from rigfit.speed.calibration import Constants
from rigfit.speed.model import SpeedModel

CASES = (
    ("meta-llama/Llama-3.1-8B-Instruct", "rtx-4090", 1, "Q4_K_M", "llama.cpp"),
    ("meta-llama/Llama-3.1-70B-Instruct", "rtx-3090", 2, "Q4_K_M", "llama.cpp"),
    ("Qwen/Qwen3-30B-A3B", "h100", 1, "BF16", "vllm"),
    ("deepseek-ai/DeepSeek-R1", "h200", 8, "FP8-BLOCK", "sglang"),
    ("google/gemma-2-9b-it", "l40s", 1, "BF16", "vllm"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "a100-80gb-sxm", 2, "BF16", "vllm"),
    ("Qwen/Qwen3-Next-80B-A3B-Instruct", "h200", 1, "BF16", "sglang"),
    ("meta-llama/Llama-3.1-8B-Instruct", "m2-ultra-192gb", 1, "BF16", "mlx"),
)
C = Constants("prop", 0.7, 0.4, 2e-5, {}, 0)
FAST = Constants("prop", 0.9, 0.6, 2e-5, {}, 0)


def _model(i: int) -> SpeedModel:
    m, gpu, n, quant, engine = CASES[i]
    q = Query(m, gpu=gpu, gpus=n, quant=quant, engine=engine, ctx=48000, force_ctx=True)
    p = plan(q)
    return SpeedModel(p.request, p.profile.resolve(p.request))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, len(CASES) - 1),
    st.integers(1, 32000),
    st.integers(1, 700),
    st.integers(1, 256),
)
def test_decode_is_monotone(i: int, ctx: int, more_ctx: int, seqs: int) -> None:
    m = _model(i)
    t = m.decode_step_s(seqs, ctx, C, 0.6, 2e-5)
    assert m.decode_step_s(seqs, ctx + more_ctx, C, 0.6, 2e-5) >= t
    assert m.decode_step_s(seqs + 1, ctx, C, 0.6, 2e-5) >= t
    assert seqs / t >= 1 / m.decode_step_s(1, ctx, C, 0.6, 2e-5) * 0.999
    assert m.decode_step_s(seqs, ctx, FAST, 0.6, 2e-5) <= t


@settings(max_examples=30, deadline=None)
@given(st.integers(0, len(CASES) - 1), st.integers(1, 16000), st.integers(1, 16000))
def test_prefill_is_monotone(i: int, prompt: int, more: int) -> None:
    m = _model(i)
    assert m.prefill_s(prompt + more, C, 0.6, 2e-5) >= m.prefill_s(prompt, C, 0.6, 2e-5)


def test_every_case_plans() -> None:
    for i in range(len(CASES)):
        assert _model(i).parts
