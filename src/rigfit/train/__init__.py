"""Fine-tuning: the memory and the time of full fine-tuning, LoRA and QLoRA, with ZeRO/FSDP,
gradient checkpointing and 8-bit optimizers (docs/train.md)."""

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
