"""The constants of the training estimate that only measured runs can give, fitted by
``scripts/fit_train.py`` on the sourced rows of ``validation/data/train/train.jsonl`` (a
quarter held out) and stored in ``calibration.json`` next to this file:

- ``context_bytes``: what the CUDA context and the framework hold outside PyTorch's allocator
  (it shows in nvidia-smi, not in ``torch.cuda.max_memory_allocated``);
- ``allocator_fraction``: the caching allocator's slack, reserved over allocated;
- ``mfu``: the model-FLOPs utilization each method reaches, per framework family.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from rigfit.frozen import frozen

__all__ = ["CALIBRATION_PATH", "TrainCalibration", "train_calibration"]

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")


@frozen
class TrainCalibration:
    context_bytes: int
    allocator_fraction: float
    mfu: dict[str, float]  # "full", "lora", "qlora"
    rows: int  # measured rows the fit used
    source: str

    def mfu_for(self, method: str) -> float | None:
        return self.mfu.get(method)


@cache
def train_calibration() -> TrainCalibration:
    data = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    return TrainCalibration(
        int(data["context_bytes"]),
        float(data["allocator_fraction"]),
        {str(k): float(v) for k, v in data["mfu"].items()},
        int(data["rows"]),
        str(data["source"]),
    )
