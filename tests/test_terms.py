"""Typed terms: every term kind has one summary group, so a report's summary adds up."""

from __future__ import annotations

import pytest

from rigfit.api import make_request
from rigfit.engines import ENGINES, get_engine
from rigfit.errors import RigfitError
from rigfit.estimate.memory import estimate
from rigfit.estimate.plan import FitResult
from rigfit.estimate.terms import Summary, TermKind
from rigfit.report import fit_report

# (model, GPU, count, format) cases that cover dense GQA, MLA, sliding windows, MoE, linear
# attention, a vision tower and mixed placements; each engine prices those it runs
CASES = [
    ("meta-llama/Llama-3.1-8B-Instruct", "rtx-4090", 1, None),
    ("meta-llama/Llama-3.1-8B-Instruct", "rtx-4090", 1, "Q4_K_M"),
    ("Qwen/Qwen3-30B-A3B", "h100-sxm", 2, None),
    ("Qwen/Qwen3-30B-A3B", "rtx-3090", 1, "Q4_K_M"),
    ("deepseek-ai/DeepSeek-V2-Lite-Chat", "a100-80gb-sxm", 1, None),
    ("deepseek-ai/DeepSeek-V2-Lite-Chat", "rtx-4090", 2, "Q8_0"),
    ("google/gemma-2-9b-it", "l4", 2, None),
    ("google/gemma-2-9b-it", "rtx-4090", 1, "Q6_K"),
    ("google/gemma-3-1b-it", "rtx-3060-12gb", 1, None),
    ("Qwen/Qwen3-Next-80B-A3B-Instruct", "h200", 1, None),
    ("Qwen/Qwen3-Next-80B-A3B-Instruct", "rtx-4090", 2, "Q4_K_M"),
    ("openai/gpt-oss-20b", "rtx-4090", 1, None),
    ("meta-llama/Llama-3.2-3B-Instruct", "m4-max-128gb", 1, None),
    ("meta-llama/Llama-3.2-3B-Instruct", "m4-max-128gb", 1, "Q4_K_M"),
    ("Qwen/Qwen3-30B-A3B", "m2-ultra-192gb", 1, None),
    ("google/gemma-2-9b-it", "m4-max-128gb", 1, None),
]


def test_every_kind_has_a_summary_group() -> None:
    """Summary groups partition the kinds: each kind adds to exactly one field."""
    assert {k.summary for k in TermKind} == set(Summary)
    assert all(isinstance(k.summary, Summary) for k in TermKind)


@pytest.mark.parametrize("engine", ENGINES)
def test_summary_fields_add_up_to_the_total(engine: str) -> None:
    """weights + KV + state + activations + reserve == total_bytes, for every engine."""
    profile = get_engine(engine)
    priced = 0
    for model, gpu, n, quant in CASES:
        for seqs in (1, 3):
            try:
                m, req = make_request(model, gpu, gpus=n, quant=quant, ctx="16k", seqs=seqs)
                est = estimate(req, profile)
            except RigfitError:
                continue  # a format or architecture this engine refuses
            priced += 1
            r = fit_report(m, FitResult(est, 0, 0, ()))
            parts = (
                r.weights_bytes,
                r.kv_cache_bytes,
                r.state_bytes,
                r.activation_bytes,
                r.reserve_bytes,
            )
            assert sum(parts) == r.total_bytes, (model, gpu, n, quant, seqs)
            gpu_terms = sum(t.total_bytes for t in r.terms if not t.host)
            assert gpu_terms == r.total_bytes
            assert sum(t.total_bytes for t in r.terms if t.host) == r.host_bytes
    assert priced >= 4, f"{engine} priced only {priced} of the cases"
