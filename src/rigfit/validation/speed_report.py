"""Speed rows in ``rigfit validate``: error per engine, metric group and hardware class, on the
fit rows and the held-out rows separately, and the issue's targets."""

from __future__ import annotations

import statistics
from typing import Any

from rigfit.frozen import frozen
from rigfit.speed.calibration import calibration
from rigfit.validation.score import p90
from rigfit.validation.speed_score import SPEED_TARGETS, SpeedScore, score_speed

__all__ = [
    "SpeedGroup",
    "render_speed_validation",
    "speed_groups",
    "speed_targets",
    "speed_validation_dict",
]


@frozen
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
    return SpeedGroup(name, part, len(a), statistics.median(a), p90(a))


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


def speed_validation_dict(engine: str | None = None) -> dict[str, Any]:
    """Every speed row's score, the statistics per key and metric group (fit and held-out
    rows apart), and the targets; ``engine`` keeps its rows and groups (targets stay global)."""
    scores = score_speed()
    groups = speed_groups(scores)
    targets = speed_targets(groups)
    edges = calibration().meta.get("at_grid_edge") or {}
    assert isinstance(edges, dict)
    if engine is not None:
        scores = [s for s in scores if s.row.engine == engine]
        # the groups of the engine's kernels: llama.cpp's include its Vulkan build's
        keys = {s.key.split("/")[0] for s in scores}
        groups = [g for g in groups if g.name.split("/")[0] in keys]
        edges = {k: v for k, v in edges.items() if k.split("/")[0] in keys}
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
                "group": s.group,
                "held_out": s.held_out,
                "key": s.key,
                "not_scored": s.reason,
                "source": str(s.row.source),
            }
            for s in scores
        ],
        "groups": [
            {"group": g.name, "part": g.part, "n": g.n, "median_abs": g.median, "p90_abs": g.p90}
            for g in groups
        ],
        "targets": [
            {"group": g, "statistic": st, "bound": b, "value": v, "met": ok}
            for g, st, b, v, ok in targets
        ],
        # constants the fit leaves at an end of their grid: a bound, not a fit
        "at_grid_edge": edges,
    }


def render_speed_validation(data: dict[str, Any] | None = None, rows: bool = False) -> str:
    """The speed part of ``rigfit validate``, from :func:`speed_validation_dict`."""
    data = data if data is not None else speed_validation_dict()
    lines = ["Speed rows (|predicted/measured − 1|; fit and held-out rows apart)", ""]
    lines.append(f"{'group':42} {'part':9} {'n':>4} {'median':>8} {'p90':>8}")
    for g in data["groups"]:
        lines.append(
            f"{g['group']:42} {g['part']:9} {g['n']:>4} {g['median_abs']:>8.1%}"
            f" {g['p90_abs']:>8.1%}"
        )
    scored = [r for r in data["rows"] if r["error"] is not None]
    lines.append("")
    lines.append(
        f"{len(scored)} rows scored, {len(data['rows']) - len(scored)} kept but not scored"
        + (" (--rows says why)" if not rows else "")
    )
    lines.append("")
    lines.append("Speed targets (all scored rows)")
    for t in data["targets"]:
        shown = "n/a" if t["value"] is None else f"{t['value']:.1%}"
        verdict = "holds" if t["met"] else "DOES NOT HOLD"
        lines.append(
            f"  {t['group']} {t['statistic']} |error| ≤ {t['bound']:.0%}: {shown} {verdict}"
        )
    edges = data.get("at_grid_edge") or {}
    if edges:
        lines.append("")
        lines.append(
            "Constants at an end of their grid (a bound, not a fit: the rows want beyond it)"
        )
        lines += [f"  {key}: {', '.join(fields)}" for key, fields in edges.items()]
    if rows:
        lines.append("")
        for r in data["rows"]:
            if r["error"] is None:
                lines.append(f"  {r['id']}: not scored: {r['not_scored']}")
            else:
                held = " (held out)" if r["held_out"] else ""
                lines.append(
                    f"  {r['id']}: measured {r['measured']:g} {r['unit']}, predicted"
                    f" {r['predicted']:.4g}, {r['error']:+.1%}{held}"
                )
    return "\n".join(lines)
