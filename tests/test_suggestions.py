"""Suggestions: each is re-estimated, runnable as the command line it names, and ranked by what
it costs the user (rigfit.estimate.plan.Cost)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rigfit.cli import main
from rigfit.estimate.plan import Cost

# The CLI flag of each suggestion's option
FLAGS = {
    "gpus": "--gpus",
    "quant": "--quant",
    "kv_type": "--kv-type",
    "ctx": "--ctx",
    "seqs": "--seqs",
    "ngl": "--ngl",
    "n_cpu_moe": "--n-cpu-moe",
    "gpu_memory_utilization": "--gpu-memory-utilization",
    "wired_limit_mb": "--wired-limit-mb",
}

CASES = [
    # a dense 70B on two 24 GB cards (llama.cpp): KV type, -ngl, a smaller type, more GPUs
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "rtx-4090", "2", "Q4_K_M", "32k", "1"),
    # a MoE whose experts can stay in RAM (llama.cpp --n-cpu-moe)
    ("Qwen/Qwen3-30B-A3B", "rtx-4090", "1", "Q8_0", "32k", "1"),
    # Apple silicon: macOS's GPU wired limit
    ("meta-llama/Llama-3.3-70B-Instruct", "m4-max-128gb", "1", "Q8_0", "100k", "1"),
    # vLLM: its memory share, FP8 KV, fewer sequences, more GPUs
    ("meta-llama/Llama-3.1-8B-Instruct", "l4", "1", "BF16", "32k", "4"),
]


def _fit(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["fit", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(("model", "gpu", "gpus", "quant", "ctx", "seqs"), CASES)
def test_every_suggestion_runs_and_fits(
    model: str, gpu: str, gpus: str, quant: str, ctx: str, seqs: str
) -> None:
    base = [model, "--gpu", gpu, "--gpus", gpus, "--quant", quant, "--ctx", ctx, "--seqs", seqs]
    data = _fit(*base)
    assert data["fits"] is False
    suggestions = data["suggestions"]
    assert isinstance(suggestions, list)
    assert len(suggestions) >= 2
    order = [list(Cost).index(Cost(s["cost"])) for s in suggestions]
    assert order == sorted(order), "cheapest first"
    for s in suggestions:
        flag = FLAGS[s["option"]]
        assert f"{flag} {s['value']}" in s["change"]  # the change names the flag it sets
        args = list(base)
        if flag in args:
            args[args.index(flag) + 1] = s["value"]
        else:
            args += [flag, s["value"]]
        again = _fit(*args)
        assert again["fits"] is True, (s["change"], again["shortfall_per_gpu_bytes"])
        assert again["headroom_per_gpu_bytes"] == s["headroom_per_gpu_bytes"]


def test_offload_fills_the_gpu() -> None:
    """-ngl N is the most layers that fit: N + 1 does not."""
    base = ["deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "--gpu", "rtx-4090", "--gpus", "2"]
    base += ["--quant", "Q4_K_M", "--ctx", "32k"]
    s = next(x for x in _fit(*base)["suggestions"] if x["option"] == "ngl")
    n = int(s["value"])
    assert _fit(*base, "--ngl", str(n))["fits"] is True
    assert _fit(*base, "--ngl", str(n + 1))["fits"] is False


def test_fewest_expert_layers_in_ram() -> None:
    """--n-cpu-moe N is the fewest layers whose experts go to RAM: N - 1 does not fit."""
    base = ["Qwen/Qwen3-30B-A3B", "--gpu", "rtx-4090", "--quant", "Q8_0", "--ctx", "32k"]
    s = next(x for x in _fit(*base)["suggestions"] if x["option"] == "n_cpu_moe")
    n = int(s["value"])
    assert _fit(*base, "--n-cpu-moe", str(n - 1))["fits"] is False


def test_ram_bounds_offload() -> None:
    """With --ram, an offload that needs more system RAM than there is does not fit."""
    base = ["deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "--gpu", "rtx-4090", "--quant"]
    base += ["Q4_K_M", "--ctx", "8k", "--ngl", "20"]
    roomy = _fit(*base, "--ram", "128GB")
    assert roomy["fits"] is True
    tight = _fit(*base, "--ram", "16GB")
    assert tight["fits"] is False
    assert tight["host_headroom_bytes"] < 0
    assert tight["host_ram_bytes"] == 16 * 10**9


def test_bad_ram_is_one_line() -> None:
    result = CliRunner().invoke(
        main, ["fit", "Qwen/Qwen3-8B", "--gpu", "rtx-4090", "--ram", "-5GB"]
    )
    assert result.exit_code == 2
    assert "cannot read '-5GB' as a memory size (write e.g. 64GB" in result.stderr
    assert result.stderr.count("\n") == 1


def test_default_engine_suggests_the_format_under_its_own_engine() -> None:
    """A BF16 MoE on one 24 GB card goes to vLLM by default; a GGUF type under llama.cpp is
    what fits, and --quant alone runs it (the engine follows the format)."""
    base = ["Qwen/Qwen3-30B-A3B", "--gpu", "rtx-4090", "--ctx", "32k"]
    data = _fit(*base)
    assert data["profile"] == "vllm"
    [quant] = [s for s in data["suggestions"] if s["option"] == "quant"]
    assert "llama.cpp runs it" in quant["change"]
    again = _fit(*base, "--quant", quant["value"])
    assert again["fits"] is True
    assert again["profile"] == "llama.cpp"
    assert again["headroom_per_gpu_bytes"] == quant["headroom_per_gpu_bytes"]


def test_native_formats_before_emulated_ones() -> None:
    """Named, vLLM keeps its own formats. On Ada it runs MXFP4 and NVFP4 only weight-only
    (Marlin): though MXFP4 fits, with a little more precision than AWQ and GPTQ (4.25 bits
    against 4.16), a 4-bit format the card runs natively comes first."""
    base = ["Qwen/Qwen3-30B-A3B", "--gpu", "rtx-4090", "--engine", "vllm"]
    assert _fit(*base, "--quant", "MXFP4")["fits"] is True
    data = _fit(*base)
    [quant] = [s for s in data["suggestions"] if s["option"] == "quant"]
    assert "runs it" not in quant["change"]
    assert quant["value"] not in ("MXFP4", "NVFP4")
    assert _fit(*base, "--quant", quant["value"])["fits"] is True
