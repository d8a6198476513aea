"""Geometry of the two charts (stacked memory bar, memory against context) from reports.

Only layout lives here: positions in percent or SVG units, computed from the library's numbers.
"""

from __future__ import annotations

import math

from rigfit.estimate.terms import Summary
from rigfit.frozen import frozen
from rigfit.report import CurveReport, FitReport, SpeedReport
from rigfit.units import GB, fmt_tokens, to_gb

__all__ = ["Bar", "LineChart", "Segment", "line_chart", "stacked_bar", "throughput_chart"]

# One segment per summary group, labelled as the result table's summary rows are
_GROUP_LABELS = {
    Summary.WEIGHTS: "weights",
    Summary.KV_CACHE: "KV cache",
    Summary.STATE: "recurrent state",
    Summary.ACTIVATIONS: "activations and buffers",
    Summary.RESERVE: "runtime reserve",
}


@frozen
class Segment:
    key: str
    label: str
    bytes: int
    left_pct: float
    width_pct: float


@frozen
class Bar:
    """The most loaded GPU: each term as a segment, and the capacity as a marker."""

    segments: list[Segment]
    capacity_pct: float
    used_pct: float
    scale_bytes: int


def stacked_bar(fit: FitReport) -> Bar:
    used, cap = fit.per_gpu_bytes, fit.capacity_per_gpu_bytes
    scale = max(used, cap)
    segs, left = [], 0.0
    tight = min(fit.devices, key=lambda d: (d.headroom_bytes, d.index)).index if fit.devices else 0
    on_tight = dict.fromkeys(Summary, 0)
    for t in fit.terms:
        if not t.host:
            on_tight[Summary(t.summary)] += t.per_device[tight] if t.per_device else t.per_gpu_bytes
    for group, label in _GROUP_LABELS.items():
        nbytes = on_tight[group]
        if nbytes <= 0:
            continue
        w = 100 * nbytes / scale
        segs.append(Segment(group.value, label, nbytes, round(left, 3), round(w, 3)))
        left += w
    return Bar(segs, round(100 * cap / scale, 3), round(100 * used / scale, 3), scale)


@frozen
class LineChart:
    """Memory per GPU (GB) against context (log scale) in a ``width`` × ``height`` box."""

    width: int
    height: int
    left: int
    bottom: int
    points: str  # SVG polyline points
    capacity_y: float
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    marker: tuple[float, float] | None
    max_fit_ctx: int  # largest plotted context that fits (0: none)
    summary: str  # the chart in words, for screen readers


def _nice_steps(top: float) -> list[float]:
    """Tick values 0, s, 2s ... up to ``top``, with s a 1, 2 or 5 times a power of ten giving
    between 4 and about 10 ticks."""
    step = 10 ** math.floor(math.log10(top / 4 or 1))
    step *= 5 if top / step > 20 else 2 if top / step > 8 else 1
    ticks, v = [], 0.0
    while v <= top:
        ticks.append(v)
        v += step
    return ticks


def line_chart(curve: CurveReport, ctx_tokens: int) -> LineChart:
    """Memory per GPU against context, with the capacity as a line."""
    return memory_chart(
        [(p.ctx_tokens, p.per_gpu_bytes, p.fits) for p in curve.points],
        curve.capacity_per_gpu_bytes,
        ctx_tokens,
    )


@frozen
class _Point:
    ctx_tokens: int
    per_gpu_bytes: int
    fits: bool


def memory_chart(
    points: list[tuple[int, int, bool]], capacity_bytes: int, marked_tokens: int
) -> LineChart:
    """Memory per GPU against tokens (a context, or a training sequence), log-scaled in tokens,
    with the capacity as a line and a marker at ``marked_tokens``."""
    w, h, left, right, top, bottom = 640, 260, 56, 12, 12, 36
    pts = [_Point(*p) for p in points]
    ctx_tokens = marked_tokens
    xs = [math.log2(p.ctx_tokens) for p in pts]
    x0, x1 = min(xs), max(xs)
    span_x = (x1 - x0) or 1.0
    ymax = max(max(p.per_gpu_bytes for p in pts), capacity_bytes) * 1.08

    def px(tokens: int) -> float:
        return round(left + (math.log2(tokens) - x0) / span_x * (w - left - right), 1)

    def py(nbytes: float) -> float:
        return round(h - bottom - nbytes / ymax * (h - top - bottom), 1)

    line = " ".join(f"{px(p.ctx_tokens)},{py(p.per_gpu_bytes)}" for p in pts)
    x_ticks = [(px(p.ctx_tokens), fmt_tokens(p.ctx_tokens)) for p in pts[:: max(1, len(pts) // 8)]]
    y_ticks = [(py(v * GB), f"{v:g}") for v in _nice_steps(to_gb(ymax))]
    in_range = [p for p in pts if p.ctx_tokens == ctx_tokens]
    marker = (px(ctx_tokens), py(in_range[0].per_gpu_bytes)) if in_range else None
    fitting = [p.ctx_tokens for p in pts if p.fits]
    summary = (
        f"Memory per GPU rises from {to_gb(pts[0].per_gpu_bytes):.1f} GB at"
        f" {fmt_tokens(pts[0].ctx_tokens)} tokens to {to_gb(pts[-1].per_gpu_bytes):.1f} GB at"
        f" {fmt_tokens(pts[-1].ctx_tokens)}; capacity {to_gb(capacity_bytes):.1f} GB."
    )
    return LineChart(
        w,
        h,
        left,
        bottom,
        line,
        py(capacity_bytes),
        x_ticks,
        y_ticks,
        marker,
        max(fitting, default=0),
        summary,
    )


def throughput_chart(speed: SpeedReport) -> LineChart | None:
    """Output tokens/s of all users together against concurrent users (log scale), up to
    the most the memory holds; the marker is the users asked for. None for a single point."""
    pts = speed.throughput_curve
    if len(pts) < 2:
        return None
    w, h, left, right, top, bottom = 640, 240, 64, 12, 12, 36
    x0, x1 = math.log2(pts[0].users), math.log2(pts[-1].users)
    span_x = (x1 - x0) or 1.0
    ymax = max(p.output_tok_s for p in pts) * 1.08

    def px(users: int) -> float:
        return round(left + (math.log2(users) - x0) / span_x * (w - left - right), 1)

    def py(v: float) -> float:
        return round(h - bottom - v / ymax * (h - top - bottom), 1)

    line = " ".join(f"{px(p.users)},{py(p.output_tok_s)}" for p in pts)
    x_ticks = [(px(p.users), f"{p.users:,}") for p in pts[:: max(1, len(pts) // 8)]]
    y_ticks = [(py(v), f"{v:,.0f}") for v in _nice_steps(ymax)]
    at = [p for p in pts if p.users == speed.users]
    marker = (px(speed.users), py(at[0].output_tok_s)) if at else None
    summary = (
        f"Output rises from {pts[0].output_tok_s:,.0f} tok/s with {pts[0].users} user to"
        f" {pts[-1].output_tok_s:,.0f} tok/s with {pts[-1].users:,} (the most the memory"
        f" holds), {pts[-1].per_user_tok_s:,.1f} tok/s each."
    )
    return LineChart(w, h, left, bottom, line, py(0), x_ticks, y_ticks, marker, 0, summary)
