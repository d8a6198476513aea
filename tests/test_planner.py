"""rigfit plan: the least hardware that meets a request, and models that fit a system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigfit.errors import InvalidSpecError, RigfitError
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
    found = models_that_fit("auto", models=["meta-llama/Llama-3.3-70B-Instruct", SMALL])
    assert "2 × NVIDIA GeForce RTX 3090" in found.system
    by = {r.model: r for r in found.rows}
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


def test_a_users_apple_entry_does_not_decide_the_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Formats resolve on a bundled reference, not on the first accelerator listed (the
    user's come first, and a Mac has no FP8 kernels)."""
    monkeypatch.setenv("RIGFIT_CONFIG_DIR", str(tmp_path))
    (tmp_path / "accelerators.toml").write_text(
        '[[accelerator]]\nid = "my-mac"\nname = "My Mac"\nvendor = "apple"\n'
        'segment = "apple-silicon"\narchitecture = "Apple M2 Max"\nrelease_year = 2023\n'
        'form_factor = "SoC"\nmemory_type = "LPDDR5"\nmemory_gb = 32\n'
        "memory_bytes = 34359738368\nunified_memory = true\nbandwidth_gb_s = 400\n"
        'interconnect = "none"\n'
    )
    plan = plan_hardware(PlanQuery("deepseek-r1", ctx="8k", gpus=("h200",)))
    assert {o.quant for o in plan.options} >= {"FP8-BLOCK"}
    plan = plan_hardware(PlanQuery(SMALL, ctx="8k", gpus=("h100-sxm",), quants=("FP8",)))
    assert [o.quant for o in plan.options] == ["FP8"]


def test_this_machines_wired_limit_reaches_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan --gpu auto` prices a Mac with its iogpu.wired_limit_mb, as `fit --gpu auto`."""
    from rigfit.answer import Query, answer

    machine = {
        "platform": "darwin",
        "commands": {
            "sysctl machdep.cpu.brand_string hw.memsize": (
                "machdep.cpu.brand_string: Apple M2\nhw.memsize: 17179869184\n"
            ),
            "sysctl iogpu.wired_limit_mb": "iogpu.wired_limit_mb: 14000\n",
        },
    }
    path = tmp_path / "mac.json"
    path.write_text(json.dumps(machine))
    monkeypatch.setenv("RIGFIT_MACHINE", str(path))
    fit = answer(Query(SMALL, gpu="auto", quant="Q8_0", ctx="32k"))
    assert fit.fits  # 14,000 MiB, where macOS's default 2/3 of 16 GiB would not hold it
    plan = plan_hardware(PlanQuery(SMALL, ctx="32k", gpus=("auto",), quants=("Q8_0",)))
    (option,) = plan.options
    assert option.report is not None
    assert option.report.capacity_per_gpu_bytes == fit.capacity_per_gpu_bytes


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (PlanQuery(SMALL, engine="lama.cpp"), "unknown engine"),
        (PlanQuery(SMALL, kv_type="zz"), "KV cache type"),
        (PlanQuery(SMALL, users=10**9), "--users must be from 1 to"),
        (PlanQuery(SMALL, max_gpus=1024), "--max-gpus must be from 1 to 64"),
    ],
)
def test_bad_input_is_one_error_not_a_thousand_rejections(query: PlanQuery, says: str) -> None:
    with pytest.raises(RigfitError, match=says):
        plan_hardware(query)


def test_two_custom_cards_stay_apart() -> None:
    plan = plan_hardware(
        PlanQuery(
            SMALL,
            ctx="8k",
            gpus=(
                "custom:memory=24GiB,bandwidth=1000GB/s",
                "custom:memory=12GiB,bandwidth=500GB/s",
            ),
            quants=("Q4_K_M",),
        )
    )
    assert len({o.gpu.id for o in plan.options}) == 2


def test_formats_the_model_cannot_take_are_skipped() -> None:
    """AWQ's groups of 128 do not divide Gemma 4 26B-A4B's 704-wide experts: a plan over every
    format leaves AWQ out instead of failing whole; named with --quant it is an error."""
    from rigfit.api import resolve_model
    from rigfit.planner import _qualities

    model = resolve_model("google/gemma-4-26B-A4B")
    assert set(_qualities(model, ["AWQ", "BF16", "Q4_K_M"], strict=False)) == {"BF16", "Q4_K_M"}
    with pytest.raises(RigfitError, match="groups of 128"):
        _qualities(model, ["AWQ"], strict=True)


def test_an_engine_that_refuses_the_model_is_the_reason_given() -> None:
    """Every option refused because vLLM does not price Gemma 4: the plan says that, not
    "does not fit"."""
    from rigfit.planner import PlanQuery, plan_hardware

    result = plan_hardware(PlanQuery("google/gemma-4-26B-A4B", engine="vllm", ctx="8k"))
    assert not result.options
    assert "different head sizes" in result.binding


def test_a_quantized_checkpoint_is_served_as_published() -> None:
    """GLM-4.5-Air-FP8 is published in per-channel FP8: the plan tries no 16-bit weights (there
    are none to serve; the BF16 twin is its own catalog model), and where the checkpoint and a
    Q8_0 made from it both fit one device, the checkpoint comes first."""
    from rigfit.api import resolve_model
    from rigfit.planner import _formats

    air = "zai-org/GLM-4.5-Air-FP8"
    formats = _formats(resolve_model(air), PlanQuery(air))
    assert formats[0] == "FP8-CHANNEL"
    assert not set(formats) & {"BF16", "F16"}
    assert "Q8_0" in formats
    plan = plan_hardware(PlanQuery(air, ctx="8k", gpus=("h200", "b200")))
    options = [(o.gpu.id, o.count, o.quant) for o in plan.options]
    assert options[:2] == [("b200", 1, "FP8-CHANNEL"), ("h200", 1, "FP8-CHANNEL")]
    assert ("h200", 1, "Q8_0") in options[2:]
