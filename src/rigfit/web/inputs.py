"""What a request may send: every input bounded in length or range, nothing that names a file
or a URL. The API validates with these models; the pages read the same fields leniently."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from rigfit.estimate.memory import DEFAULT_CTX_TOKENS, MAX_SEQS
from rigfit.estimate.plan import MAX_GPUS_SEARCHED
from rigfit.estimate.settings import OPTIONS, Option
from rigfit.hardware import MAX_GPUS
from rigfit.planner import DEFAULT_MAX_GPUS, Minimize
from rigfit.train.setup import LossKind, Method, Optimizer, Sharding
from rigfit.units import MAX_TOKENS

__all__ = [
    "MAX_COMPARE",
    "CompareQuery",
    "EstimateQuery",
    "GPUFilter",
    "ModelFilter",
    "ModelsOnGPUQuery",
    "PlanIn",
    "TableQuery",
    "TrainIn",
]

MAX_COMPARE = 4  # models or GPUs side by side
MAX_PLAN_GPUS = 16  # accelerators a plan may be limited to
MAX_MIXED = 8  # further accelerators of other kinds in one host

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Shape(_Query):
    quant: ShortName | None = Field(
        None, description="weight format (Q4_K_M, BF16, FP8, AWQ...); default: the checkpoint's"
    )
    kv_type: ShortName = Field("f16", description="KV cache type: f16, bf16, fp8, q8_0, q4_0...")
    ctx: ShortName | None = Field(
        None, description="context per sequence: 4096, 32k, 128K (default: the engine's own)"
    )
    seqs: int = Field(1, ge=1, le=MAX_SEQS, description="concurrent sequences")


def _option_field(o: Option) -> tuple[Any, Any]:
    """The API parameter of one engine option: its type and bounds from the option table."""
    desc = f"{o.help} Engines: {', '.join(sorted(o.engines))}."
    if o.kind == "bool":
        return bool, Field(False, description=desc)
    if o.kind == "choice":
        return Literal[o.choices] | None, Field(None, description=desc)
    if o.kind == "int":
        return int | None, Field(None, ge=o.lo, le=o.hi, description=desc)
    if o.kind == "float":
        return float | None, Field(None, gt=o.lo, le=o.hi, allow_inf_nan=False, description=desc)
    return ShortName | None, Field(None, description=desc)


# The engine options as query parameters, generated from rigfit.estimate.settings.OPTIONS
EngineOptions: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "EngineOptions", __base__=_Query, **{o.param: _option_field(o) for o in OPTIONS}
)


class EstimateQuery(_Shape, EngineOptions):
    """Inputs of an estimate: the same as ``rigfit fit MODEL --gpu GPU``."""

    model: Name = Field(description="catalog model id, name or alias")
    gpu: Name = Field(
        description="catalog accelerator id, name or alias, or custom:memory=24GiB,"
        "bandwidth=1008GB/s,bf16=165TFLOPS for one the catalog lacks"
    )
    gpus: int = Field(1, ge=1, le=MAX_GPUS, description="number of identical accelerators")
    add_gpu: list[Name] = Field(
        default_factory=list,
        max_length=MAX_MIXED,
        description="one more accelerator of another kind in the same host, per entry (a"
        " mixed system, which llama.cpp's layer split serves)",
    )
    force_ctx: bool = Field(False, description="allow a context above the model's maximum")
    engine: ShortName = Field(
        "auto",
        description="account memory as this engine does: auto (the engine the format and GPU"
        " imply), llama.cpp, ollama, vllm, sglang, transformers, mlx, generic",
    )
    ram: ShortName | None = Field(
        None, description="system RAM of the host (64GB, 128GiB): checks what the plan puts there"
    )
    wired_limit_mb: int | None = Field(
        None,
        ge=1,
        le=1 << 24,
        description="Apple silicon: the GPU memory limit set with sudo sysctl"
        " iogpu.wired_limit_mb=N",
    )
    prompt: int | None = Field(
        None, ge=1, le=MAX_TOKENS, description="speed: prompt tokens per request (default 1024)"
    )
    output: int | None = Field(
        None, ge=1, le=MAX_TOKENS, description="speed: output tokens per request (default 256)"
    )
    users: int | None = Field(
        None, ge=1, le=MAX_SEQS, description="speed: concurrent requests (default: seqs)"
    )
    ram_bandwidth: ShortName | None = Field(
        None,
        description="speed: host RAM bandwidth for weights kept in RAM: 90GB/s, DDR5-6000x2,"
        " or a preset (ddr4-2x, ddr5-2x, ddr5-4x, ddr5-8x, ddr5-12x)",
    )


class TableQuery(_Shape):
    """Inputs of the "which accelerators fit" table for one model."""

    model: Name


class ModelsOnGPUQuery(_Shape):
    """Inputs of "which models fit this system"."""

    gpu: Name
    gpus: int = Field(1, ge=1, le=MAX_GPUS)


class CompareQuery(_Shape):
    """Two to four models (on one GPU) or two to four GPUs (for one model)."""

    models: list[Name] = Field(default_factory=list, max_length=MAX_COMPARE)
    gpus_compared: list[Name] = Field(default_factory=list, max_length=MAX_COMPARE)
    model: Name | None = Field(None, description="the model to estimate when comparing GPUs")
    gpu: Name | None = Field(None, description="the GPU to estimate on when comparing models")
    gpus: int = Field(1, ge=1, le=MAX_GPUS)


class PlanIn(_Query):
    """Inputs of a plan: the same as ``rigfit plan MODEL``."""

    model: Name = Field(description="catalog model id, name or alias")
    ctx: ShortName | None = Field(
        None,
        description=f"context per user (default {DEFAULT_CTX_TOKENS:,} or the model's maximum)",
    )
    users: int = Field(1, ge=1, le=MAX_SEQS, description="concurrent users, each with ctx tokens")
    min_tok_s: float | None = Field(
        None, gt=0, le=100_000, allow_inf_nan=False, description="each user's decode tok/s"
    )
    engine: ShortName = Field("auto", description="auto, llama.cpp, vllm, sglang, ...")
    gpu: list[Name] = Field(
        default_factory=list,
        max_length=MAX_PLAN_GPUS,
        description="plan on these accelerators only (ids or custom:...); default: all",
    )
    max_gpus: int = Field(
        DEFAULT_MAX_GPUS, ge=1, le=MAX_GPUS_SEARCHED, description="most devices of one kind"
    )
    minimize: Minimize = Field(
        Minimize.GPUS,
        description="rank by devices, purchase price, hourly rent, board power or joules per"
        " output token",
    )
    budget: ShortName | None = Field(
        None, description="at most this to buy (5000, $5k) or to rent (12/h)"
    )
    quant: list[ShortName] = Field(
        default_factory=list, max_length=12, description="formats to try (default: a set)"
    )
    kv_type: ShortName = Field("f16", description="KV cache type")
    vendor: ShortName | None = Field(None, description="nvidia, amd, apple, intel")
    segment: ShortName | None = Field(
        None, description="datacenter, workstation, consumer, apple-silicon"
    )
    limit: int = Field(10, ge=1, le=50, description="options returned")


class TrainIn(_Query):
    """Inputs of a fine-tuning estimate: the same as ``rigfit train MODEL``."""

    model: Name = Field(description="catalog model id, name or alias")
    gpu: Name = Field(description="accelerator id or alias, or custom:memory=...")
    gpus: int = Field(1, ge=1, le=MAX_GPUS)
    method: Method = Field(Method.LORA, description="full, lora or qlora")
    seq: ShortName = Field("4096", description="sequence length: 4096, 8k")
    micro_batch: int = Field(1, ge=1, le=4096, description="sequences per GPU per pass")
    grad_accum: int = Field(1, ge=1, le=65536)
    grad_ckpt: bool = Field(True, description="gradient checkpointing")
    optimizer: Optimizer = Optimizer.ADAMW
    zero: int | None = Field(None, ge=0, le=3, description="DeepSpeed ZeRO stage")
    sharding: Sharding | None = Field(None, description="single, ddp, zero1-3 or fsdp")
    offload: bool = Field(False, description="optimizer states on host RAM (ZeRO/FSDP)")
    lora_rank: int = Field(16, ge=1, le=65536)
    lora_targets: ShortName = Field("all-linear", description="all-linear, attention, mlp...")
    loss: LossKind = LossKind.STANDARD
    flash_attn: bool = True
    dataset_tokens: int | None = Field(None, ge=1, le=10**15, description="for the wall time")
    epochs: float = Field(1.0, gt=0, le=1000, allow_inf_nan=False)


class ModelFilter(_Query):
    """Filters of the model catalog."""

    search: Annotated[str, StringConstraints(max_length=100)] | None = None
    family: Annotated[str, StringConstraints(max_length=100)] | None = None
    org: Annotated[str, StringConstraints(max_length=100)] | None = None
    license: Annotated[str, StringConstraints(max_length=100)] | None = None
    moe: bool | None = None
    min_params_b: float | None = Field(None, ge=0, le=100_000)
    max_params_b: float | None = Field(None, ge=0, le=100_000)
    min_ctx_tokens: int | None = Field(None, ge=0, le=2**30)


class GPUFilter(_Query):
    """Filters of the accelerator catalog."""

    vendor: ShortName | None = None
    segment: ShortName | None = None
    min_memory_gb: float | None = Field(None, ge=0, le=100_000)
    search: Annotated[str, StringConstraints(max_length=100)] | None = None
