"""The measurement set: numbers real engines printed in real runs, each with its source.

Every row is one number (a KV cache buffer, a model buffer, a weight-load total, a file size...)
as an engine printed it, with the verbatim quote it was read from, the URL of that quote and
the setup the same source shows (context, parallel sequences, KV type, offload, utilization,
tensor parallel size). Nothing is rounded or converted on the way in: ``value`` and ``unit``
are as printed, and :attr:`Measurement.value_bytes` converts exactly.

Rows live in ``data/*.jsonl`` next to this module, one JSON object a line, one file per engine
family. :func:`load_measurements` validates every row strictly (unknown keys, a model or GPU
not in the catalog, a quant or KV type rigfit does not know, a quote that does not contain the
value, a duplicate id) and names the file and line of the first bad row.

A row that cannot be scored against rigfit (another fork's cache layout, a quant mix rigfit has
no format for) stays in the set with ``excluded`` saying why.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rigfit.catalog.lookup import get_gpu, get_model
from rigfit.catalog.url import Url
from rigfit.errors import RigfitError
from rigfit.quant import parse_kv_type, parse_quant

__all__ = [
    "DATA_DIR",
    "Engine",
    "KVBasis",
    "Measurement",
    "MeasurementError",
    "Quantity",
    "Scope",
    "Setup",
    "Unit",
    "load_measurements",
    "parse_measurements",
    "value_in_quote",
]

DATA_DIR = Path(__file__).parent / "data"


class MeasurementError(RigfitError):
    """A measurement data file or row that does not validate."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Engine(StrEnum):
    LLAMA_CPP = "llama.cpp"
    IK_LLAMA_CPP = "ik_llama.cpp"
    OLLAMA = "ollama"
    VLLM = "vllm"
    SGLANG = "sglang"
    TRANSFORMERS = "transformers"
    GGUF_FILE = "gguf-file"


class Quantity(StrEnum):
    """What the number is.

    * ``model_size``: llama.cpp's ``model size``/``file size`` print or llama-bench's ``size``
      (total tensor bytes of the GGUF), or one device's ``model buffer size``
    * ``model_buffer``: reserved for buffers that are not the whole model (unused so far)
    * ``kv_cache``: KV cache bytes (llama.cpp ``KV self size``/``KV buffer size``, vLLM
      ``Available KV cache memory``/``kv_cache_size``, SGLang ``K size``/``V size``)
    * ``compute_buffer`` / ``output_buffer``: llama.cpp's scratch and logits buffers
    * ``weights``: vLLM ``Loading model weights took`` / ``model weights take``, SGLang
      ``Load weight end ... mem usage``
    * ``kv_tokens``: tokens the KV pool holds (vLLM ``GPU KV cache size``, SGLang ``#tokens``)
    * ``gpu_blocks``: vLLM ``# GPU blocks``
    * ``max_concurrency``: vLLM ``Maximum concurrency for N tokens per request``
    * ``file_size``: a published GGUF file size (a model card's table)
    * ``total``: a whole-process figure (nvidia-smi used, torch max allocated)
    """

    MODEL_SIZE = "model_size"
    MODEL_BUFFER = "model_buffer"
    KV_CACHE = "kv_cache"
    COMPUTE_BUFFER = "compute_buffer"
    OUTPUT_BUFFER = "output_buffer"
    WEIGHTS = "weights"
    KV_TOKENS = "kv_tokens"
    GPU_BLOCKS = "gpu_blocks"
    MAX_CONCURRENCY = "max_concurrency"
    FILE_SIZE = "file_size"
    TOTAL = "total"


class Unit(StrEnum):
    MIB = "MiB"
    GIB = "GiB"
    MB = "MB"
    GB = "GB"
    BYTES = "bytes"
    TOKENS = "tokens"
    BLOCKS = "blocks"
    X = "x"


_BYTES_PER_UNIT: dict[Unit, int] = {
    Unit.BYTES: 1,
    Unit.MIB: 2**20,
    Unit.GIB: 2**30,
    Unit.MB: 10**6,
    Unit.GB: 10**9,
}


class Scope(StrEnum):
    """What the number covers.

    * ``device``: one device's buffer (a llama.cpp ``CUDA0 ... buffer size`` line, or the only
      device of a single-GPU run)
    * ``total``: summed over every device, or an engine-wide count (KV tokens, blocks)
    * ``per_rank``: what each tensor/pipeline/data-parallel rank holds (vLLM and SGLang print
      per-rank memory)
    * ``file``: a property of the model file, independent of the devices
    """

    DEVICE = "device"
    TOTAL = "total"
    PER_RANK = "per_rank"
    FILE = "file"


class KVBasis(StrEnum):
    """How the engine sized a KV figure.

    * ``context``: from the context it was asked for (llama.cpp allocates ``n_ctx`` cells; vLLM's
      ``... GiB KV cache is needed`` for one request of ``max_model_len``)
    * ``pool``: from the memory left after weights and activations (vLLM ``Available KV cache
      memory``, SGLang's pool, token and block counts)
    """

    CONTEXT = "context"
    POOL = "pool"


_COUNT_UNITS = {
    Quantity.KV_TOKENS: Unit.TOKENS,
    Quantity.GPU_BLOCKS: Unit.BLOCKS,
    Quantity.MAX_CONCURRENCY: Unit.X,
}
_KV_QUANTITIES = {
    Quantity.KV_CACHE,
    Quantity.KV_TOKENS,
    Quantity.GPU_BLOCKS,
    Quantity.MAX_CONCURRENCY,
}


class Setup(_Strict):
    """The run's settings, as far as the same source shows them; None where it does not."""

    ctx: int | None = Field(default=None, gt=0, description="n_ctx / max_model_len / context_len")
    n_ctx_per_seq: int | None = Field(default=None, gt=0)
    n_seq: int | None = Field(
        default=None, gt=0, description="llama.cpp n_seq_max / --parallel; vLLM max_num_seqs"
    )
    kv_type: str | None = Field(default=None, description="rigfit KV name: f16, bf16, q8_0, fp8...")
    ngl: int | None = Field(default=None, ge=0, description="layers offloaded (as printed)")
    n_layers_total: int | None = Field(default=None, gt=0, description="the N of 'offloaded x/N'")
    flash_attn: bool | None = None
    mla: int | None = Field(default=None, ge=0, description="ik_llama.cpp -mla mode")
    n_batch: int | None = Field(default=None, gt=0)
    n_ubatch: int | None = Field(default=None, gt=0)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    mem_fraction_static: float | None = Field(default=None, gt=0, le=1)
    max_num_batched_tokens: int | None = Field(default=None, gt=0)
    max_num_seqs: int | None = Field(default=None, gt=0)
    chunked_prefill_size: int | None = Field(default=None, gt=0)
    block_size: int | None = Field(default=None, gt=0)
    page_size: int | None = Field(default=None, gt=0)
    enforce_eager: bool | None = None
    cpu_moe: bool | None = None
    n_cpu_moe: int | None = Field(default=None, ge=0)
    cpu_offload_gb: float | None = Field(default=None, ge=0)
    override_tensor: str | None = None
    tensor_split: str | None = None
    main_gpu: int | None = Field(default=None, ge=0)
    pipeline_parallel_size: int | None = Field(default=None, gt=0)
    data_parallel_size: int | None = Field(default=None, gt=0)
    enable_expert_parallel: bool | None = None
    total_gpu_memory_bytes: int | None = Field(
        default=None, gt=0, description="the GPU's total memory as the log prints it, in bytes"
    )
    free_gpu_memory_bytes: int | None = Field(
        default=None,
        gt=0,
        description="free memory at start as the log prints it (llama.cpp 'MiB free'), in bytes",
    )
    dtype: str | None = None
    attention_backend: str | None = None
    vllm_engine: Literal["v0", "v1"] | None = None

    @model_validator(mode="after")
    def _checks(self) -> Setup:
        if self.kv_type is not None:
            parse_kv_type(self.kv_type)  # raises UnknownKVTypeError
        if (
            self.ngl is not None
            and self.n_layers_total is not None
            and self.ngl > self.n_layers_total
        ):
            raise ValueError(f"ngl {self.ngl} > n_layers_total {self.n_layers_total}")
        return self


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def value_in_quote(value: float, quote: str) -> bool:
    """Whether ``quote`` prints ``value`` (as ``14.9888``, ``6.60``, ``178,880``...).

    >>> value_in_quote(6.6, "| Q6_K | 6.60GB |"), value_in_quote(178880, "size: 178,880 tokens")
    (True, True)
    >>> value_in_quote(6.6, "6.61GB")
    False
    """
    want = Fraction(repr(float(value)))
    for token in (t.rstrip(",") for t in _NUMBER.findall(quote)):
        if "," in token and not re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", token):
            # not a thousands-separated number: a CSV row's fields, each a number of its own
            if any(p and Fraction(p) == want for p in token.split(",")):
                return True
            continue
        if Fraction(token.replace(",", "")) == want:
            return True
    return False


class Measurement(_Strict):
    """One number an engine printed, with its source and setup."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=100)
    engine: Engine
    engine_version: str | None = Field(
        default=None, description="as printed (build 5192 (e59a5f1e), 0.8.5); None if not shown"
    )
    model: str = Field(description="rigfit catalog model id")
    file: str | None = Field(default=None, description="GGUF file or HF repo actually loaded")
    quant: str | None = Field(description="rigfit format name; None where rigfit has none")
    quant_as_printed: str | None = None
    gpu: str | None = Field(description="rigfit catalog GPU id; None when unknown or CPU")
    gpu_as_printed: str | None = None
    gpus: int | None = Field(default=None, ge=0)
    tp: int | None = Field(default=None, gt=0)
    setup: Setup
    quantity: Quantity
    value: float = Field(ge=0)
    unit: Unit
    unit_is_really: Unit | None = Field(
        default=None, description="the unit the engine actually computed in (vLLM 'GB' = GiB)"
    )
    kv_part: Literal["K", "V"] | None = Field(
        default=None, description="K or V alone where the engine prints them apart (SGLang)"
    )
    kv_basis: KVBasis | None = None
    scope: Scope
    device: str | None = Field(default=None, description="CUDA0, CPU, Vulkan0...; None if many")
    quote: str = Field(min_length=1)
    source: Url
    notes: str = ""
    excluded: str | None = Field(default=None, description="why the row is not scored")

    @property
    def true_unit(self) -> Unit:
        return self.unit_is_really or self.unit

    @property
    def value_bytes(self) -> Fraction | None:
        """The value in bytes, exactly (in the true unit); None for counts and ratios.

        >>> m = Measurement.model_validate_json(json.dumps(_EXAMPLE))
        >>> m.value_bytes
        Fraction(655200000, 1)
        """
        factor = _BYTES_PER_UNIT.get(self.true_unit)
        if factor is None:
            return None
        return Fraction(repr(self.value)) * factor

    @property
    def scored(self) -> bool:
        return self.excluded is None

    @model_validator(mode="after")
    def _checks(self) -> Measurement:
        want = _COUNT_UNITS.get(self.quantity)
        if want is not None and self.unit is not want:
            raise ValueError(f"{self.quantity} must be in {want}, not {self.unit}")
        if want is None and self.unit not in _BYTES_PER_UNIT:
            raise ValueError(f"{self.quantity} must be in a byte unit, not {self.unit}")
        if self.unit_is_really is not None:
            if self.unit_is_really not in _BYTES_PER_UNIT or self.unit not in _BYTES_PER_UNIT:
                raise ValueError("unit_is_really only relabels one byte unit as another")
            if self.unit_is_really is self.unit:
                raise ValueError("unit_is_really equals unit: leave it out")
        if self.kv_part is not None and self.quantity is not Quantity.KV_CACHE:
            raise ValueError("kv_part is for kv_cache rows only")
        if (self.kv_basis is None) == (self.quantity in _KV_QUANTITIES):
            raise ValueError("kv_basis is required for KV rows (kv_cache, kv_tokens, ...) only")
        if (self.scope is Scope.FILE) != (
            self.quantity is Quantity.FILE_SIZE
            or (self.quantity is Quantity.MODEL_SIZE and self.device is None)
        ):
            raise ValueError("scope 'file' is for file sizes and whole-model sizes only")
        if self.excluded is not None and not self.excluded.strip():
            raise ValueError("excluded must say why")
        if not math.isfinite(self.value):
            raise ValueError("value must be finite")
        if not value_in_quote(self.value, self.quote):
            raise ValueError(f"the quote does not print the value {self.value!r}")
        if get_model(self.model).id != self.model:
            raise ValueError(f"model {self.model!r}: use the catalog id {get_model(self.model).id}")
        if self.gpu is not None and get_gpu(self.gpu).id != self.gpu:
            raise ValueError(f"gpu {self.gpu!r}: use the catalog id {get_gpu(self.gpu).id}")
        if self.quant is not None:
            parse_quant(self.quant)
        return self


_EXAMPLE = {
    "id": "example",
    "engine": "llama.cpp",
    "model": "Qwen/Qwen3-8B",
    "quant": "Q4_K_M",
    "gpu": None,
    "setup": {"ctx": 4096},
    "quantity": "kv_cache",
    "value": 655.2,
    "unit": "MB",
    "kv_basis": "context",
    "scope": "device",
    "quote": "KV buffer size = 655.20 MB",
    "source": "https://example.org/",
}


def parse_measurements(text: str, name: str) -> tuple[Measurement, ...]:
    """Validate JSON Lines ``text``; an error names ``name`` and the line."""
    out: list[Measurement] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MeasurementError(f"{name}:{lineno}: not valid JSON: {exc}") from exc
        try:
            out.append(Measurement.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            rid = data.get("id") if isinstance(data, dict) else None
            raise MeasurementError(
                f"{name}:{lineno} ({rid}): {where + ': ' if where else ''}{first['msg']}"
                f" ({exc.error_count()} problem(s))"
            ) from exc
        except RigfitError as exc:  # an unknown model, GPU, quant or KV type
            raise MeasurementError(f"{name}:{lineno}: {exc}") from exc
    return tuple(out)


def _load(folder: Path) -> tuple[Measurement, ...]:
    rows: list[Measurement] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.jsonl")):
        parsed = parse_measurements(path.read_text(encoding="utf-8"), path.name)
        for lineno, row in enumerate(parsed, 1):
            if row.id in seen:
                raise MeasurementError(
                    f"{path.name}: row {lineno}: duplicate id {row.id!r} (first in {seen[row.id]})"
                )
            seen[row.id] = path.name
        rows.extend(parsed)
    return tuple(rows)


@cache
def load_measurements(folder: Path | None = None) -> tuple[Measurement, ...]:
    """Every row of the bundled measurement set (or of ``folder``), validated."""
    return _load(DATA_DIR if folder is None else folder)
