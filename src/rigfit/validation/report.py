"""The output of ``rigfit validate``: per-row errors, per-group statistics, the targets."""

from __future__ import annotations

from typing import Any

from rigfit.errors import InvalidSpecError
from rigfit.validation.measurements import Engine
from rigfit.validation.score import (
    check_targets,
    engine_group,
    group_stats,
    score_all,
)

__all__ = ["render_validation", "validation_dict"]


def validation_dict(engine: str | None = None) -> dict[str, Any]:
    """Every row's score, the statistics per engine and term, and each target's verdict.

    ``engine`` keeps its rows, its statistics and the targets that concern it (Ollama's rows
    are scored with llama.cpp's, whose accounting its runner uses).
    """
    scores = score_all()
    stats = group_stats(scores)
    targets = check_targets(stats)
    if engine is not None:
        names = [e.value for e in Engine]
        if engine not in names:
            raise InvalidSpecError(
                f"no measurements of engine {engine!r} (allowed: {', '.join(names)})"
            )
        group = engine_group(Engine(engine))
        scores = [s for s in scores if s.row.engine.value == engine]
        stats = [g for g in stats if g.engine == group]
        targets = [t for t in targets if group in t[0].engines]
    return {
        "rows": [
            {
                "id": s.row.id
                + {"total": " (run total)", "kv layout": " (layout)"}.get(s.term.value, ""),
                "engine": s.row.engine.value,
                "engine_version": s.row.engine_version,
                "model": s.row.model,
                "term": s.term.value,
                "measured": s.measured,
                "predicted": s.predicted,
                "rel_error": s.rel_error,
                "not_scored": s.reason or None,
                "source": str(s.row.source),
            }
            for s in scores
        ],
        "groups": [
            {
                "engine": g.engine,
                "term": g.term.value,
                "rows": g.rows,
                "scored": g.scored,
                "median_abs_error": g.median_abs,
                "p90_abs_error": g.p90_abs,
            }
            for g in stats
        ],
        "targets": [
            {
                "engines": list(t.engines),
                "term": t.term.value,
                "statistic": t.statistic,
                "limit": t.limit,
                "reached": reached,
                "holds": holds,
            }
            for t, reached, holds in targets
        ],
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def render_validation(d: dict[str, Any], *, rows: bool = True) -> str:
    lines: list[str] = []
    if rows:
        lines.append(f"{'row':58} {'term':14} {'measured':>16} {'rigfit':>16} {'error':>9}")
        for r in d["rows"]:
            meas = r["measured"]
            unit_bytes = r["term"] not in ("kv tokens", "concurrency", "kv layout")

            def f(v: float, unit_bytes: bool = unit_bytes) -> str:
                return f"{v / 2**20:,.2f} MiB" if unit_bytes else f"{v:,.2f}"

            pred = "-" if r["predicted"] is None else f(r["predicted"])
            err = _pct(r["rel_error"]) if r["rel_error"] is not None else "not scored"
            lines.append(f"{r['id'][:58]:58} {r['term']:14} {f(meas):>16} {pred:>16} {err:>9}")
            if r["not_scored"]:
                lines.append(f"{'':58}   ({r['not_scored']})")
        lines.append("")
    lines.append(f"{'engine':14} {'term':16} {'rows':>5} {'scored':>6} {'median':>8} {'p90':>8}")
    for g in d["groups"]:
        lines.append(
            f"{g['engine']:14} {g['term']:16} {g['rows']:>5} {g['scored']:>6}"
            f" {_pct(g['median_abs_error']):>8} {_pct(g['p90_abs_error']):>8}"
        )
    lines.append("")
    for t in d["targets"]:
        verdict = "holds" if t["holds"] else "MISSED"
        lines.append(
            f"target: {t['term']} ({', '.join(t['engines'])}) {t['statistic']} |error|"
            f" <= {100 * t['limit']:g}%: {_pct(t['reached'])} {verdict}"
        )
    return "\n".join(lines)
