"""Benchmarks for docs/benchmarks.md: one estimate, the CLI's cold start, the full sweep.

Run: .venv/bin/python scripts/bench.py
Prints numbers only; targets are judged by a person reading docs/benchmarks.md, not by tests.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import rigfit
from rigfit.engines.choice import AUTO
from rigfit.engines.generic import GENERIC
from rigfit.estimate import estimate
from rigfit.estimate.memory import EngineProfile, Request
from rigfit.hardware import System
from rigfit.quant import KVCacheType, WeightFormat

QUANTS = [
    WeightFormat.Q2_K,
    WeightFormat.Q3_K_M,
    WeightFormat.Q4_K_M,
    WeightFormat.Q5_K_M,
    WeightFormat.Q6_K,
    WeightFormat.Q8_0,
    WeightFormat.FP8,
    WeightFormat.BF16,
]
CTXS = [2048, 4096, 8192, 32_768, 131_072, 1_048_576]


def bench_one() -> None:
    _model, req = rigfit.make_request(
        "meta-llama/Llama-3.3-70B-Instruct", "h100-sxm", quant="Q4_K_M", ctx="32k"
    )
    t0 = time.perf_counter()
    estimate(req, GENERIC)
    first = time.perf_counter() - t0
    print(f"estimate, first call (prices all tensors): {first * 1e3:.3f} ms")
    for profile, n in ((GENERIC, 20_000), (AUTO, 500)):
        t0 = time.perf_counter()
        for _ in range(n):
            estimate(req, profile)
        warm = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        rigfit.fit(req, profile)
        fit_s = time.perf_counter() - t0
        name = profile.resolve(req).name
        print(f"estimate ({profile.name}: {name}), warm (mean of {n}): {warm * 1e6:.1f} µs")
        print(
            f"fit ({name}: estimate + max context + max seqs + suggestions): {fit_s * 1e3:.2f} ms"
        )


def bench_speed() -> None:
    """One speed estimate (decode at the prompt's end and at full context, users' decode,
    prefill, the request, the throughput curve) for the issue's two example plans."""
    from rigfit.answer import Query, plan
    from rigfit.speed import default_workload, estimate_speed

    for q in (
        Query(
            "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
            gpu="rtx-4090",
            gpus=2,
            quant="Q4_K_M",
            ctx="16k",
            engine="llama.cpp",
        ),
        Query("deepseek-r1", gpu="h200", gpus=8, ctx="32k", engine="sglang", seqs=64),
    ):
        p = plan(q)
        w = default_workload(p.request.ctx_tokens, p.request.seqs)
        t0 = time.perf_counter()
        estimate_speed(p.request, p.profile, w, max_users=512)
        first = time.perf_counter() - t0
        n = 500
        t0 = time.perf_counter()
        for _ in range(n):
            estimate_speed(p.request, p.profile, w, max_users=512)
        warm = (time.perf_counter() - t0) / n
        print(
            f"speed estimate ({p.profile.name}, {p.model.id} on {p.request.system.label}):"
            f" first {first * 1e3:.2f} ms, warm (mean of {n}) {warm * 1e3:.3f} ms"
        )


def bench_train() -> None:
    """One fine-tuning estimate (issue 13's target: < 1 ms), and a whole train answer (the
    estimate plus the micro-batch and sequence searches and the suggestions)."""
    from rigfit.catalog.lookup import get_model
    from rigfit.train import Method, TrainQuery, TrainSetup, train_answer, train_memory

    arch = get_model("meta-llama/Llama-3.1-8B").arch
    setup = TrainSetup(method=Method.QLORA)
    train_memory(arch, setup)  # shapes memoized on the architecture
    n = 5_000
    t0 = time.perf_counter()
    for _ in range(n):
        train_memory(arch, setup)
    warm = (time.perf_counter() - t0) / n
    print(f"train estimate (QLoRA, Llama-3.1-8B), warm (mean of {n}): {warm * 1e6:.1f} µs")
    t0 = time.perf_counter()
    train_answer(TrainQuery("meta-llama/Llama-3.1-8B", "rtx-4090", method="qlora"))
    print(
        f"train answer (+ searches, suggestions, speed): {(time.perf_counter() - t0) * 1e3:.2f} ms"
    )


# the README's example: the command whose cold start docs/benchmarks.md tracks
README_FIT = "fit deepseek-ai/DeepSeek-R1-Distill-Llama-70B --gpu rtx-4090 --gpus 2 --quant Q4_K_M"
README_FIT_ARGS = [*README_FIT.split(), "--ctx", "32k"]


def bench_cli(runs: int = 10) -> None:
    exe = Path(sys.executable).parent / "rigfit"
    args = [str(exe), *README_FIT_ARGS]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    print(
        f"rigfit fit, cold process, {runs} runs: median {statistics.median(times):.3f} s,"
        f" min {min(times):.3f} s, max {max(times):.3f} s"
    )


def bench_sweep(profile: EngineProfile, gpu_count: int | None = None) -> None:
    """Every model × quant × accelerator × context under ``profile`` (the generic arithmetic,
    or the default engine choice on the first ``gpu_count`` accelerators)."""
    models, gpus = rigfit.list_models(), rigfit.list_gpus()[:gpu_count]
    t0 = time.perf_counter()
    count = fits = skipped = 0
    for m in models:
        for q in QUANTS:
            for g in gpus:
                system = System(g, 1)
                for ctx in CTXS:
                    try:
                        req = Request(
                            m.arch, q, KVCacheType.F16, ctx, 1, system, allow_ctx_over_max=True
                        )
                        fits += estimate(req, profile).fits
                    except rigfit.RigfitError:
                        skipped += 1  # a format the model or the engine cannot use
                    count += 1
    dt = time.perf_counter() - t0
    print(
        f"sweep ({profile.name}): {len(models)} models x {len(gpus)} accelerators x"
        f" {len(QUANTS)} quants x"
        f" {len(CTXS)} contexts = {count:,} estimates in {dt:.2f} s"
        f" ({dt / count * 1e6:.1f} µs each; {fits:,} fit, {skipped} refused)"
    )


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}, rigfit {rigfit.__name__}")
    bench_one()
    bench_speed()
    bench_train()
    bench_cli()
    bench_sweep(GENERIC)
    bench_sweep(AUTO, gpu_count=12)
