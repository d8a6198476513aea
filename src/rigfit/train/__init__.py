"""Fine-tuning: the memory and the time of full fine-tuning, LoRA and QLoRA, with ZeRO/FSDP,
gradient checkpointing and 8-bit optimizers (docs/train.md)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigfit.train.answer import TrainAnswer, TrainQuery, TrainSuggestion, train_answer
    from rigfit.train.memory import TrainMemory, TrainTerm, train_memory
    from rigfit.train.setup import LossKind, Method, Optimizer, Sharding, TrainSetup
    from rigfit.train.speed import TrainSpeed, train_speed

__all__ = [
    "LossKind",
    "Method",
    "Optimizer",
    "Sharding",
    "TrainAnswer",
    "TrainMemory",
    "TrainQuery",
    "TrainSetup",
    "TrainSpeed",
    "TrainSuggestion",
    "TrainTerm",
    "train_answer",
    "train_memory",
    "train_speed",
]

# Each name is imported from its module when first asked for (PEP 562), so that the CLI can
# declare its training options from rigfit.train.setup without loading the training model.
_HOME = {
    "TrainAnswer": "answer",
    "TrainQuery": "answer",
    "TrainSuggestion": "answer",
    "train_answer": "answer",
    "TrainMemory": "memory",
    "TrainTerm": "memory",
    "train_memory": "memory",
    "LossKind": "setup",
    "Method": "setup",
    "Optimizer": "setup",
    "Sharding": "setup",
    "TrainSetup": "setup",
    "TrainSpeed": "speed",
    "train_speed": "speed",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'rigfit.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rigfit.train.{_HOME[name]}"), name)
