"""Speed rows in ``rigfit validate``: error per engine, metric group and hardware class, on the
fit rows and the held-out rows separately, and the issue's targets."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from rigfit.validation.score import _p90
from rigfit.validation.speed_score import SPEED_TARGETS, SpeedScore, score_speed

__all__ = [
    "SpeedGroup",
    "render_speed_validation",
    "speed_groups",
    "speed_targets",
    "speed_validation_dict",
]


@dataclass(frozen=True)
class SpeedGroup:
    name: str  # engine/class/metric group, or "all/<group>"
    part: str  # "fit", "held out" or "all"
    n: int
    median: float
    p90: float


def _stats(name: str, part: str, errs: list[float]) -> SpeedGroup | None:
    if not errs:
        return None
    a = [abs(e) for e in errs]
    return SpeedGroup(name, part, len(a), statistics.median(a), _p90(a))


def speed_groups(scores: list[SpeedScore]) -> list[SpeedGroup]:
    out: list[SpeedGroup] = []
    scored = [s for s in scores if s.error is not None]
    keys = sorted({(s.key, s.group) for s in scored})
    for key, group in keys:
        for part, pick in (("fit", False), ("held out", True)):
            errs = [
                s.error
                for s in scored
                if s.key == key and s.group == group and s.held_out is pick and s.error is not None
            ]
            g = _stats(f"{key}/{group}", part, errs)
            if g:
                out.append(g)
    for group in ("decode", "prefill", "throughput"):
        for part, picks in (("fit", (False,)), ("held out", (True,)), ("all", (False, True))):
            errs = [
                s.error
                for s in scored
                if s.group == group and s.held_out in picks and s.error is not None
            ]
            g = _stats(f"all/{group}", part, errs)
            if g:
                out.append(g)
    return out


def speed_targets(groups: list[SpeedGroup]) -> list[tuple[str, str, float, float | None, bool]]:
    """(group, statistic, bound, value on all scored rows, met)."""
    out = []
    for group, stat, bound in SPEED_TARGETS:
        g = next((x for x in groups if x.name == f"all/{group}" and x.part == "all"), None)
        v = None if g is None else (g.median if stat == "median" else g.p90)
        out.append((group, stat, bound, v, v is not None and v <= bound))
    return out


def speed_validation_dict() -> dict[str, Any]:
    scores = score_speed()
    groups = speed_groups(scores)
    return {
        "rows": [
            {
                "id": s.row.id,
                "engine": s.row.engine,
                "metric": s.row.metric.value,
                "measured": s.row.value,
                "unit": s.row.unit,
                "predicted": None if s.predicted is None else round(s.predicted, 4),
                "error": None if s.error is None else round(s.error, 4),
                "held_out": s.held_out,
                "key": s.key,
                "not_scored": s.reason,
                "source": str(s.row.source),
            }
            for s in scores
        ],
        "groups": [g.__dict__ for g in groups],
        "targets": [
            {"group": g, "statistic": st, "bound": b, "value": v, "met": ok}
            for g, st, b, v, ok in speed_targets(groups)
        ],
    }


def render_speed_validation(rows: bool = False) -> str:
    scores = score_speed()
    groups = speed_groups(scores)
    lines = ["Speed (|predicted/measured − 1|; rates and times alike)", ""]
    lines.append(f"{'group':48} {'part':9} {'n':>4} {'median':>8} {'p90':>8}")
    for g in groups:
        lines.append(f"{g.name:48} {g.part:9} {g.n:>4} {g.median:>8.1%} {g.p90:>8.1%}")
    not_scored = [s for s in scores if s.error is None]
    lines.append("")
    lines.append(
        f"{len(scores) - len(not_scored)} rows scored, {len(not_scored)} kept but not scored"
        " (rigfit validate --rows says why)"
    )
    lines.append("")
    lines.append("Speed targets (all scored rows)")
    for group, stat, bound, v, ok in speed_targets(groups):
        shown = "n/a" if v is None else f"{v:.1%}"
        lines.append(f"  {group} {stat} ≤ {bound:.0%}: {shown} {'met' if ok else 'NOT met'}")
    if rows:
        lines.append("")
        for s in scores:
            if s.error is None:
                lines.append(f"  {s.row.id}: not scored: {s.reason}")
            else:
                lines.append(
                    f"  {s.row.id}: measured {s.row.value:g} {s.row.unit}, predicted"
                    f" {s.predicted:.4g}, {s.error:+.1%}{' (held out)' if s.held_out else ''}"
                )
    return "\n".join(lines)
