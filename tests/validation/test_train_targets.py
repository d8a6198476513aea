"""The training estimate against the sourced fine-tuning runs: issue 13's accuracy targets,
on the frameworks rigfit prices (transformers, PEFT, TRL, DeepSpeed, accelerate), and the
committed calibration equals a fresh fit."""

from __future__ import annotations

import json

import pytest

from rigfit.train.calibration import CALIBRATION_PATH
from rigfit.validation.train_rows import load_train_rows
from rigfit.validation.train_score import (
    MEMORY_TARGETS,
    MODELLED_FRAMEWORKS,
    SPEED_TARGET,
    fit_calibration,
    score_train,
    summary,
)


def test_the_set_has_rows_of_the_modelled_frameworks() -> None:
    rows = [r for r in load_train_rows() if r.framework in MODELLED_FRAMEWORKS]
    assert sum(r.peak_bytes is not None for r in rows) >= 20
    assert any(r.held_out for r in rows)


@pytest.mark.parametrize(("stat", "bound"), sorted(MEMORY_TARGETS.items()))
def test_memory_target(stat: str, bound: float) -> None:
    n, median, p90 = summary(score_train(), "memory")
    assert n >= 20
    value = median if stat == "median" else p90
    assert value <= bound, f"peak memory {stat} |error| {value:.1%} > {bound:.0%}"


def test_speed_target() -> None:
    n, median, _ = summary(score_train(), "tokens/s")
    assert n >= 10
    assert median <= SPEED_TARGET


def test_calibration_is_the_fit() -> None:
    cal = fit_calibration()
    data = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    assert data["context_bytes"] == cal.context_bytes
    assert data["allocator_fraction"] == cal.allocator_fraction
    assert data["mfu"] == cal.mfu
