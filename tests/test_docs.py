"""Generated docs are current, and every CLI command is documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from rigfit.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["formats.md", "cli.md"])
def test_generated_docs_are_current(name: str) -> None:
    gen = _gen()
    want = gen.GENERATED[name]()
    assert (ROOT / "docs" / name).read_text() == want, (
        f"docs/{name} is stale: run .venv/bin/python scripts/gen_docs.py"
    )


def test_every_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for name in main.commands:
        assert f"## `rigfit {name}`" in text


def _console_block(text: str, command: str) -> list[str]:
    """The lines a document shows under ``$ command``, up to the end of its code block."""
    start = text.index(f"$ {command}\n") + len(command) + 3
    return text[start : text.index("```", start)].splitlines()


@pytest.mark.parametrize(
    ("doc", "command"),
    [
        (
            "README.md",
            "rigfit fit deepseek-ai/DeepSeek-R1-Distill-Llama-70B --gpu rtx-4090 --gpus 2"
            " --quant Q4_K_M --ctx 16k",
        ),
        (
            "docs/speed.md",
            "rigfit speed deepseek-ai/DeepSeek-R1-Distill-Llama-70B --gpu rtx-4090 --gpus 2"
            " --quant Q4_K_M --ctx 16k --engine llama.cpp",
        ),
        (
            "docs/speed.md",
            "rigfit speed deepseek-r1 --gpu h200 --gpus 8 --ctx 32k --engine sglang --seqs 64",
        ),
        ("docs/plan.md", "rigfit plan deepseek-r1 --ctx 32k --users 16"),
        (
            "docs/plan.md",
            "RIGFIT_MACHINE=docs/machines/2x-rtx-3090.json rigfit plan"
            " meta-llama/Llama-3.3-70B-Instruct --ctx 8k --gpu auto",
        ),
        ("docs/plan.md", "rigfit plan deepseek-r1 --ctx 32k --users 16 --min-tok-s 20"),
        (
            "docs/plan.md",
            "rigfit plan deepseek-r1 --ctx 32k --users 16 --min-tok-s 20 --minimize rent",
        ),
        (
            "docs/train.md",
            "rigfit train meta-llama/Llama-3.1-8B --gpu rtx-4090 --method qlora --seq 4k"
            " --dataset-tokens 50M",
        ),
        (
            "docs/train.md",
            "rigfit train meta-llama/Llama-3.1-70B-Instruct --gpu h100 --gpus 8 --method full"
            " --zero 3",
        ),
    ],
)
def test_console_examples_show_what_the_command_prints(doc: str, command: str) -> None:
    """Every line an example shows is the command's output, in order: "..." alone elides
    lines, a line cut short (the README trims wide tables) shows how the printed one begins."""
    from click.testing import CliRunner

    words = command.split()
    # leading VAR=value words are the example's environment (RIGFIT_MACHINE=...)
    env = {
        k: str(ROOT / v) if (ROOT / v).exists() else v
        for k, v in (w.split("=", 1) for w in words[: words.index("rigfit")])
    }
    args = words[words.index("rigfit") + 1 :]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    printed = iter(result.output.splitlines())
    for line in _console_block((ROOT / doc).read_text(), command):
        if line == "...":
            continue
        begins = line.removesuffix("...")
        assert any(out.startswith(begins) if begins else not out for out in printed), (
            f"{doc}: {line!r} is not what `{command}` prints next: re-run it and paste the output"
        )


def test_speed_results_in_the_docs_are_current() -> None:
    from rigfit.validation.speed_report import render_speed_validation

    text = (ROOT / "docs" / "speed.md").read_text()
    assert f"```\n{render_speed_validation()}\n```" in text, (
        "docs/speed.md's results block is stale: run python scripts/fit_speed.py and paste it"
    )
