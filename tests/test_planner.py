"""rigfit plan: the least hardware that meets a request, and models that fit a system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigfit.errors import InvalidSpecError
from rigfit.planner import (
    Budget,
    Minimize,
    PlanQuery,
    models_that_fit,
    parse_budget,
    plan_hardware,
)

SMALL = "Qwen/Qwen3-8B"


def test_budget() -> None:
    assert parse_budget("5000") == Budget(5000, hourly=False)
    assert parse_budget("$2.5k") == Budget(2500, hourly=False)
    assert parse_budget("12/h") == Budget(12, hourly=True)
    with pytest.raises(InvalidSpecError, match="not an amount"):
        parse_budget("cheap")


def test_fewest_devices_first_and_each_option_fits() -> None:
    plan = plan_hardware(PlanQuery(SMALL, ctx="8k", gpus=("rtx-4090", "rtx-3060-12gb", "h100-sxm")))
    assert plan.options, plan.rejected
    counts = [o.count for o in plan.options]
    assert counts == sorted(counts)
    for o in plan.options:
        assert o.report is not None
        assert o.report.fits
        assert o.report.command
        assert o.report.ctx_tokens == 8192


def test_a_speed_floor_adds_devices_where_they_help() -> None:
    plain = plan_hardware(PlanQuery(SMALL, ctx="8k", gpus=("rtx-4090",), quants=("BF16",)))
    floor = plan_hardware(
        PlanQuery(SMALL, ctx="8k", gpus=("rtx-4090",), quants=("BF16",), min_tok_s=80)
    )
    (one,) = plain.options
    (more,) = floor.options
    assert one.count == 1
    assert more.count > 1
    assert more.per_user_tok_s is not None
    assert more.per_user_tok_s >= 80


def test_no_option_names_the_binding_constraint_and_the_nearest() -> None:
    plan = plan_hardware(PlanQuery(SMALL, ctx="8k", gpus=("rtx-4090",), min_tok_s=5000))
    assert plan.options == ()
    assert plan.binding is not None
    assert "--min-tok-s 5000" in plan.binding
    assert plan.nearest is not None
    assert plan.nearest.report is not None


def test_ranking_by_rent_uses_sourced_prices() -> None:
    plan = plan_hardware(PlanQuery(SMALL, ctx="8k", minimize=Minimize.RENT, vendor="nvidia"))
    rents = [o.rent_usd_per_hour for o in plan.options]
    assert all(r is not None for r in rents)
    assert rents == sorted(rents)  # type: ignore[type-var]
    assert all(o.rent is not None and o.rent.source for o in plan.options)


def test_a_budget_in_the_wrong_unit_is_refused() -> None:
    with pytest.raises(InvalidSpecError, match="hourly rent"):
        plan_hardware(PlanQuery(SMALL, budget=Budget(5, True), minimize=Minimize.PRICE))


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (PlanQuery(SMALL, users=0), "--users"),
        (PlanQuery(SMALL, max_gpus=0), "--max-gpus"),
        (PlanQuery(SMALL, min_tok_s=-1), "--min-tok-s"),
        (PlanQuery(SMALL, vendor="ibm"), "--vendor"),
        (PlanQuery(SMALL, segment="mainframe"), "--segment"),
    ],
)
def test_bad_plan_input(query: PlanQuery, says: str) -> None:
    with pytest.raises(InvalidSpecError, match=says):
        plan_hardware(query)


@pytest.fixture
def two_3090(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorded 2 × RTX 3090 machine (nvidia-smi's query, as rigfit runs it)."""
    row = "NVIDIA GeForce RTX 3090, 24576, 0x220410DE\n"
    csv = f"0, {row}1, {row}"
    machine = {
        "platform": "linux",
        "commands": {
            "nvidia-smi --query-gpu=index,name,memory.total,pci.device_id"
            " --format=csv,noheader,nounits": csv
        },
        "files": {"/proc/meminfo": "MemTotal:       65747012 kB\n"},
    }
    path = tmp_path / "machine.json"
    path.write_text(json.dumps(machine))
    monkeypatch.setenv("RIGFIT_MACHINE", str(path))


@pytest.mark.usefixtures("two_3090")
def test_plan_on_this_machine() -> None:
    plan = plan_hardware(PlanQuery("meta-llama/Llama-3.3-70B-Instruct", ctx="8k", gpus=("auto",)))
    assert plan.scope == "this machine"
    assert {(o.gpu.id, o.count) for o in plan.options} == {("rtx-3090", 2)}
    assert plan.options[0].quant == "Q4_K_M"


@pytest.mark.usefixtures("two_3090")
def test_models_that_fit_this_machine() -> None:
    system, rows = models_that_fit("auto", models=["meta-llama/Llama-3.3-70B-Instruct", SMALL])
    assert "2 × NVIDIA GeForce RTX 3090" in system
    by = {r.model: r for r in rows}
    assert by[SMALL].quant == "BF16"  # the checkpoint itself fits
    assert by["meta-llama/Llama-3.3-70B-Instruct"].quant == "Q4_K_M"


def test_ranking_by_energy_per_token() -> None:
    plan = plan_hardware(
        PlanQuery(SMALL, ctx="8k", users=4, minimize=Minimize.ENERGY, vendor="nvidia", limit=5)
    )
    joules = [o.metric(Minimize.ENERGY) for o in plan.options]
    assert all(j is not None for j in joules)
    assert joules == sorted(joules)  # type: ignore[type-var]
    for o in plan.options:
        assert o.power_w is not None
        assert o.aggregate_tok_s is not None
        assert o.metric(Minimize.ENERGY) == o.power_w / o.aggregate_tok_s
