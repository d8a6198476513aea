"""Many estimates at once: memory against context, every weight format of a model, every
catalog model on one accelerator. The web pages and the CLI draw their charts and tables from
these; no page computes a byte itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from rigfit.arch import Architecture
from rigfit.catalog.schema import GPURecord
from rigfit.errors import RigfitError
from rigfit.estimate.memory import EngineProfile, Estimate, Request, estimate
from rigfit.estimate.plan import fits, min_gpus
from rigfit.estimate.terms import Summary
from rigfit.estimate.weights import weight_breakdown
from rigfit.formats.gguf.size import gguf_file_bytes
from rigfit.frozen import frozen
from rigfit.hardware import System
from rigfit.quant import Family, KVCacheType, WeightFormat

__all__ = [
    "TABLE_CTX_TOKENS",
    "CurvePoint",
    "FormatRow",
    "context_curve",
    "context_points",
    "context_stops",
    "dominant_term",
    "format_table",
    "table_contexts",
]

SMALLEST_CTX_TOKENS = 512  # the first point of a curve: one prefill chunk (memory.py)


def context_points(max_tokens: int, *, extra: Iterable[int] = ()) -> list[int]:
    """Powers of two from 512 up to ``max_tokens``, the maximum itself and ``extra`` points.

    >>> context_points(40960, extra=[3000])
    [512, 1024, 2048, 3000, 4096, 8192, 16384, 32768, 40960]
    """
    points = {max_tokens}
    c = SMALLEST_CTX_TOKENS
    while c < max_tokens:
        points.add(c)
        c *= 2
    points.update(x for x in extra if 1 <= x <= max_tokens)
    return sorted(points)


def context_stops(max_tokens: int) -> list[int]:
    """Finer positions for choosing a context: powers of two and their 1.5× from 512, up to
    and including ``max_tokens``.

    >>> context_stops(8192)
    [512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192]
    """
    stops, c = set(), SMALLEST_CTX_TOKENS
    while c < max_tokens:
        stops.update({c, c * 3 // 2})
        c *= 2
    return [*sorted(s for s in stops if s < max_tokens), max_tokens]


# The contexts a per-format table shows besides the model's maximum: 4k, a common default
# (llama.cpp's -c before it followed the model), and 32k, where long-context use starts.
TABLE_CTX_TOKENS = (4096, 32768)


def table_contexts(max_tokens: int) -> list[int]:
    """The columns of a per-format table: :data:`TABLE_CTX_TOKENS` within the model's
    maximum, and the maximum.

    >>> table_contexts(40960), table_contexts(4096)
    ([4096, 32768, 40960], [4096])
    """
    return sorted({c for c in (*TABLE_CTX_TOKENS, max_tokens) if c <= max_tokens})


@frozen
class CurvePoint:
    """Memory at one context length."""

    ctx_tokens: int
    per_gpu_bytes: int
    total_bytes: int
    fits: bool


def context_curve(
    req: Request, points: Sequence[int] | None = None, profile: EngineProfile | None = None
) -> list[CurvePoint]:
    """Memory of ``req`` at each context in ``points`` (default: :func:`context_points` up to
    the larger of the model's maximum and the request's context)."""
    top = max(req.arch.context_length, req.ctx_tokens)
    out = []
    for c in points or context_points(top, extra=[req.ctx_tokens]):
        est = estimate(replace(req, ctx_tokens=c, allow_ctx_over_max=True), profile)
        # what the request needs at each context (a pre-allocated pool is the same size at
        # every context: the curve shows the share of it the sequences take)
        out.append(CurvePoint(c, est.needed_per_gpu_bytes, est.needed_total_bytes, est.fits))
    return out


@frozen
class FormatRow:
    """One weight format of one model: its weights and its total at a few contexts."""

    weight_format: WeightFormat
    weights_bytes: int | None  # None: the model cannot use this format (see ``error``)
    total_bytes_by_ctx: tuple[int, ...]  # one system of one reference GPU, per context
    gpus_needed: int | None  # reference GPUs needed at the first context (None: > 64)
    single_gpus_that_fit: tuple[str, ...]  # catalog ids, smallest capacity first
    error: str = ""
    gguf_file_bytes: int | None = None  # the predicted .gguf file, for GGUF formats
    decode_tok_s: float | None = None  # one user on the reference GPUs it needs


def format_table(
    arch: Architecture,
    ctxs: Sequence[int],
    reference: GPURecord,
    gpus: Iterable[GPURecord],
    *,
    kv_type: KVCacheType = KVCacheType.F16,
    formats: Iterable[WeightFormat] = tuple(WeightFormat),
    profile: EngineProfile | None = None,
    pooling: bool = False,
) -> list[FormatRow]:
    """Every weight format of ``arch``: weights, totals at ``ctxs`` (one sequence, on one
    ``reference`` GPU), how many ``reference`` GPUs it needs at ``ctxs[0]``, and which single
    accelerators of ``gpus`` hold it at ``ctxs[0]``."""
    pool = sorted(gpus, key=lambda g: (System(g, 1).capacity_per_gpu_bytes, g.id))
    rows: list[FormatRow] = []
    for fmt in formats:
        try:
            weights = weight_breakdown(arch, fmt).total_bytes
            base = Request(
                arch, fmt, kv_type, ctxs[0], 1, System(reference, 1), True, pooling=pooling
            )
            totals = tuple(
                estimate(replace(base, ctx_tokens=c), profile).needed_total_bytes for c in ctxs
            )
        except RigfitError as exc:
            rows.append(FormatRow(fmt, None, (), None, (), str(exc)))
            continue
        singles = tuple(g.id for g in pool if fits(replace(base, system=System(g, 1)), profile))
        file_bytes = gguf_file_bytes(arch, fmt) if fmt.family is Family.GGUF else None
        n = min_gpus(base, profile)
        rate = None
        if n is not None:
            from rigfit.engines.choice import AUTO
            from rigfit.speed.estimate import decode_rate

            rate = decode_rate(replace(base, system=System(reference, n)), profile or AUTO)
        rows.append(FormatRow(fmt, weights, totals, n, singles, "", file_bytes, rate))
    return rows


def dominant_term(est: Estimate) -> str:
    """One sentence on what dominates the memory of an estimate, and what that implies."""
    # what the request needs: a pre-allocated pool counts as the sequences' share of it
    total = est.needed_total_bytes
    weights = est.summary_bytes(Summary.WEIGHTS)
    cache = est.summary_bytes(Summary.KV_CACHE) + est.summary_bytes(Summary.STATE)
    if est.pool is not None:
        n = est.request.system.n_devices
        cache = est.pool.demand_per_gpu_bytes * n + est.summary_bytes(Summary.STATE)
    req = est.request
    share_w, share_c = weights / total, cache / total
    ctx = f"{req.ctx_tokens:,} tokens × {req.seqs}"
    if share_w >= 0.5:
        return (
            f"Weights dominate: {share_w:.0%} of the memory at {ctx} in"
            f" {req.weight_format.label}; a smaller weight format saves the most."
        )
    if share_c >= 0.5:
        return (
            f"The KV cache dominates: {share_c:.0%} of the memory at {ctx}; a shorter context,"
            " fewer sequences or a quantized KV cache save the most."
        )
    return f"Weights ({share_w:.0%}) and the KV cache ({share_c:.0%}) share the memory at {ctx}."
