"""The speed model against the sourced speed measurements: the issue's accuracy targets.

Scored on every row the model replays (fit and held-out rows together, as issue 10 states
them); docs/speed.md reports the held-out rows on their own.
"""

from __future__ import annotations

import pytest

from rigfit.validation.speed_report import speed_groups, speed_targets
from rigfit.validation.speed_score import SPEED_TARGETS, score_speed

# Targets the set does not reach yet, each with what it reaches and why (strict: a change that
# makes one hold fails here until it is moved back to the holding ones).
NOT_YET: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize(
    ("group", "stat", "bound"),
    [
        pytest.param(g, st, b, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[(g, st)]))
        if (g, st) in NOT_YET
        else (g, st, b)
        for g, st, b in SPEED_TARGETS
    ],
)
def test_target_holds(group: str, stat: str, bound: float) -> None:
    targets = speed_targets(speed_groups(score_speed()))
    (hit,) = [t for t in targets if t[0] == group and t[1] == stat]
    value = hit[3]
    assert value is not None, f"no scored {group} rows"
    assert value <= bound, f"{group} {stat} |error| {value:.1%} > {bound:.0%}"


def test_every_row_is_scored_or_says_why() -> None:
    for s in score_speed():
        assert (s.error is None) == (s.reason is not None), s.row.id
