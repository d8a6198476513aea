"""The fine-tuning measurement set: peak memory and speed of real runs, each with its source.

Rows live in ``data/train/train.jsonl``, one JSON object a line: the model and GPU (catalog
ids), the run's setup as far as its source states it, the peak memory as printed (with its
unit and what measured it: PyTorch's allocator or nvidia-smi) and/or its tokens/s, the
verbatim quote and its URL. :func:`load_train_rows` validates every row strictly. A quarter of
the rows, chosen by a hash of their id, is held out of the calibration fit.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rigfit.catalog.lookup import get_gpu, get_model
from rigfit.catalog.url import Url
from rigfit.train.setup import LossKind, Method, Optimizer, Sharding
from rigfit.validation.measurements import value_in_quote
from rigfit.validation.speed_rows import held_out, parse_jsonl_rows

__all__ = ["TRAIN_DATA", "MemoryKind", "TrainRow", "held_out", "load_train_rows"]

TRAIN_DATA = Path(__file__).parent / "data" / "train" / "train.jsonl"
_UNITS = {"GB": 1000**3, "GiB": 1024**3, "MiB": 1024**2, "MB": 1000**2, "B": 1}


class MemoryKind(StrEnum):
    """What measured the peak: PyTorch's allocator (what tensors held), its reserved pool, or
    the driver (nvidia-smi: the pool plus the CUDA context)."""

    ALLOCATED = "torch_max_allocated"
    RESERVED = "torch_max_reserved"
    NVIDIA_SMI = "nvidia_smi"


class TrainRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    model: str  # a catalog id (a twin with identical shapes may stand in: say so in notes)
    gpu: str  # a catalog id
    n_gpus: int = Field(ge=1, le=1024)
    method: Method
    lora_rank: int | None = Field(default=None, ge=1)
    lora_targets: str | None = None
    optimizer: Optimizer
    sharding: Sharding
    offload: bool = False
    seq_len: int = Field(ge=1)
    micro_batch: int = Field(ge=1)
    grad_ckpt: bool
    flash_attn: bool
    loss: LossKind = LossKind.STANDARD
    master_weights: bool | None = None  # as the run set it (None: the framework's default)
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)  # PEFT's default when not stated
    framework: str
    peak_mem: float | None = Field(default=None, gt=0)
    peak_mem_unit: Literal["GB", "GiB", "MiB", "MB", "B"] | None = None
    peak_mem_kind: MemoryKind | None = None
    tokens_per_s: float | None = Field(default=None, gt=0)
    tokens_per_s_per_gpu: bool = False  # the figure is per GPU (else all GPUs together)
    quote: str
    source: Url
    notes: str = ""

    @model_validator(mode="after")
    def _check(self) -> TrainRow:
        get_model(self.model)
        get_gpu(self.gpu)
        if self.peak_mem is None and self.tokens_per_s is None:
            raise ValueError("a row measures peak memory, tokens/s or both")
        if self.peak_mem is not None:
            if self.peak_mem_unit is None or self.peak_mem_kind is None:
                raise ValueError("peak_mem needs peak_mem_unit and peak_mem_kind")
            if not value_in_quote(self.peak_mem, self.quote):
                raise ValueError(f"peak_mem {self.peak_mem} is not in the quote")
        if self.tokens_per_s is not None and not value_in_quote(self.tokens_per_s, self.quote):
            raise ValueError(f"tokens_per_s {self.tokens_per_s} is not in the quote")
        if self.method is not Method.FULL and self.lora_rank is None:
            raise ValueError("an adapter method needs lora_rank")
        return self

    @property
    def peak_bytes(self) -> int | None:
        if self.peak_mem is None or self.peak_mem_unit is None:
            return None
        return int(self.peak_mem * _UNITS[self.peak_mem_unit])

    @property
    def total_tokens_per_s(self) -> float | None:
        if self.tokens_per_s is None:
            return None
        return self.tokens_per_s * (self.n_gpus if self.tokens_per_s_per_gpu else 1)

    @property
    def group(self) -> str:
        """Rows of one source, model and method: near-copies of each other (another batch or
        GPU count), held out or fitted together so the held-out error is not a sibling's."""
        return f"{self.source}|{self.model}|{self.method.value}"

    @property
    def held_out(self) -> bool:
        return held_out(self.group)


def parse_train_rows(text: str, where: str = "<text>") -> tuple[TrainRow, ...]:
    return parse_jsonl_rows(text, TrainRow, where)


@cache
def load_train_rows() -> tuple[TrainRow, ...]:
    if not TRAIN_DATA.exists():
        return ()
    return parse_train_rows(TRAIN_DATA.read_text(encoding="utf-8"), TRAIN_DATA.name)
