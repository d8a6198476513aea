"""The answers users come for: does it fit, how much context or concurrency fits, what would
make it fit, and which catalog accelerators fit.

Every answer is a search over :func:`rigfit.estimate.memory.estimate`, which never falls as
context, sequences, GPUs' load or bits grow (a property test holds it to that), so bisection
finds the exact limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from rigfit.catalog.schema import GPURecord
from rigfit.errors import RigfitError
from rigfit.estimate.memory import MAX_SEQS, EngineProfile, Estimate, Request, estimate
from rigfit.hardware import System
from rigfit.quant import Family, KVCacheType, WeightFormat

__all__ = [
    "FitResult",
    "GPURow",
    "Suggestion",
    "fit",
    "fits",
    "gpu_table",
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


def _largest(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
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


def max_context(req: Request, profile: EngineProfile | None = None) -> int:
    """Largest context (up to the model's maximum) that fits with ``req.seqs``; 0 if none."""
    top = max(req.arch.context_length, req.ctx_tokens)
    return _largest(
        1, top, lambda c: fits(replace(req, ctx_tokens=c, allow_ctx_over_max=True), profile)
    )


def max_seqs(req: Request, profile: EngineProfile | None = None) -> int:
    """Most concurrent sequences of ``req.ctx_tokens`` that fit; 0 if not even one."""
    return _largest(1, MAX_SEQS, lambda s: fits(replace(req, seqs=s), profile))


def _gpu_search(
    req: Request, profile: EngineProfile | None
) -> tuple[int | None, RigfitError | None]:
    """Fewest GPUs of the request's kind that fit it, and, when none does, the engine's error
    if it refused the request at every count searched (None when it merely did not fit)."""
    if req.system.gpu.unified_memory:
        counts = range(1, 2)
        req = replace(req, system=System(req.system.gpu, 1))
    else:
        counts = range(1, MAX_GPUS_SEARCHED + 1)
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


def min_gpus(req: Request, profile: EngineProfile | None = None) -> int | None:
    """Fewest GPUs of the request's kind that fit it (None beyond the search limit)."""
    return _gpu_search(req, profile)[0]


@dataclass(frozen=True)
class Suggestion:
    """One change that would make a request fit, with its result."""

    change: str
    per_gpu_bytes: int
    headroom_per_gpu_bytes: int
    option: str  # the request field it changes: gpus, quant, kv_type, ctx or seqs
    value: str  # its new value, as the CLI flag and the web form take it


def _try(req: Request, profile: EngineProfile | None) -> Estimate | None:
    try:
        est = estimate(req, profile)
    except RigfitError:
        return None
    return est if est.fits else None


def suggestions(req: Request, profile: EngineProfile | None = None) -> list[Suggestion]:
    """Changes that would make a request that does not fit, fit (empty when it fits)."""
    if fits(req, profile):
        return []
    out: list[Suggestion] = []

    def add(change: str, est: Estimate | None, option: str, value: object) -> None:
        if est is not None:
            out.append(
                Suggestion(
                    change, est.per_gpu_bytes, est.headroom_per_gpu_bytes, option, str(value)
                )
            )

    n = min_gpus(req, profile)
    if n is not None and n != req.system.count:
        add(
            f"use {n} × {req.system.gpu.id} (--gpus {n})",
            _try(replace(req, system=req.system.with_count(n)), profile),
            "gpus",
            n,
        )
    family = req.weight_format.family
    candidates = [f for f in WeightFormat if f.family is family or family is Family.FLOAT]
    for fmt in sorted(candidates, key=lambda f: f.nominal_bits, reverse=True):
        if fmt.nominal_bits < req.weight_format.nominal_bits:
            est = _try(replace(req, weight_format=fmt), profile)
            if est is not None:
                add(f"quantize to {fmt.label} (--quant {fmt.label})", est, "quant", fmt.label)
                break
    for kv in (KVCacheType.Q8_0, KVCacheType.FP8, KVCacheType.Q4_0):
        if kv.bits_per_element < req.kv_type.bits_per_element:
            est = _try(replace(req, kv_type=kv), profile)
            if est is not None:
                add(
                    f"store the KV cache as {kv.flag} (--kv-type {kv.flag})",
                    est,
                    "kv_type",
                    kv.flag,
                )
                break
    ctx = max_context(req, profile)
    if ctx >= 1:
        add(
            f"shorten the context to {ctx:,} tokens (--ctx {ctx})",
            _try(replace(req, ctx_tokens=ctx), profile),
            "ctx",
            ctx,
        )
    if req.seqs > 1:
        s = max_seqs(req, profile)
        if s >= 1:
            add(
                f"serve {s} concurrent sequences (--seqs {s})",
                _try(replace(req, seqs=s), profile),
                "seqs",
                s,
            )
    return out


@dataclass(frozen=True)
class FitResult:
    """The full answer to "will it fit?"."""

    estimate: Estimate
    max_context_tokens: int  # at the requested concurrency, up to the model's maximum
    max_seqs: int  # at the requested context
    suggestions: tuple[Suggestion, ...]

    @property
    def fits(self) -> bool:
        return self.estimate.fits


def fit(req: Request, profile: EngineProfile | None = None) -> FitResult:
    """Estimate ``req`` and answer the follow-up questions."""
    return FitResult(
        estimate(req, profile),
        max_context(req, profile),
        max_seqs(req, profile),
        tuple(suggestions(req, profile)),
    )


@dataclass(frozen=True)
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
