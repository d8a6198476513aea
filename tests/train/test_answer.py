"""rigfit train: the verdict, searches, suggestions, commands, and bad input (CLI and API)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rigfit.cli import main
from rigfit.train import TrainQuery, train_answer


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_largest_micro_batch_and_sequence_are_the_edges_of_fitting() -> None:
    a = train_answer(TrainQuery("meta-llama/Llama-3.1-8B", "rtx-4090", method="qlora"))
    assert a.fits
    over = train_answer(
        TrainQuery(
            "meta-llama/Llama-3.1-8B", "rtx-4090", method="qlora", micro_batch=a.max_micro_batch + 1
        )
    )
    assert not over.fits
    at = train_answer(
        TrainQuery(
            "meta-llama/Llama-3.1-8B", "rtx-4090", method="qlora", micro_batch=a.max_micro_batch
        )
    )
    assert at.fits


def test_a_70b_full_fine_tune_on_8_h100_needs_offload() -> None:
    a = train_answer(
        TrainQuery("meta-llama/Llama-3.1-70B-Instruct", "h100", gpus=8, method="full", zero=3)
    )
    assert not a.fits
    fixes = {s.flag: s for s in a.suggestions}
    assert fixes["--offload"].fits
    assert not fixes["--optimizer adamw8bit"].fits
    for s in a.suggestions:  # each suggestion is re-estimated
        assert s.per_gpu_bytes != a.per_gpu_bytes
    assert a.command.startswith(
        "accelerate launch --config_file examples/accelerate_configs/deepspeed_zero3.yaml"
    )


def test_cli_json() -> None:
    code, out, err = run(
        "train", "meta-llama/Llama-3.1-8B", "--gpu", "rtx-4090", "--method", "qlora", "--json"
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["method"] == "qlora"
    assert d["trainable_params"] == 41_943_040
    phase = d["peak_phase"]
    held = [t for t in d["terms"] if not t["on_host"] and t["phase"] in ("both", phase)]
    assert sum(t["bytes"] for t in held) + d["runtime_bytes"] == d["per_gpu_bytes"]
    assert d["command"].startswith("trl sft --model_name_or_path meta-llama/Llama-3.1-8B")
    assert "--load_in_4bit" in d["command"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--lora-rank", "0"), "--lora-rank must be at least 1"),
        (("--lora-targets", "attn"), "unknown module 'attn'"),
        (("--zero", "4"), "--zero must be 0, 1, 2 or 3"),
        (("--micro-batch", "0"), "--micro-batch must be at least 1"),
        (("--seq", "0"), "token count"),
        (("--seq", "1M"), "above the model's context"),
        (("--gpus", "2"), ""),
    ],
)
def test_bad_input_is_one_line(args: tuple[str, ...], says: str) -> None:
    code, _out, err = run("train", "meta-llama/Llama-3.1-8B", "--gpu", "rtx-4090", *args)
    if not says:  # two GPUs default to DDP: valid
        assert code == 0, err
        return
    assert code == 2
    assert says in err
    assert err.count("\n") == 1


def test_a_mac_is_refused_with_the_reason() -> None:
    code, _, err = run("train", "Qwen/Qwen3-8B", "--gpu", "m4-max-128gb")
    assert code == 2
    assert "MLX LoRA is not modelled" in err


def test_api_equals_cli() -> None:
    from fastapi.testclient import TestClient

    from rigfit.web import create_app

    with TestClient(create_app()) as client:
        params = {"model": "meta-llama/Llama-3.1-8B", "gpu": "rtx-4090", "method": "qlora"}
        got = client.get("/api/v1/train", params=params).json()
        bad = client.get("/api/v1/train", params={**params, "lora_rank": 0})
    _code, out, _ = run(
        "train", "meta-llama/Llama-3.1-8B", "--gpu", "rtx-4090", "--method", "qlora", "--json"
    )
    assert got == json.loads(out)
    assert bad.status_code == 422
