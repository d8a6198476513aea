"""``rigfit train``: can this model be fine-tuned on these GPUs, how, and how fast.

:func:`train_answer` takes a :class:`TrainQuery` as users type it and returns a
:class:`TrainAnswer`: every memory term per GPU, the verdict against the GPU's memory, the
largest micro-batch and sequence that fit, changes that would make it fit (each re-estimated),
the speed, and the command that runs it.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import replace
from enum import StrEnum
from typing import TypeVar

from rigfit.api import AnyModel, resolve_model
from rigfit.arch import Architecture
from rigfit.catalog.lookup import Model, get_gpu
from rigfit.catalog.schema import GPURecord, Vendor
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.plan import largest_passing
from rigfit.frozen import frozen
from rigfit.hardware import driver_capacity_bytes
from rigfit.train.calibration import train_calibration
from rigfit.train.memory import TrainMemory, train_memory
from rigfit.train.setup import LossKind, Method, Optimizer, Sharding, TrainSetup
from rigfit.train.speed import TrainSpeed, train_speed
from rigfit.units import parse_tokens

__all__ = ["TrainAnswer", "TrainQuery", "TrainSuggestion", "train_answer", "train_curve"]

MAX_MICRO_BATCH = 1024  # bound of the "largest micro-batch" search


@frozen
class TrainQuery:
    model: str | AnyModel
    gpu: str | GPURecord
    gpus: int = 1
    method: str = "lora"
    seq: str | int = 4096
    micro_batch: int = 1
    grad_accum: int = 1
    grad_ckpt: bool = True
    optimizer: str = "adamw"
    sharding: str | None = None  # None: single on one GPU, DDP on several
    zero: int | None = None  # --zero 3: DeepSpeed ZeRO-3
    lora_rank: int = 16
    lora_targets: str = "all-linear"
    loss: str = "standard"
    flash_attn: bool = True
    offload: bool = False
    dataset_tokens: int | None = None  # for the wall time
    epochs: float = 1.0
    files: bool = False


@frozen
class TrainSuggestion:
    change: str
    flag: str  # the flags that make it
    per_gpu_bytes: int
    fits: bool


@frozen
class TrainAnswer:
    model: str
    arch: Architecture
    gpu: GPURecord
    setup: TrainSetup
    memory: TrainMemory
    runtime_bytes: int  # CUDA context and allocator slack (calibrated)
    per_gpu_bytes: int  # what nvidia-smi would show at the peak
    capacity_bytes: int  # the driver's total
    max_micro_batch: int  # at the setup's sequence (0: not even one)
    max_seq_len: int  # at the setup's micro-batch (0: not even 256 tokens)
    suggestions: tuple[TrainSuggestion, ...]
    speed: TrainSpeed | None
    speed_note: str | None
    wall_s: float | None  # the dataset's epochs, when dataset_tokens is given
    command: str
    notes: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return self.per_gpu_bytes <= self.capacity_bytes


E = TypeVar("E", bound=StrEnum)


def _parse_enum(kind: type[E], raw: str, flag: str) -> E:
    try:
        return kind(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidSpecError(f"{flag} {raw!r} is not one of {allowed}") from None


def _setup(q: TrainQuery, arch: Architecture) -> TrainSetup:
    if q.zero is not None:
        if q.zero not in (0, 1, 2, 3):
            raise InvalidSpecError(
                f"--zero must be 0, 1, 2 or 3 (DeepSpeed's stages), got {q.zero}"
            )
        if q.sharding is not None:
            raise InvalidSpecError("give --zero or --sharding, not both")
        sharding = Sharding(f"zero{q.zero}") if q.zero else Sharding.DDP
    elif q.sharding is not None:
        sharding = _parse_enum(Sharding, q.sharding, "--sharding")
    else:
        sharding = Sharding.SINGLE if q.gpus == 1 else Sharding.DDP
    if sharding is Sharding.DDP and q.gpus == 1:
        sharding = Sharding.SINGLE
    seq = parse_tokens(q.seq)
    if seq > arch.context_length:
        raise InvalidSpecError(
            f"--seq {seq:,} is above the model's context of {arch.context_length:,} tokens"
        )
    return TrainSetup(
        method=_parse_enum(Method, q.method, "--method"),
        seq_len=seq,
        micro_batch=q.micro_batch,
        grad_accum=q.grad_accum,
        grad_ckpt=q.grad_ckpt,
        optimizer=_parse_enum(Optimizer, q.optimizer, "--optimizer"),
        sharding=sharding,
        n_gpus=q.gpus,
        lora_rank=q.lora_rank,
        lora_targets=q.lora_targets,
        flash_attn=q.flash_attn,
        loss=_parse_enum(LossKind, q.loss, "--loss"),
        offload=q.offload,
    )


def _model(q: TrainQuery) -> AnyModel:
    m = resolve_model(q.model, files=q.files) if isinstance(q.model, str) else q.model
    if not m.generates:
        raise UnsupportedArchitectureError(
            f"{m.id} is an embedding model: rigfit prices causal-LM fine-tuning (a loss over"
            " the vocabulary), not the contrastive training of an embedding model"
        )
    if not isinstance(m, Model):
        native = getattr(m, "native_format", None)
        if native is not None and native.family.value == "gguf":
            raise InvalidSpecError(
                f"{m.id} is a GGUF file: fine-tuning trains a safetensors checkpoint (give its"
                " Hugging Face id or config.json)"
            )
    return m


def _total(mem: TrainMemory) -> tuple[int, int]:
    """(runtime bytes, what the GPU shows at the peak): the allocator's slack over what
    PyTorch holds, and the context outside it."""
    cal = train_calibration()
    runtime = int(mem.gpu_bytes * cal.allocator_fraction) + cal.context_bytes
    return runtime, mem.gpu_bytes + runtime


def train_answer(q: TrainQuery) -> TrainAnswer:
    m = _model(q)
    gpu = q.gpu if isinstance(q.gpu, GPURecord) else get_gpu(q.gpu)
    if gpu.vendor is Vendor.APPLE:
        raise InvalidSpecError(
            "rigfit prices fine-tuning with PyTorch on CUDA or ROCm (transformers, PEFT,"
            " DeepSpeed); Apple silicon's MLX LoRA is not modelled"
        )
    arch = m.arch
    s = _setup(q, arch)
    mem = train_memory(arch, s)
    runtime, total = _total(mem)
    cap = driver_capacity_bytes(gpu)

    def fits(setup: TrainSetup) -> bool:
        return _total(train_memory(arch, setup))[1] <= cap

    max_mb = largest_passing(1, MAX_MICRO_BATCH, lambda b: fits(replace(s, micro_batch=b)))
    max_seq = 256 * largest_passing(
        1, max(1, arch.context_length // 256), lambda k: fits(replace(s, seq_len=256 * k))
    )
    suggestions = tuple(_suggest(arch, s, cap)) if total > cap else ()
    cal = train_calibration()
    mfu = cal.mfu_for(s.method.value)
    speed = note = None
    if mfu is None:
        note = "speed not estimated: no measured runs of this method to calibrate on"
    else:
        speed = train_speed(arch, s, gpu, mfu)
        if speed is None:
            note = f"speed not estimated: {gpu.name} has no published BF16 tensor throughput"
    wall = None
    if speed is not None and q.dataset_tokens is not None:
        if q.dataset_tokens < 1 or not (math.isfinite(q.epochs) and q.epochs > 0):
            raise InvalidSpecError("--dataset-tokens and --epochs must be finite numbers above 0")
        wall = q.dataset_tokens * q.epochs / speed.tokens_per_s
    notes = []
    if speed is not None:
        notes.append(
            f"utilization calibrated on the measured runs of {cal.rows} setups (docs/train.md"
            " lists their GPUs and models); other GPUs, several nodes and offload are"
            " extrapolated"
        )
    if s.offload:
        notes.append(
            "offload: the optimizer step runs on the CPU, which the speed leaves out (it is"
            f" an upper bound); host RAM needed: {mem.host_bytes * s.n_gpus / 1e9:,.1f} GB"
            f" over {s.n_gpus} GPU(s)"
        )
    if s.optimizer.paged:
        notes.append(
            "paged optimizer: its states can move to host RAM under pressure, so the peak on"
            " the GPU can be lower than shown"
        )
    if s.method is Method.QLORA and gpu.vendor is not Vendor.NVIDIA:
        notes.append("bitsandbytes' 4-bit kernels run on ROCm from bitsandbytes 0.44")
    return TrainAnswer(
        model=m.id,
        arch=arch,
        gpu=gpu,
        setup=s,
        memory=mem,
        runtime_bytes=runtime,
        per_gpu_bytes=total,
        capacity_bytes=cap,
        max_micro_batch=max_mb,
        max_seq_len=max_seq,
        suggestions=suggestions,
        speed=speed,
        speed_note=note,
        wall_s=wall,
        command=command_line(m.id, s),
        notes=tuple(notes),
    )


def _suggest(arch: Architecture, s: TrainSetup, cap: int) -> list[TrainSuggestion]:
    """Changes that cost least first: a setting, then precision, then hardware."""
    tries: list[tuple[str, str, TrainSetup]] = []
    if not s.grad_ckpt:
        tries.append(("gradient checkpointing", "--grad-ckpt", replace(s, grad_ckpt=True)))
    if s.loss is LossKind.STANDARD:
        tries.append(
            ("a chunked cross-entropy (Liger)", "--loss chunked", replace(s, loss=LossKind.CHUNKED))
        )
    if s.optimizer in (Optimizer.ADAMW, Optimizer.PAGED_ADAMW):
        tries.append(
            ("8-bit AdamW", "--optimizer adamw8bit", replace(s, optimizer=Optimizer.ADAMW_8BIT))
        )
    if s.method is Method.FULL:
        tries.append(
            ("LoRA instead of full fine-tuning", "--method lora", replace(s, method=Method.LORA))
        )
    if s.method is not Method.QLORA:
        tries.append(("QLoRA (a 4-bit base)", "--method qlora", replace(s, method=Method.QLORA)))
    if s.n_gpus > 1 and s.sharding.stage < 3:
        tries.append(
            ("ZeRO-3 (shard the weights too)", "--zero 3", replace(s, sharding=Sharding.ZERO3))
        )
    if s.sharding.stage >= 1 and not s.offload:
        tries.append(
            ("offload optimizer states to host RAM", "--offload", replace(s, offload=True))
        )
    if s.micro_batch > 1:
        tries.append(
            (
                "micro-batch 1 with gradient accumulation",
                f"--micro-batch 1 --grad-accum {s.micro_batch * s.grad_accum}",
                replace(s, micro_batch=1, grad_accum=s.micro_batch * s.grad_accum),
            )
        )
    out = []
    for change, flag, t in tries:
        total = _total(train_memory(arch, t))[1]
        out.append(TrainSuggestion(change, flag, total, total <= cap))
    for n in (2, 4, 8, 16, 32, 64):
        if n <= s.n_gpus:
            continue
        t = replace(s, n_gpus=n, sharding=Sharding.ZERO3 if s.sharding.stage < 3 else s.sharding)
        total = _total(train_memory(arch, t))[1]
        if total <= cap:
            out.append(
                TrainSuggestion(f"{n} GPUs with ZeRO-3", f"--gpus {n} --zero 3", total, True)
            )
            break
    return out


# TrainingArguments' optimizer names (transformers.training_args.OptimizerNames)
_OPTIM = {
    Optimizer.ADAMW: "adamw_torch",
    Optimizer.ADAMW_8BIT: "adamw_bnb_8bit",
    Optimizer.PAGED_ADAMW_8BIT: "paged_adamw_8bit",
    Optimizer.PAGED_ADAMW: "paged_adamw_32bit",
    Optimizer.ADAFACTOR: "adafactor",
    Optimizer.SGD: "sgd",
}
# TRL's launch configs (examples/accelerate_configs/ in huggingface/trl)
_ACCELERATE = {
    Sharding.DDP: "multi_gpu.yaml",
    Sharding.ZERO1: "deepspeed_zero1.yaml",
    Sharding.ZERO2: "deepspeed_zero2.yaml",
    Sharding.ZERO3: "deepspeed_zero3.yaml",
    Sharding.FSDP: "fsdp2.yaml",
}


def command_line(model_id: str, s: TrainSetup) -> str:
    """The TRL SFT command that runs this setup: ``trl sft`` on one GPU, the same script under
    ``accelerate launch`` with TRL's DeepSpeed/FSDP config on several (flags of TRL's
    ModelConfig and SFTConfig; transformers' TrainingArguments for the optimizer names)."""
    args = [
        "--model_name_or_path",
        model_id,
        "--dataset_name",
        "<your dataset>",
        "--dtype",
        "bfloat16",
        "--bf16",
        "--max_length",
        str(s.seq_len),
        "--per_device_train_batch_size",
        str(s.micro_batch),
        "--gradient_accumulation_steps",
        str(s.grad_accum),
        "--optim",
        _OPTIM[s.optimizer],
    ]
    if s.grad_ckpt:
        args.append("--gradient_checkpointing")
    if s.flash_attn:
        args += ["--attn_implementation", "flash_attention_2"]
    if s.loss is LossKind.CHUNKED:
        args.append("--use_liger_kernel")
    if s.method.adapters:
        args += ["--use_peft", "--lora_r", str(s.lora_rank), "--lora_alpha", str(2 * s.lora_rank)]
        args += ["--lora_target_modules", *s.lora_targets.split(",")]
    if s.method is Method.QLORA:
        args += ["--load_in_4bit", "--bnb_4bit_quant_type", "nf4", "--use_bnb_nested_quant"]
    args += ["--output_dir", "out"]
    if s.n_gpus == 1 and s.sharding is Sharding.SINGLE:
        return shlex.join(["trl", "sft", *args])
    launch = [
        "accelerate",
        "launch",
        "--config_file",
        f"examples/accelerate_configs/{_ACCELERATE[s.sharding]}",
        "--num_processes",
        str(s.n_gpus),
        "trl/scripts/sft.py",
    ]
    line = shlex.join([*launch, *args])
    if s.offload:
        line += "  # and offload_optimizer_device: cpu in the DeepSpeed config"
    return line


def train_curve(a: TrainAnswer) -> list[tuple[int, int, bool]]:
    """(sequence length, per-GPU bytes, fits) from 512 tokens to the model's context, in
    powers of two and the answer's own length: the page's chart of memory against length."""
    top = a.arch.context_length
    points = {a.setup.seq_len, top}
    n = 512
    while n < top:
        points.add(n)
        n *= 2
    out = []
    for seq in sorted(points):
        total = _total(train_memory(a.arch, replace(a.setup, seq_len=seq)))[1]
        out.append((seq, total, total <= a.capacity_bytes))
    return out
