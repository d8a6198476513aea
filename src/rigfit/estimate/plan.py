"""The answers users come for: does it fit, how much context or concurrency fits, what would
make it fit, and which catalog accelerators fit.

Every answer is a search over :func:`rigfit.estimate.memory.estimate`, whose ``fits`` never
turns True as context, sequences, bits per weight or KV bits grow, under every engine
(tests/property/test_engine_monotone.py holds each to that, and its headroom too where the
engine's placement does not change with the load), so bisection finds the exact limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from enum import StrEnum

from rigfit.catalog.schema import GPURecord
from rigfit.errors import RigfitError
from rigfit.estimate.memory import MAX_SEQS, EngineProfile, Estimate, Request, estimate
from rigfit.frozen import frozen
from rigfit.hardware import System
from rigfit.quant import Family, KVCacheType, WeightFormat
from rigfit.units import MIB

__all__ = [
    "Cost",
    "FitResult",
    "GPURow",
    "Suggestion",
    "fit",
    "fits",
    "gpu_table",
    "largest_passing",
    "max_context",
    "max_seqs",
    "min_gpus",
]

MAX_GPUS_SEARCHED = 64  # "what would make it fit" looks at up to this many GPUs of one kind


def fits(req: Request, profile: EngineProfile | None = None) -> bool:
    """Whether ``req`` fits; a request the engine refuses (a GPU count its parallelism cannot
    use, a format the device has no kernels for) does not."""
    try:
        return estimate(req, profile).fits
    except RigfitError:
        return False


def largest_passing(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """Largest x in [lo, hi] with ok(x), given ok is monotone (true then false); lo-1 if none."""
    if not ok(lo):
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _smallest(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """Smallest x in [lo, hi] with ok(x), given ok is monotone (false then true); hi+1 if
    none."""
    if lo > hi or not ok(hi):
        return hi + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def max_context(req: Request, profile: EngineProfile | None = None) -> int:
    """Largest context (up to the model's maximum) that fits with ``req.seqs``; 0 if none."""
    top = max(req.arch.context_length, req.ctx_tokens)
    return largest_passing(
        1, top, lambda c: fits(replace(req, ctx_tokens=c, allow_ctx_over_max=True), profile)
    )


def max_seqs(req: Request, profile: EngineProfile | None = None) -> int:
    """Most concurrent sequences of ``req.ctx_tokens`` that fit; 0 if not even one."""
    return largest_passing(1, MAX_SEQS, lambda s: fits(replace(req, seqs=s), profile))


def _gpu_search(
    req: Request, profile: EngineProfile | None, most: int = MAX_GPUS_SEARCHED
) -> tuple[int | None, RigfitError | None]:
    """Fewest GPUs of the request's kind (up to ``most``) that fit it, and, when none does,
    the engine's error if it refused the request at every count searched (None when it
    merely did not fit)."""
    if req.system.gpu.unified_memory or req.system.gpu.one_per_host:
        counts = range(1, 2)
        req = replace(req, system=req.system.with_count(1))
    else:
        counts = range(1, min(most, MAX_GPUS_SEARCHED) + 1)
    refused: RigfitError | None = None
    estimated = False
    for n in counts:
        try:
            est = estimate(replace(req, system=req.system.with_count(n)), profile)
        except RigfitError as exc:
            refused = refused or exc
            continue
        estimated = True
        if est.fits:
            return n, None
    return None, (None if estimated else refused)


def min_gpus(
    req: Request, profile: EngineProfile | None = None, most: int = MAX_GPUS_SEARCHED
) -> int | None:
    """Fewest GPUs of the request's kind that fit it (None beyond ``most``, at most the
    search limit)."""
    return _gpu_search(req, profile, most)[0]


class Cost(StrEnum):
    """What a suggestion costs the user, cheapest first: the order :func:`suggestions` ranks
    them in. A setting costs nothing; a quantized KV cache a little accuracy; offloading to
    system RAM speed; smaller weights more accuracy; a shorter context or fewer sequences what
    the deployment can do; more accelerators money."""

    SETTING = "a setting"
    KV_PRECISION = "a little accuracy"
    SPEED = "speed"
    WEIGHT_PRECISION = "accuracy"
    CAPABILITY = "context or concurrency"
    HARDWARE = "hardware"


_COST_ORDER = tuple(Cost)


@frozen
class Suggestion:
    """One change that would make a request fit, with its result."""

    change: str
    per_gpu_bytes: int
    headroom_per_gpu_bytes: int
    option: str  # the request field it changes: gpus, quant, kv_type, ctx, seqs, ngl, ...
    value: str  # its new value, as the CLI flag and the web form take it
    cost: Cost = Cost.SETTING  # what it costs the user: the order suggestions come in


# macOS keeps memory for itself above the GPU wired limit; rigfit suggests limits that leave
# 8 GiB to the system (a margin rigfit chooses, not an Apple figure: Apple documents none).
APPLE_OS_MARGIN_MIB = 8 * 1024
# vLLM users raise --gpu-memory-utilization up to 0.95 (the measurement set's logs run 0.90 to
# 0.95); above that CUDA graphs and other processes have too little room to count on.
VLLM_UTILIZATION_CEILING = 0.95


def _try(req: Request, profile: EngineProfile | None) -> Estimate | None:
    try:
        est = estimate(req, profile)
    except RigfitError:
        return None
    return est if est.fits else None


def suggestions(
    req: Request, profile: EngineProfile | None = None, *, auto_engine: bool = False
) -> list[Suggestion]:
    """Changes that would make a request that does not fit, fit (empty when it fits), each
    re-estimated under the same engine, cheapest for the user first (see :class:`Cost`).

    ``auto_engine``: the engine was rigfit's default choice, not the user's, so another weight
    format is priced under the engine that format would get by default (a GGUF type under
    llama.cpp when the 16-bit checkpoint went to vLLM), as ``--quant`` alone would."""
    if fits(req, profile):
        return []
    engine = (profile or _auto()).resolve(req).name
    out: list[Suggestion] = []

    def add(cost: Cost, change: str, est: Estimate | None, option: str, value: object) -> None:
        if est is not None:
            out.append(
                Suggestion(
                    change,
                    est.per_gpu_bytes,
                    est.headroom_per_gpu_bytes,
                    option,
                    str(value),
                    cost,
                )
            )

    _setting_suggestions(req, profile, engine, add)
    for kv in (KVCacheType.Q8_0, KVCacheType.FP8, KVCacheType.Q4_0):
        if kv.bits_per_element < req.kv_type.bits_per_element:
            est = _try(replace(req, kv_type=kv), profile)
            if est is not None:
                change = f"store the KV cache as {kv.flag} (--kv-type {kv.flag})"
                add(Cost.KV_PRECISION, change, est, "kv_type", kv.flag)
                break
    if engine == "llama.cpp":
        _offload_suggestions(req, profile, add)
    _format_suggestion(req, profile, engine, add, auto=auto_engine)
    ctx = max_context(req, profile)
    if ctx >= 1:
        change = f"shorten the context to {ctx:,} tokens (--ctx {ctx})"
        add(Cost.CAPABILITY, change, _try(replace(req, ctx_tokens=ctx), profile), "ctx", ctx)
    if req.seqs > 1:
        s = max_seqs(req, profile)
        if s >= 1:
            change = f"serve {s} concurrent sequences (--seqs {s})"
            add(Cost.CAPABILITY, change, _try(replace(req, seqs=s), profile), "seqs", s)
    n = min_gpus(req, profile)
    if n is not None and n != req.system.count:
        add(
            Cost.HARDWARE,
            f"use {n} × {req.system.gpu.id} (--gpus {n})",
            _try(replace(req, system=req.system.with_count(n)), profile),
            "gpus",
            n,
        )
    out.sort(key=lambda x: _COST_ORDER.index(x.cost))
    return out


def _format_suggestion(
    req: Request, profile: EngineProfile | None, engine: str, add: _Add, *, auto: bool
) -> None:
    """The highest-precision smaller weight format that fits, trying first a format the engine
    makes from the checkpoint as it loads (vLLM's FP8: no other checkpoint needed), then those
    the device runs natively before those an engine only emulates (vLLM's weight-only Marlin
    kernels for FP8, NVFP4 and MXFP4 on GPUs without their tensor cores: same memory, slower),
    and, with ``auto`` (the engine picked per format), the serving engines' formats before
    bitsandbytes, which only transformers' generate runs."""
    from rigfit.engines.choice import candidates as engines_for

    family = req.weight_format.family
    options = [f for f in WeightFormat if f.family is family or family is Family.FLOAT]
    by_bits = sorted(options, key=lambda f: f.nominal_bits, reverse=True)
    source = req.source_format or req.weight_format
    gpu = req.system.gpu

    def implied(fmt: WeightFormat) -> str:
        # the engine the format implies, read from the format alone (no estimate)
        return engines_for(fmt, gpu)[0][0] if auto else engine

    def order(fmt: WeightFormat) -> tuple[bool, bool, bool]:
        runs = implied(fmt)
        loads = runs == engine and _loads_from(runs, fmt, source)
        library = runs == "transformers" != engine
        return not loads, _emulated(fmt, gpu), library

    try_profile = _auto() if auto else profile
    for fmt in sorted(by_bits, key=order):
        if fmt.nominal_bits < req.weight_format.nominal_bits:
            trial = replace(req, weight_format=fmt)
            est = _try(trial, try_profile)
            if est is not None:
                runs = (try_profile or _auto()).resolve(trial).name
                also = f"; {runs} runs it" if runs != engine else ""
                change = f"quantize to {fmt.label} (--quant {fmt.label}{also})"
                add(Cost.WEIGHT_PRECISION, change, est, "quant", fmt.label)
                return


def _emulated(fmt: WeightFormat, gpu: GPURecord) -> bool:
    """Whether vLLM would run ``fmt`` on ``gpu`` only through a weight-only fallback."""
    from rigfit.engines.checks import emulation_note

    return emulation_note(fmt, gpu) is not None


def _loads_from(engine: str, fmt: WeightFormat, source: WeightFormat) -> bool:
    """Whether ``engine`` makes ``fmt`` from a ``source`` checkpoint as it loads it."""
    from rigfit.engines.checks import makes_at_load

    return source.family is Family.FLOAT and makes_at_load(engine, fmt)


def _auto() -> EngineProfile:
    """The default engine choice (imported late: the engines import this package)."""
    from rigfit.engines.choice import AUTO

    return AUTO


_Add = Callable[[Cost, str, "Estimate | None", str, object], None]


def _setting_suggestions(
    req: Request, profile: EngineProfile | None, engine: str, add: _Add
) -> None:
    """Settings that cost nothing: macOS's GPU wired limit, vLLM's memory share."""
    system = req.system
    if system.gpu.unified_memory:
        top = system.gpu.memory_bytes // MIB - APPLE_OS_MARGIN_MIB
        base = system.capacity_per_gpu_bytes // MIB // 1024 * 1024

        def limit(k: int) -> int:
            return min(base + 1024 * k, top)

        def at(k: int) -> Request:
            return replace(req, system=replace(system, wired_limit_mb=limit(k)))

        steps = -(-(top - base) // 1024)
        if steps >= 1:
            k = _smallest(1, steps, lambda k: fits(at(k), profile))
            if k <= steps:
                mb = limit(k)
                add(
                    Cost.SETTING,
                    f"raise macOS's GPU memory limit to {mb:,} MiB (sudo sysctl"
                    f" iogpu.wired_limit_mb={mb}; --wired-limit-mb {mb})",
                    _try(at(k), profile),
                    "wired_limit_mb",
                    mb,
                )
    if engine == "vllm":
        u = req.engine.gpu_memory_utilization or 0.9
        if u < VLLM_UTILIZATION_CEILING:
            more = replace(req.engine, gpu_memory_utilization=VLLM_UTILIZATION_CEILING)
            add(
                Cost.SETTING,
                f"give vLLM {VLLM_UTILIZATION_CEILING:g} of each GPU"
                f" (--gpu-memory-utilization {VLLM_UTILIZATION_CEILING:g})",
                _try(replace(req, engine=more), profile),
                "gpu_memory_utilization",
                VLLM_UTILIZATION_CEILING,
            )


def _offload_suggestions(req: Request, profile: EngineProfile | None, add: _Add) -> None:
    """llama.cpp: keep the experts of the first N layers in RAM (MoE), or only N layers on
    the GPUs; N chosen to fill the GPUs, and the RAM when --ram is given."""
    s, layers = req.engine, req.arch.num_layers
    if req.arch.moe is not None and not s.cpu_moe and s.ngl is None:
        start = s.n_cpu_moe

        def with_moe(k: int) -> Request:
            return replace(req, engine=replace(s, n_cpu_moe=k))

        # fewest expert layers in RAM that fit: fits(with_moe(k)) turns true as k grows
        k = _smallest(start + 1, layers, lambda k: fits(with_moe(k), profile))
        if k <= layers:
            add(
                Cost.SPEED,
                f"keep the experts of the first {k} layers in system RAM (--n-cpu-moe {k})",
                _try(with_moe(k), profile),
                "n_cpu_moe",
                k,
            )
            return
    top = layers if s.ngl is None else min(s.ngl, layers)

    def with_ngl(k: int) -> Request:
        return replace(req, engine=replace(s, ngl=k))

    n = largest_passing(0, top - 1, lambda k: fits(with_ngl(k), profile)) if top > 0 else -1
    if n >= 1:
        add(
            Cost.SPEED,
            f"offload {n} of {layers} layers to the GPUs, the rest in system RAM (--ngl {n})",
            _try(with_ngl(n), profile),
            "ngl",
            n,
        )


@frozen
class FitResult:
    """The full answer to "will it fit?"."""

    estimate: Estimate
    max_context_tokens: int  # at the requested concurrency, up to the model's maximum
    max_seqs: int  # at the requested context
    suggestions: tuple[Suggestion, ...]

    @property
    def fits(self) -> bool:
        return self.estimate.fits


def fit(
    req: Request, profile: EngineProfile | None = None, *, auto_engine: bool = False
) -> FitResult:
    """Estimate ``req`` and answer the follow-up questions (``auto_engine``: see
    :func:`suggestions`)."""
    return FitResult(
        estimate(req, profile),
        max_context(req, profile),
        max_seqs(req, profile),
        tuple(suggestions(req, profile, auto_engine=auto_engine)),
    )


@frozen
class GPURow:
    """One accelerator in the "which GPUs fit" table."""

    gpu: GPURecord
    gpus_needed: int | None  # fewest that fit (None: more than the search limit)
    per_gpu_bytes: int | None
    capacity_per_gpu_bytes: int
    headroom_per_gpu_bytes: int | None
    engine: str | None = None  # the engine that priced it (the default choice may differ by GPU)


def gpu_table(
    req: Request, gpus: Iterable[GPURecord], profile: EngineProfile | None = None
) -> list[GPURow]:
    """For each accelerator: how many of it the request needs, and the headroom then.

    Accelerators the engine does not run the request on at any count are left out (an
    engine for Apple silicon on NVIDIA, say); when it runs on none, its error is raised.
    """
    rows: list[GPURow] = []
    refused: RigfitError | None = None
    for gpu in gpus:
        base = replace(req, system=System(gpu, 1))
        n, error = _gpu_search(base, profile)
        if n is None:
            if error is not None:
                refused = refused or error
                continue
            rows.append(GPURow(gpu, None, None, base.system.capacity_per_gpu_bytes, None))
            continue
        est = estimate(replace(req, system=System(gpu, n)), profile)
        rows.append(
            GPURow(
                gpu,
                n,
                est.per_gpu_bytes,
                est.capacity_per_gpu_bytes,
                est.headroom_per_gpu_bytes,
                est.profile,
            )
        )
    if not rows and refused is not None:
        raise refused
    rows.sort(
        key=lambda r: (r.gpus_needed is None, r.gpus_needed or 0, -(r.headroom_per_gpu_bytes or 0))
    )
    return rows
