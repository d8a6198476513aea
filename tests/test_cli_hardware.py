"""The CLI on the user's own hardware: --gpu auto, doctor, custom specs, plan, models --fits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rigfit.cli import main

CSV_2X3090 = (
    "0, NVIDIA GeForce RTX 3090, 24576, 0x220410DE\n1, NVIDIA GeForce RTX 3090, 24576, 0x220410DE\n"
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "machine.json"
    path.write_text(
        json.dumps(
            {
                "platform": "linux",
                "commands": {
                    "nvidia-smi --query-gpu=index,name,memory.total,pci.device_id"
                    " --format=csv,noheader,nounits": CSV_2X3090
                },
                "files": {"/proc/meminfo": "MemTotal:       65747012 kB\n"},
            }
        )
    )
    monkeypatch.setenv("RIGFIT_MACHINE", str(path))
    return path


@pytest.mark.usefixtures("machine")
def test_doctor() -> None:
    code, out, _ = run("doctor")
    assert code == 0
    assert "NVIDIA GeForce RTX 3090" in out
    assert "10de:2204" in out
    assert "--gpu auto means: --gpu rtx-3090 --gpus 2 --ram 64206MiB" in out
    code, out, _ = run("doctor", "--json")
    data = json.loads(out)
    assert [d["catalog_id"] for d in data["devices"]] == ["rtx-3090", "rtx-3090"]


@pytest.mark.usefixtures("machine")
def test_fit_auto_uses_every_detected_device() -> None:
    code, out, _ = run(
        "fit",
        "meta-llama/Llama-3.3-70B-Instruct",
        "--gpu",
        "auto",
        "--quant",
        "Q4_K_M",
        "--ctx",
        "8k",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert (data["gpu"], data["gpus"], data["fits"]) == ("rtx-3090", 2, True)
    assert any(n.startswith("--gpu auto: 2 × NVIDIA GeForce RTX 3090") for n in data["notes"])


@pytest.mark.usefixtures("machine")
def test_auto_refuses_more_devices_than_found() -> None:
    code, _, err = run("fit", "Qwen/Qwen3-8B", "--gpu", "auto", "--gpus", "4")
    assert code == 2
    assert "this machine has 2 × NVIDIA GeForce RTX 3090" in err


def test_auto_with_nothing_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    monkeypatch.setenv("RIGFIT_MACHINE", str(empty))
    code, _, err = run("fit", "Qwen/Qwen3-8B", "--gpu", "auto")
    assert code == 2
    assert err.startswith("error: --gpu auto found no accelerator; looked for:")
    assert "Traceback" not in err


def test_custom_gpu() -> None:
    code, out, _ = run(
        "fit",
        "Qwen/Qwen3-8B",
        "--gpu",
        "custom:memory=16GiB,bandwidth=448GB/s",
        "--quant",
        "Q4_K_M",
        "--ctx",
        "8k",
    )
    assert code == 0
    assert "given: memory=16 GiB" in out
    assert "FITS" in out
    code, _, err = run("fit", "Qwen/Qwen3-8B", "--gpu", "custom:memory=16GiB,speed=9")
    assert code == 2
    assert "unknown field 'speed'" in err


@pytest.mark.usefixtures("machine")
def test_plan_on_this_machine_copies_a_command() -> None:
    code, out, _ = run("plan", "meta-llama/Llama-3.3-70B-Instruct", "--ctx", "8k", "--gpu", "auto")
    assert code == 0
    assert "2 × rtx-3090" in out
    assert "llama-server -m Llama-3.3-70B-Instruct-Q4_K_M.gguf -c 8192 -ngl 999" in out


def test_plan_json_and_no_option() -> None:
    code, out, _ = run(
        "plan", "Qwen/Qwen3-8B", "--gpu", "rtx-3060-12gb", "--min-tok-s", "1000", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["options"] == []
    assert "--min-tok-s 1000" in data["binding"]
    assert data["nearest"]["gpu"] == "rtx-3060-12gb"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--budget", "lots"), "--budget 'lots' is not an amount"),
        (("--minimize", "joy"), "Invalid value for '--minimize'"),
        (("--gpu", "rtx-9999"), "unknown GPU 'rtx-9999'"),
        (("--quant", "Q9_K"), "Q9_K"),
    ],
)
def test_plan_bad_input(args: tuple[str, ...], says: str) -> None:
    code, _, err = run("plan", "Qwen/Qwen3-8B", *args)
    assert code == 2
    assert says in err


@pytest.mark.usefixtures("machine")
def test_models_that_fit_this_machine() -> None:
    code, out, _ = run("models", "--fits", "auto", "--family", "llama")
    assert code == 0
    assert "meta-llama/Llama-3.3-70B-Instruct" in out
    assert "Q4_K_M" in out
    code, out, _ = run("models", "--fits", "rtx-4090", "--search", "Qwen3-8B", "--json")
    data = json.loads(out)
    assert data["system"] == "rtx-4090"
    assert [m["model"] for m in data["models"]] == ["Qwen/Qwen3-8B"]


def _machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: dict[str, object]) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(recording))
    monkeypatch.setenv("RIGFIT_MACHINE", str(path))


@pytest.mark.parametrize(
    "recording",
    [
        # a card the catalog lacks (a 20 GB RTX 3080) beside an RTX 5090
        {
            "commands": {
                "nvidia-smi --query-gpu=index,name,memory.total,pci.device_id"
                " --format=csv,noheader,nounits": "0, NVIDIA GeForce RTX 3080, 20480, 0x220610DE\n"
                "1, NVIDIA GeForce RTX 5090, 32607, 0x2B8510DE\n"
            }
        },
        # a Mac at a memory size the catalog lacks
        {
            "platform": "darwin",
            "commands": {
                "sysctl machdep.cpu.brand_string hw.memsize": (
                    "machdep.cpu.brand_string: Apple M4\nhw.memsize: 10737418240\n"
                )
            },
        },
    ],
)
def test_doctors_flags_can_be_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: dict[str, object]
) -> None:
    """Every flag `rigfit doctor` prints runs: a device the catalog lacks is a custom spec."""
    _machine(tmp_path, monkeypatch, recording)
    _, out, _ = run("doctor", "--json")
    data = json.loads(out)
    auto = run("fit", "Qwen/Qwen3-0.6B", "--gpu", "auto", "--ctx", "4k", "--json")
    monkeypatch.delenv("RIGFIT_MACHINE")
    typed = run("fit", "Qwen/Qwen3-0.6B", *data["flags"], "--ctx", "4k", "--json")
    assert auto[0] == 0, auto[2]
    assert typed[0] == 0, typed[2]
    a, t = json.loads(auto[1]), json.loads(typed[1])
    assert a["capacity_per_gpu_bytes"] == t["capacity_per_gpu_bytes"]
    assert a["per_gpu_bytes"] == t["per_gpu_bytes"]
    assert any(d["catalog_id"] is None for d in data["devices"])


def test_models_options_need_fits() -> None:
    code, _, err = run("models", "--ctx", "8k")
    assert code == 2
    assert "--gpus and --ctx go with --fits" in err
