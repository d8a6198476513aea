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
NOT_YET = {
    ("decode", "p90"): (
        "26.1% on the 241 scored decode rows (26.1% on the held-out 60): the tail is what"
        " rigfit has no input for (Qwen3-Next's DeltaNet under a 2025 Vulkan build, +167%;"
        " a 2024 build's Q4_K_M kernels on the M1 Max, +42% and +62%; SGLang's single-user"
        " steps for DeepSeek on 8 x MI300X and 8 x B200, 30-36% slower; a Strix Halo HIP"
        " build, +25% and +40%; Gemma 4 26B-A4B under HIP, +35%; DeepSeek-V3 over 8 x MI300X,"
        " +24-26%), one 4 x A100 SXM machine whose figures are below its 4 x A100 PCIe twin's"
        " in 28 of 32 setups (+20-33%), and the run-to-run spread of CPU-offload rows (one setup"
        " measured at 17.1 and 12.3 tok/s)"
    ),
}


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
