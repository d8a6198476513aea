"""Cold starts of `rigfit fit` as new processes, this tree against another, interleaved.

The 2-core machine's speed drifts by 10-15% within an hour, so a cold start is only comparable
with another timed in the same minutes: each command runs in turn under both trees, with
bytecode cached. Prints medians; targets are judged in docs/benchmarks.md, not by tests.

Run: .venv/bin/python scripts/cold_start.py [--base OTHER_CHECKOUT/src] [--runs 10]
(e.g. `git worktree add /tmp/base <commit>` and `--base /tmp/base/src`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import README_FIT, README_FIT_ARGS  # scripts/bench.py

COMMANDS = {
    "README example (default engine: llama.cpp)": README_FIT_ARGS,
    "llama-3.1-8b, default engine (vLLM)": ["fit", "llama-3.1-8b", "--gpu", "rtx-4090"],
    "issue 10's llama.cpp example": [*README_FIT.split(), "--ctx", "16k", "--engine", "llama.cpp"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="another checkout's src/ to time alongside this one")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    trees = {"this tree": str(Path(__file__).resolve().parents[1] / "src")}
    if args.base:
        trees["base"] = args.base
    exe = str(Path(sys.executable).parent / "rigfit")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times: dict[tuple[str, str], list[float]] = {(t, c): [] for t in trees for c in COMMANDS}
    for src in trees.values():  # write the bytecode caches first
        for cmd in COMMANDS.values():
            subprocess.run(
                [exe, *cmd], env={**env, "PYTHONPATH": src}, capture_output=True, check=True
            )
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():
            for tree, src in trees.items():
                t0 = time.perf_counter()
                subprocess.run(
                    [exe, *cmd], env={**env, "PYTHONPATH": src}, capture_output=True, check=True
                )
                times[(tree, name)].append(time.perf_counter() - t0)
    for name in COMMANDS:
        cells = [
            f"{tree} median {statistics.median(times[(tree, name)]):.3f} s"
            f" (min {min(times[(tree, name)]):.3f})"
            for tree in trees
        ]
        print(f"{name}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
