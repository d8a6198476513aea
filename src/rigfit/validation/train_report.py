"""``rigfit validate``'s fine-tuning section: error per framework group, fit and held-out rows
apart, and issue 13's targets."""

from __future__ import annotations

import math
from typing import Any

from rigfit.validation.train_score import (
    MEMORY_TARGETS,
    SPEED_TARGET,
    cross_validate,
    score_train,
    summary,
)

__all__ = ["render_train_validation", "train_validation_dict"]


def train_validation_dict() -> dict[str, Any]:
    scores = score_train()
    groups = []
    for metric in ("memory", "tokens/s"):
        for modelled in (True, False):
            for part, held in (("fit", False), ("held out", True), ("all", None)):
                n, med, p90 = summary(scores, metric, held, modelled)
                if n:
                    groups.append(
                        {
                            "metric": metric,
                            "frameworks": "modelled" if modelled else "others",
                            "part": part,
                            "rows": n,
                            "median": med,
                            "p90": p90,
                        }
                    )
    cross = cross_validate()
    for metric in ("memory", "tokens/s"):
        n, med, p90 = summary(cross, metric)
        if n:
            groups.append(
                {
                    "metric": metric,
                    "frameworks": "modelled",
                    "part": "each group fitted without it",
                    "rows": n,
                    "median": med,
                    "p90": p90,
                }
            )
    n, med, p90 = summary(scores, "memory")
    sn, smed, _ = summary(scores, "tokens/s")
    targets = [
        {
            "name": "peak memory median |error| <= 10%",
            "value": med,
            "met": n > 0 and med <= MEMORY_TARGETS["median"],
        },
        {
            "name": "peak memory p90 |error| <= 20%",
            "value": p90,
            "met": n > 0 and p90 <= MEMORY_TARGETS["p90"],
        },
        {
            "name": "tokens/s median |error| <= 25%",
            "value": smed if sn else None,
            "met": sn > 0 and smed <= SPEED_TARGET,
        },
    ]
    rows = [
        {
            "id": s.row.id,
            "framework": s.row.framework,
            "metric": s.metric,
            "predicted": s.predicted,
            "measured": s.measured,
            "error": s.error,
            "held_out": s.row.held_out,
            "source": str(s.row.source),
        }
        for s in scores
    ]
    return {"groups": groups, "targets": targets, "rows": rows}


def render_train_validation(data: dict[str, Any] | None = None, rows: bool = False) -> str:
    data = data or train_validation_dict()
    lines = [
        "Fine-tuning rows (|predicted/measured - 1|; modelled frameworks: transformers, PEFT,"
        " TRL, DeepSpeed, accelerate)",
        "",
        f"{'metric':<10} {'frameworks':<10} {'part':<29} {'n':>4} {'median':>8} {'p90':>8}",
    ]
    for g in data["groups"]:
        lines.append(
            f"{g['metric']:<10} {g['frameworks']:<10} {g['part']:<29} {g['rows']:>4}"
            f" {100 * g['median']:>7.1f}% {100 * g['p90']:>7.1f}%"
        )
    if rows:
        lines.append("")
        for r in data["rows"]:
            flag = " (held out)" if r["held_out"] else ""
            lines.append(f"  {r['id']}: {r['metric']} {100 * r['error']:+.1f}%{flag} {r['source']}")
    lines += ["", "Fine-tuning targets (modelled frameworks, all rows)"]
    for t in data["targets"]:
        value = (
            "no rows"
            if t["value"] is None or math.isnan(t["value"])
            else f"{100 * t['value']:.1f}%"
        )
        lines.append(f"  {t['name']}: {value} {'holds' if t['met'] else 'DOES NOT HOLD'}")
    return "\n".join(lines)
