"""Score rigfit's estimates against the measurement set: one prediction per row.

Each scored row is rebuilt as a request (model, format, GPU, context, sequences, KV type and the
engine flags its source shows), estimated under that engine's profile at the version the log
printed, and the figure the engine printed is compared with rigfit's figure for the same thing:
a device's model buffer with the weights placed on that device, vLLM's "Available KV cache
memory" with the pool budget, a published GGUF size with the predicted file, and so on.

Where a row's setup cannot be replayed (a hand-written ``-ot`` placement, expert parallelism),
:func:`predict` says so and the row is reported as not scored, never guessed.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import replace
from enum import StrEnum

from rigfit.api import native_format
from rigfit.catalog.lookup import get_gpu, get_model
from rigfit.catalog.schema import GPURecord
from rigfit.engines import get_engine
from rigfit.engines.llamacpp import GGUF_GPU_FORMATS
from rigfit.errors import RigfitError
from rigfit.estimate.memory import Estimate, Request, estimate
from rigfit.estimate.settings import EngineSettings
from rigfit.formats.gguf.size import gguf_file_bytes
from rigfit.frozen import frozen
from rigfit.hardware import System
from rigfit.quant import Family, WeightFormat, parse_kv_type, parse_quant
from rigfit.validation.measurements import (
    Engine,
    KVBasis,
    Measurement,
    Quantity,
    Scope,
    load_measurements,
)

__all__ = [
    "TARGETS",
    "GroupStats",
    "NotScoredError",
    "RowScore",
    "Target",
    "Term",
    "engine_group",
    "group_stats",
    "predict",
    "score_all",
]

# A GPU to stand in where a row ran on the CPU or did not name its GPU: its capacity never
# enters a scored figure (model sizes, KV buffers and file sizes do not depend on it).
STAND_IN_GPU = "h100-sxm"
# A log in V0's format with no version printed is replayed as the last V0-only release.
V0_STAND_IN = "0.6.6"


class NotScoredError(Exception):
    """A row whose setup rigfit cannot replay exactly; the message says why."""


class Term(StrEnum):
    """What a row measures, grouped the way the targets are stated."""

    WEIGHTS = "weights"
    FILE = "gguf file"
    KV = "kv cache"
    KV_POOL = "kv pool"
    KV_TOKENS = "kv tokens"
    KV_LAYOUT = "kv layout"  # vLLM: tokens or blocks from the logged KV budget
    CONCURRENCY = "concurrency"
    COMPUTE = "compute buffer"
    OUTPUT = "output buffer"
    TOTAL = "total"


@frozen
class RowScore:
    row: Measurement
    term: Term
    measured: float  # bytes, tokens, blocks or x
    predicted: float | None
    reason: str = ""  # why not scored

    @property
    def rel_error(self) -> float | None:
        if self.predicted is None or self.measured == 0:
            return None
        return (self.predicted - self.measured) / self.measured


def _term(row: Measurement) -> Term:
    q = row.quantity
    if q is Quantity.FILE_SIZE:
        return Term.FILE
    if q in (Quantity.MODEL_SIZE, Quantity.MODEL_BUFFER, Quantity.WEIGHTS):
        return Term.WEIGHTS
    if q is Quantity.KV_CACHE:
        return Term.KV_POOL if row.kv_basis is KVBasis.POOL else Term.KV
    if q in (Quantity.KV_TOKENS, Quantity.GPU_BLOCKS):
        return Term.KV_TOKENS
    if q is Quantity.MAX_CONCURRENCY:
        return Term.CONCURRENCY
    if q is Quantity.COMPUTE_BUFFER:
        return Term.COMPUTE
    if q is Quantity.OUTPUT_BUFFER:
        return Term.OUTPUT
    return Term.TOTAL


def _measured(row: Measurement) -> float:
    vb = row.value_bytes
    return float(vb) if vb is not None else row.value


def _gpu(row: Measurement) -> GPURecord:
    gpu = get_gpu(row.gpu or STAND_IN_GPU)
    total = row.setup.total_gpu_memory_bytes
    if total is not None:
        # the machine's own reading replaces the catalog's (a hardware fact of that run)
        gpu = replace(
            gpu,
            driver_reported_bytes=total,
            driver_reported_reading="total memory printed in the measured log",
            driver_reported_source=row.source,
            runtime_total_bytes=None,
            memory_bytes=max(gpu.memory_bytes, total),
        )
    return gpu


# Engines whose rows are replayed with llama.cpp's accounting (GGUF files)
_GGUF_ENGINES = (Engine.LLAMA_CPP, Engine.IK_LLAMA_CPP, Engine.OLLAMA, Engine.GGUF_FILE)


def _format(row: Measurement, needs_weights: bool) -> WeightFormat:
    if row.quant is not None:
        return parse_quant(row.quant)
    if needs_weights:
        raise NotScoredError(f"no rigfit format for {row.quant_as_printed or 'this quant'}")
    fmt = native_format(get_model(row.model).record)
    if row.engine in _GGUF_ENGINES and fmt.family is Family.GPU and fmt not in GGUF_GPU_FORMATS:
        # the row's figure (a KV or output buffer) does not depend on the weights, but a GGUF
        # engine refuses a checkpoint format such as FP8: price its GGUF BF16 form instead
        return WeightFormat.BF16
    return fmt


_EXPERT_OT = re.compile(r"^\s*(?:\.?ffn_\.\*_exps\.?|exps|\\\.ffn_\.\*_exps)\s*=\s*CPU\s*$", re.I)


def _llamacpp_settings(row: Measurement) -> EngineSettings:
    s = row.setup
    cpu_moe = bool(s.cpu_moe)
    if s.override_tensor:
        if _EXPERT_OT.match(s.override_tensor):
            cpu_moe = True
        elif row.quantity is not Quantity.KV_CACHE and row.quantity is not Quantity.OUTPUT_BUFFER:
            raise NotScoredError(
                f"hand-written -ot placement {s.override_tensor!r} is not replayed"
            )
    ngl = s.ngl
    if ngl is not None and s.n_layers_total is not None and ngl >= s.n_layers_total:
        ngl = None  # "offloaded N/N layers": everything, the output layer included
    if row.gpu is None and row.device == "CPU":
        ngl = 0
    split = None
    if s.tensor_split:
        split = tuple(float(x) for x in re.split(r"[,/ ]+", s.tensor_split.strip()) if x)
    return EngineSettings(
        version=_build(row.engine_version),
        ngl=ngl,
        cpu_moe=cpu_moe,
        n_cpu_moe=s.n_cpu_moe or 0,
        tensor_split=split,
        flash_attn=s.flash_attn,
        n_ubatch=s.n_ubatch,
    )


def _build(version: str | None) -> str | None:
    if version is None:
        return None
    m = re.search(r"\bb?(\d{4,5})\b", version)
    return f"b{m.group(1)}" if m else None


def _vllm_version(version: str | None) -> str | None:
    if version is None:
        return None
    m = re.search(r"\d+\.\d+(?:\.\d+)?", version)
    return m.group(0) if m else None


def _request(row: Measurement) -> tuple[Request, str]:
    """The request a row's source ran, and the engine profile name to estimate it with."""
    model = get_model(row.model)
    s = row.setup
    needs_weights = row.quantity in (
        Quantity.MODEL_SIZE,
        Quantity.MODEL_BUFFER,
        Quantity.WEIGHTS,
        Quantity.FILE_SIZE,
    ) or (row.engine in (Engine.VLLM, Engine.SGLANG) and row.kv_basis is KVBasis.POOL)
    fmt = _format(row, needs_weights)
    seqs = s.n_seq or 1
    kv = parse_kv_type(s.kv_type) if s.kv_type else parse_kv_type("f16")
    gpus = max(1, row.gpus or 1)
    if row.engine in _GGUF_ENGINES:
        # ik_llama.cpp keeps mainline's plain KV cache and weights layout; its own MLA modes
        # are excluded rows. Its build numbers are its own, so mainline's reference applies.
        engine = "llama.cpp"
        ctx = s.n_ctx_per_seq or ((s.ctx // seqs) if s.ctx else model.arch.context_length)
        settings = (
            _llamacpp_settings(row) if row.engine is not Engine.GGUF_FILE else EngineSettings()
        )
        if row.engine is Engine.IK_LLAMA_CPP:
            settings = replace(settings, version=None)
    elif row.engine is Engine.VLLM:
        if (s.data_parallel_size and s.data_parallel_size > 1) or s.enable_expert_parallel:
            raise NotScoredError("data/expert parallel layouts are not replayed")
        if s.cpu_offload_gb:
            raise NotScoredError("vLLM --cpu-offload-gb is not replayed")
        engine = "vllm"
        ctx = s.ctx or model.arch.context_length
        pp = s.pipeline_parallel_size or 1
        tp = row.tp or max(1, gpus // pp)
        gpus = tp * pp
        version = _vllm_version(row.engine_version)
        if version is None and s.vllm_engine == "v0":
            version = V0_STAND_IN
        settings = EngineSettings(
            version=version,
            tp=tp,
            pp=pp,
            gpu_memory_utilization=s.gpu_memory_utilization,
            max_num_batched_tokens=s.max_num_batched_tokens,
            max_num_seqs=s.max_num_seqs,
            block_size=s.block_size,
            enforce_eager=bool(s.enforce_eager),
        )
        seqs = 1
    elif row.engine is Engine.SGLANG:
        engine = "sglang"
        ctx = s.ctx or model.arch.context_length
        tp = row.tp or gpus
        settings = EngineSettings(
            version=_vllm_version(row.engine_version),
            tp=tp,
            mem_fraction_static=s.mem_fraction_static,
        )
        seqs = 1
    else:
        raise NotScoredError(f"no profile replays {row.engine}")
    if row.quantity is Quantity.FILE_SIZE:
        ctx = min(ctx, model.arch.context_length)
    req = Request(
        arch=model.arch,
        weight_format=fmt,
        kv_type=kv,
        ctx_tokens=ctx,
        seqs=seqs,
        system=System(_gpu(row), gpus),
        allow_ctx_over_max=True,
        engine=settings,
    )
    return req, engine


def _device_index(device: str | None) -> int | None:
    if device is None:
        return None
    m = re.fullmatch(r"(?:CUDA|ROCm|Vulkan|Metal|RPC|SYCL)(\d+)", device.strip())
    return int(m.group(1)) if m else None


def _on(est: Estimate, key: str, row: Measurement) -> float:
    """A term's bytes where the row looked: one device, the host, or everywhere."""
    idx = _device_index(row.device)
    terms = [t for t in est.terms if t.key == key]
    host = [t for t in est.terms if t.key == f"host_{key}"]
    if row.scope is Scope.DEVICE and row.device is not None:
        if idx is not None:
            return float(sum(t.on_device(idx) for t in terms))
        if row.device.upper().startswith(("CPU", "CUDA_HOST")):
            return float(sum(t.total_bytes for t in host))
    return float(sum(t.total_bytes for t in terms + host))


def predict(row: Measurement) -> float:
    """rigfit's figure for what ``row`` measured (bytes, tokens, blocks or x)."""
    if row.excluded is not None:
        raise NotScoredError(row.excluded)
    req, engine = _request(row)
    if row.quantity is Quantity.FILE_SIZE:
        # bartowski's cards say every quant was made with an importance matrix, which changes
        # llama.cpp's type choice for some tensors; other publishers' files are priced as a
        # plain llama-quantize run (imatrix only where the type requires one)
        imatrix = True if "bartowski" in str(row.source) else None
        return float(gguf_file_bytes(req.arch, req.weight_format, imatrix=imatrix))
    profile = get_engine(engine)
    q = row.quantity
    if engine == "llama.cpp":
        if q is Quantity.MODEL_SIZE and row.scope is Scope.FILE:
            return float(req.weights().total_bytes)
        est = estimate(req, profile)
        if q in (Quantity.MODEL_SIZE, Quantity.MODEL_BUFFER):
            return _on(est, "weights", row)
        if q is Quantity.KV_CACHE:
            return _on(est, "kv_cache", row)
        if q is Quantity.COMPUTE_BUFFER:
            return _on(est, "compute", row)
        if q is Quantity.OUTPUT_BUFFER:
            return float(est.term_bytes("output"))
        raise NotScoredError(f"{q} is not a llama.cpp figure rigfit predicts")
    est = estimate(req, profile)
    if q is Quantity.WEIGHTS:
        w = next(t.per_gpu_bytes for t in est.terms if t.key == "weights")
        rot = sum(t.per_gpu_bytes for t in est.terms if t.key == "rotary")
        return float(w + rot)
    pool = est.pool
    if pool is None:
        raise NotScoredError(f"{engine} reports no KV pool for this request")
    if q is Quantity.KV_CACHE:
        if row.kv_basis is KVBasis.CONTEXT:
            return float(pool.demand_per_gpu_bytes)
        if row.kv_part is not None:
            part = pool.tokens * pool.bytes_per_token_per_gpu
            mla = req.arch.attention.kind.name == "MLA"
            return float(part if mla and row.kv_part == "K" else 0 if mla else part / 2)
        return float(pool.budget_per_gpu_bytes)
    if q is Quantity.KV_TOKENS:
        return float(pool.tokens)
    if q is Quantity.GPU_BLOCKS:
        if pool.blocks is None:
            raise NotScoredError(f"{engine} has no blocks")
        return float(pool.blocks)
    if q is Quantity.MAX_CONCURRENCY:
        if pool.max_concurrency is None:
            raise NotScoredError(f"{engine} reports no concurrency")
        return pool.max_concurrency
    raise NotScoredError(f"{q} is not a {engine} figure rigfit predicts")


def score_all(rows: tuple[Measurement, ...] | None = None) -> list[RowScore]:
    """Score every row of the set (or of ``rows``), then each run's device total."""
    out: list[RowScore] = []
    for row in rows if rows is not None else load_measurements():
        term, measured = _term(row), _measured(row)
        try:
            out.append(RowScore(row, term, measured, predict(row)))
        except NotScoredError as exc:
            out.append(RowScore(row, term, measured, None, str(exc)))
        except RigfitError as exc:
            out.append(RowScore(row, term, measured, None, f"rigfit refused it: {exc}"))
    return out + run_totals(out) + vllm_layouts(out)


_RUN_PARTS = (Term.WEIGHTS, Term.KV, Term.COMPUTE)


def run_totals(scores: list[RowScore]) -> list[RowScore]:
    """One device's total per run: model buffer + KV cache + compute buffer, where one log
    prints all three for the same device (llama.cpp's per-device lines)."""
    runs: dict[tuple[str, str, str, int | None], dict[Term, RowScore]] = {}
    for s in scores:
        r = s.row
        if s.predicted is None or r.scope is not Scope.DEVICE or r.device is None:
            continue
        if s.term not in _RUN_PARTS:
            continue
        key = (str(r.source), r.model, r.device, r.setup.ctx)
        runs.setdefault(key, {})[s.term] = s
    out = []
    for parts in runs.values():
        if set(parts) != set(_RUN_PARTS):
            continue
        first = parts[Term.WEIGHTS]
        out.append(
            RowScore(
                first.row,
                Term.TOTAL,
                sum(p.measured for p in parts.values()),
                sum(p.predicted or 0.0 for p in parts.values()),
                "",
            )
        )
    return out


def vllm_layouts(scores: list[RowScore]) -> list[RowScore]:
    """vLLM's KV layout on its own: where one log prints both the KV budget ("Available KV
    cache memory", ``kv_cache_size``) and the tokens or blocks it made of it, rigfit converts
    the logged budget with its page size, layer groups and block rounding and compares the
    result with the logged count."""
    from rigfit.engines.vllm import VLLM

    budgets: dict[tuple[str, str, int | None], RowScore] = {}
    counts: list[RowScore] = []
    for s in scores:
        r = s.row
        if r.engine is not Engine.VLLM or s.reason:
            continue
        key = (str(r.source), r.model, r.setup.ctx)
        if r.quantity is Quantity.KV_CACHE and r.kv_basis is KVBasis.POOL:
            budgets[key] = s
        elif r.quantity in (Quantity.KV_TOKENS, Quantity.GPU_BLOCKS):
            counts.append(s)
    out = []
    for c in counts:
        b = budgets.get((str(c.row.source), c.row.model, c.row.setup.ctx))
        if b is None:
            continue
        req, _ = _request(c.row)
        pool = VLLM.pool_for_budget(req, int(b.measured))
        got = pool.tokens if c.row.quantity is Quantity.KV_TOKENS else pool.blocks
        out.append(RowScore(c.row, Term.KV_LAYOUT, c.measured, float(got or 0), ""))
    return out


@frozen
class GroupStats:
    engine: str
    term: Term
    rows: int
    scored: int
    median_abs: float | None
    p90_abs: float | None


def p90(xs: list[float]) -> float:
    """The 90th percentile by the nearest-rank method (no interpolation)."""
    s = sorted(xs)
    return s[max(0, -(-9 * len(s) // 10) - 1)]


def engine_group(engine: Engine) -> str:
    """The group whose statistics an engine's rows join: Ollama's runner is llama.cpp."""
    return "llama.cpp" if engine is Engine.OLLAMA else engine.value


def _engine_group(row: Measurement) -> str:
    return engine_group(row.engine)


def group_stats(scores: list[RowScore]) -> list[GroupStats]:
    groups: dict[tuple[str, Term], list[RowScore]] = {}
    for s in scores:
        groups.setdefault((_engine_group(s.row), s.term), []).append(s)
    out = []
    for (engine, term), items in sorted(groups.items()):
        errs = [abs(e) for s in items if (e := s.rel_error) is not None]
        out.append(
            GroupStats(
                engine,
                term,
                len(items),
                len(errs),
                statistics.median(errs) if errs else None,
                p90(errs) if errs else None,
            )
        )
    return out


@frozen
class Target:
    """An accuracy target of the issue: a statistic of the absolute error in a group."""

    engines: tuple[str, ...]
    term: Term
    statistic: str  # "median" or "p90"
    limit: float  # fraction


TARGETS = (
    # weights within 1% (median) of the engine's model buffer and of published GGUF sizes
    Target(("llama.cpp", "vllm", "sglang", "ik_llama.cpp"), Term.WEIGHTS, "median", 0.01),
    Target(("gguf-file",), Term.FILE, "median", 0.01),
    # KV cache exact (0.5%) for llama.cpp and vLLM (vLLM: its KV layout, from logged budgets)
    Target(("llama.cpp", "ik_llama.cpp"), Term.KV, "median", 0.005),
    Target(("vllm",), Term.KV_LAYOUT, "median", 0.005),
    # vLLM KV tokens within 5%
    Target(("vllm",), Term.KV_TOKENS, "median", 0.05),
    # totals within 10% at the 90th percentile
    Target(("llama.cpp", "vllm", "sglang", "ik_llama.cpp"), Term.TOTAL, "p90", 0.10),
)


def check_targets(stats: list[GroupStats]) -> list[tuple[Target, float | None, bool]]:
    """Each target with the statistic reached and whether it holds."""
    out = []
    for t in TARGETS:
        groups = [g for g in stats if g.engine in t.engines and g.term is t.term]
        errs_med = [g.median_abs for g in groups if g.median_abs is not None]
        errs_p90 = [g.p90_abs for g in groups if g.p90_abs is not None]
        vals = errs_med if t.statistic == "median" else errs_p90
        worst = max(vals) if vals else None
        out.append((t, worst, worst is not None and worst <= t.limit))
    return out
