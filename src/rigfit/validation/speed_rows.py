"""The speed measurement set: tokens/s and latencies real engines printed, each with its source.

Rows live in ``data/speed/speed.jsonl``, one JSON object a line: the engine, model, format, GPUs and
split, the benchmark's setup (prompt and output lengths, depth, concurrency, offload), the
metric and its value exactly as printed, the verbatim quote it was read from and its URL.
:func:`load_speed_rows` validates every row strictly (a model or GPU not in the catalog, a
format rigfit does not know, a value the quote does not contain, a duplicate id) and names the
line of the first bad row.

A quarter of the rows, chosen by a hash of their id (:func:`held_out`), is kept out of the
calibration fit; its error is reported on its own.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rigfit.catalog.lookup import get_gpu, get_model
from rigfit.catalog.url import Url
from rigfit.errors import RigfitError
from rigfit.quant import parse_quant
from rigfit.validation.measurements import value_in_quote

__all__ = [
    "SPEED_DATA",
    "SpeedMetric",
    "SpeedRow",
    "SpeedSetup",
    "held_out",
    "load_speed_rows",
    "parse_jsonl_rows",
]

SPEED_DATA = Path(__file__).parent / "data" / "speed" / "speed.jsonl"
# one row in HOLDOUT_EVERY is held out of the fit (by the first byte of its id's SHA-256)
HOLDOUT_EVERY = 4


class SpeedMetric(StrEnum):
    """What the number is.

    * ``decode_tok_s``: one sequence's generation tokens/s (llama-bench ``tgN``, ``eval time``
      tokens per second, mlx_lm ``Generation``, a batch-1 benchmark)
    * ``prefill_tok_s``: prompt tokens/s (llama-bench ``ppN``, ``prompt eval time``, mlx_lm
      ``Prompt``)
    * ``output_throughput_tok_s``: output tokens/s of all concurrent requests together (vLLM
      and SGLang ``Output token throughput``, a batch decode throughput)
    * ``tpot_ms``: time per output token of a served request
    * ``ttft_ms``: time to first token
    """

    DECODE = "decode_tok_s"
    PREFILL = "prefill_tok_s"
    OUTPUT_THROUGHPUT = "output_throughput_tok_s"
    TOTAL_THROUGHPUT = "total_throughput_tok_s"
    TPOT = "tpot_ms"
    ITL = "itl_ms"
    TTFT = "ttft_ms"
    LATENCY = "latency_s"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SpeedSetup(_Strict):
    """The run's settings as far as the source shows them."""

    n_prompt: int | None = Field(default=None, gt=0)
    n_gen: int | None = Field(default=None, gt=0)
    depth: int | None = Field(default=None, ge=0, description="tokens already in the cache")
    n_ubatch: int | None = Field(default=None, gt=0)
    n_batch: int | None = Field(default=None, gt=0)
    flash_attn: bool | None = None
    ngl: int | None = Field(default=None, ge=0)
    n_cpu_moe: int | None = Field(default=None, ge=0)
    cpu_moe: bool | None = None
    override_tensor: str | None = None
    cpu: str | None = None
    ram: str | None = None
    ram_bandwidth: str | None = Field(
        default=None, description="rigfit's --ram-bandwidth for the RAM named (DDR5-6000x2)"
    )
    kv_type: str | None = None
    concurrency: int | None = Field(default=None, gt=0)
    num_prompts: int | None = Field(default=None, gt=0)
    input_len: int | None = Field(default=None, gt=0)
    output_len: int | None = Field(default=None, gt=0)
    request_rate: str | None = None
    max_num_seqs: int | None = Field(default=None, gt=0)
    max_num_batched_tokens: int | None = Field(default=None, gt=0)
    dataset: str | None = None
    random_range_ratio: float | None = Field(
        default=None, ge=0, le=1, description="bench_serving --random-range-ratio as given"
    )
    tensor_split: str | None = None


class SpeedRow(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    engine: Literal["llama.cpp", "vllm", "sglang", "mlx", "ollama", "transformers"]
    engine_version: str | None = None
    backend: Literal["CUDA", "Metal", "ROCm", "Vulkan", "CPU", "HIP"] | None = None
    model: str
    quant: str
    gpu: str
    gpus: int = Field(gt=0)
    parallel: Literal["single", "layer", "row", "tp", "pp", "tp+pp"]
    tp: int | None = Field(default=None, gt=0)
    pp: int | None = Field(default=None, gt=0)
    setup: SpeedSetup
    metric: SpeedMetric
    stat: Literal["mean", "median", "p99"] | None = None
    value: float = Field(gt=0)
    unit: Literal["tok/s", "ms", "s"]
    quote: str = Field(min_length=1)
    source: Url
    notes: str = ""
    excluded: str | None = Field(
        default=None, description="why the row is kept but not scored (in words)"
    )

    @model_validator(mode="after")
    def _check(self) -> SpeedRow:
        get_model(self.model)
        get_gpu(self.gpu)
        if self.quant.upper().startswith("MLX-"):
            if self.engine != "mlx" or self.quant.upper() not in _MLX_QUANTS:
                raise ValueError(f"quant {self.quant} (allowed for mlx: {', '.join(_MLX_QUANTS)})")
        else:
            parse_quant(self.quant)
        if not value_in_quote(self.value, self.quote):
            raise ValueError(f"value {self.value} does not appear in the quote")
        return self


_MLX_QUANTS = tuple(f"MLX-{b}BIT" for b in (2, 3, 4, 5, 6, 8))  # mlx_lm.convert --q-bits


class SpeedRowError(RigfitError):
    """A speed data row that does not validate."""


def held_out(row_id: str) -> bool:
    """Whether the row is kept out of the calibration fit (one in four, by its id's hash)."""
    return hashlib.sha256(row_id.encode()).digest()[0] % HOLDOUT_EVERY == 0


R = TypeVar("R", bound=BaseModel)


def parse_jsonl_rows(
    text: str, model: type[R], where: str, error: type[RigfitError] = RigfitError
) -> tuple[R, ...]:
    """One validated row a line (blank lines skipped, ids unique); the first bad line is an
    ``error`` naming ``where:line`` and what was wrong. Every measurement set reads this way."""
    rows: list[R] = []
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = model.model_validate(json.loads(line), strict=False)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise error(f"{where}:{n}: {loc + ': ' if loc else ''}{err['msg']}") from None
        except (ValueError, RigfitError) as exc:
            raise error(f"{where}:{n}: {str(exc).splitlines()[0]}") from None
        row_id = getattr(row, "id", None)
        if row_id in seen:
            raise error(f"{where}:{n}: duplicate id {row_id!r}")
        if isinstance(row_id, str):
            seen.add(row_id)
        rows.append(row)
    return tuple(rows)


def parse_speed_rows(text: str, where: str = "<text>") -> tuple[SpeedRow, ...]:
    return parse_jsonl_rows(text, SpeedRow, where, SpeedRowError)


@cache
def load_speed_rows(path: Path = SPEED_DATA) -> tuple[SpeedRow, ...]:
    return parse_speed_rows(path.read_text(), path.name)
