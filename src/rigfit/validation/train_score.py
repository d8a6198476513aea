"""Score ``rigfit train`` against the measured fine-tuning runs, and fit its constants.

Each row is replayed through the library (:func:`rigfit.train.train_memory`, the same answer
path as ``rigfit train``) with the setup its source states. Peak memory is compared in the
measurement's own kind: PyTorch's allocated peak is the model's terms alone; its reserved peak
adds the allocator's slack; nvidia-smi adds the CUDA context too. Tokens/s compares against the
FLOPs model at the calibrated utilization.
"""

from __future__ import annotations

import statistics

from rigfit.catalog.lookup import get_gpu, get_model
from rigfit.frozen import frozen
from rigfit.train.calibration import TrainCalibration, train_calibration
from rigfit.train.memory import train_memory
from rigfit.train.setup import TrainSetup
from rigfit.train.speed import flops_per_token
from rigfit.validation.train_rows import MemoryKind, TrainRow, load_train_rows

__all__ = [
    "MEMORY_TARGETS",
    "MODELLED_FRAMEWORKS",
    "SPEED_TARGET",
    "TrainScore",
    "cross_validate",
    "fit_calibration",
    "score_train",
    "summary",
]

# issue 13's targets: peak memory median |error| <= 10% and p90 <= 20%; tokens/s median <= 25%
MEMORY_TARGETS = {"median": 0.10, "p90": 0.20}
SPEED_TARGET = 0.25
# The frameworks rigfit prices: Hugging Face transformers' Trainer with PEFT and bitsandbytes,
# TRL on it, DeepSpeed and accelerate/FSDP under it, and the trainers built on that stack. The
# rest keep rows in the set, scored apart (torchtune's fused optimizer step and chunked loss,
# Unsloth's kernels, fms-acceleration's plugins, ms-swift's and litgpt's own trainers change
# what is held).
MODELLED_FRAMEWORKS = frozenset(
    {"transformers+peft", "trl", "deepspeed", "accelerate", "llama-factory", "axolotl"}
)


@frozen
class TrainScore:
    row: TrainRow
    metric: str  # "memory" or "tokens/s"
    predicted: float
    measured: float

    @property
    def error(self) -> float:
        return self.predicted / self.measured - 1


def setup_of(row: TrainRow) -> TrainSetup:
    return TrainSetup(
        method=row.method,
        seq_len=row.seq_len,
        micro_batch=row.micro_batch,
        grad_ckpt=row.grad_ckpt,
        optimizer=row.optimizer,
        sharding=row.sharding,
        n_gpus=row.n_gpus,
        lora_rank=row.lora_rank or 16,
        lora_targets=row.lora_targets or "all-linear",
        flash_attn=row.flash_attn,
        loss=row.loss,
        offload=row.offload,
        master_weights=row.master_weights,
        lora_dropout=row.lora_dropout,
    )


def _memory(row: TrainRow, gpu_bytes: int, cal: TrainCalibration) -> float:
    if row.peak_mem_kind is MemoryKind.ALLOCATED:
        return gpu_bytes
    reserved = gpu_bytes * (1 + cal.allocator_fraction)
    if row.peak_mem_kind is MemoryKind.RESERVED:
        return reserved
    return reserved + cal.context_bytes


def _unit_rate(row: TrainRow) -> float | None:
    """Tokens/s at a utilization of 1 (the FLOPs model's ceiling)."""
    gpu = get_gpu(row.gpu)
    tflops = gpu.bf16_dense_tflops or gpu.fp16_dense_tflops
    if tflops is None:
        return None
    arch = get_model(row.model).arch
    return row.n_gpus * tflops * 1e12 / flops_per_token(arch, setup_of(row))


def score_train(
    rows: tuple[TrainRow, ...] | None = None, cal: TrainCalibration | None = None
) -> list[TrainScore]:
    rows = load_train_rows() if rows is None else rows
    cal = cal or train_calibration()
    out = []
    for row in rows:
        arch = get_model(row.model).arch
        mem = train_memory(arch, setup_of(row))
        if row.peak_bytes is not None:
            out.append(TrainScore(row, "memory", _memory(row, mem.gpu_bytes, cal), row.peak_bytes))
        mfu = cal.mfu_for(row.method.value)
        ceiling = _unit_rate(row)
        measured = row.total_tokens_per_s
        if measured is not None and mfu is not None and ceiling is not None:
            out.append(TrainScore(row, "tokens/s", ceiling * mfu, measured))
    return out


def summary(
    scores: list[TrainScore], metric: str, held: bool | None = None, modelled: bool = True
) -> tuple[int, float, float]:
    """(rows, median |error|, p90 |error|) of one metric over the modelled frameworks (or the
    others); ``held`` picks fit or held-out rows."""
    errs = sorted(
        abs(s.error)
        for s in scores
        if s.metric == metric
        and (held is None or s.row.held_out == held)
        and (s.row.framework in MODELLED_FRAMEWORKS) == modelled
    )
    if not errs:
        return 0, float("nan"), float("nan")
    p90 = errs[min(len(errs) - 1, int(0.9 * len(errs)))]
    return len(errs), statistics.median(errs), p90


def cross_validate(rows: tuple[TrainRow, ...] | None = None) -> list[TrainScore]:
    """Each group of rows (one source, model and method) scored with the constants fitted on
    all the other groups: the out-of-sample error when the groups are few (the modelled
    frameworks' rows come from a handful of benchmarks)."""
    rows = load_train_rows() if rows is None else rows
    modelled = tuple(r for r in rows if r.framework in MODELLED_FRAMEWORKS)
    out: list[TrainScore] = []
    for group in sorted({r.group for r in modelled}):
        others = tuple(r for r in modelled if r.group != group)
        cal = fit_calibration(others, hold_out=False)
        out += score_train(tuple(r for r in modelled if r.group == group), cal)
    return out


def fit_calibration(
    rows: tuple[TrainRow, ...] | None = None, hold_out: bool = True
) -> TrainCalibration:
    """Fit on the rows not held out: the allocator's slack and the context on reserved and
    nvidia-smi rows (a grid, minimizing the median |error|), and each method's utilization
    (the median of measured over the FLOPs ceiling)."""
    rows = load_train_rows() if rows is None else rows
    fit_rows = tuple(
        r for r in rows if not (hold_out and r.held_out) and r.framework in MODELLED_FRAMEWORKS
    )
    # only rows measured past the allocator (its reserved pool, nvidia-smi) say anything about
    # its slack, and only nvidia-smi rows about the CUDA context; with none, the context stays
    # 0 and the answer says the verdict leaves it out
    memory_rows = [
        r
        for r in fit_rows
        if r.peak_bytes is not None and r.peak_mem_kind is not MemoryKind.ALLOCATED
    ]
    smi = any(r.peak_mem_kind is MemoryKind.NVIDIA_SMI for r in memory_rows)
    # each row's model bytes once; the grid only rescales them
    held = [
        (r, train_memory(get_model(r.model).arch, setup_of(r)).gpu_bytes, r.peak_bytes or 1)
        for r in memory_rows
    ]
    best = (float("inf"), 0.0, 0)
    for frac in [x / 100 for x in range(31)]:
        for ctx_mib in range(0, 2049, 64) if smi else (0,):
            cal = TrainCalibration(ctx_mib * 2**20, frac, {}, 0, "")
            errs = [abs(_memory(r, gpu, cal) / measured - 1) for r, gpu, measured in held]
            if errs:
                med = statistics.median(errs)
                if med < best[0]:
                    best = (med, frac, ctx_mib * 2**20)
    mfu: dict[str, float] = {}
    for method in ("full", "lora", "qlora"):
        ratios = []
        for r in fit_rows:
            measured = r.total_tokens_per_s
            ceiling = _unit_rate(r) if measured is not None else None
            if r.method.value == method and ceiling and measured:
                ratios.append(measured / ceiling)
        if len(ratios) >= 3:
            mfu[method] = round(statistics.median(ratios), 4)
    n = len(memory_rows) + sum(1 for r in fit_rows if r.tokens_per_s is not None)
    # (rows: those measured past the allocator, and those with tokens/s)
    return TrainCalibration(
        best[2],
        best[1],
        mfu,
        n,
        "scripts/fit_train.py on validation/data/train/train.jsonl (rows not held out)",
    )
