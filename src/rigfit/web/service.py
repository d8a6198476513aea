"""The web app's calls into the library, with results cached by their resolved inputs.

Names are resolved first (``r1-distill-70b`` and ``deepseek-ai/DeepSeek-R1-Distill-Llama-70B``
share a cache entry), so the caches hold at most one entry per distinct answer; each is bounded.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from typing import Any

from rigfit.answer import Query, SpeedOn, answer, answer_table, is_auto, plan, speeds_on
from rigfit.api import models_on_gpu, native_format
from rigfit.catalog.custom import is_custom, parse_custom
from rigfit.catalog.lookup import Model, find_gpus, find_models, get_gpu, get_model, list_gpus
from rigfit.engines import get_engine
from rigfit.errors import InvalidSpecError
from rigfit.estimate.memory import DEFAULT_CTX_TOKENS, Estimate
from rigfit.estimate.memory import estimate as estimate_request
from rigfit.estimate.settings import OPTIONS, EngineSettings, settings_from
from rigfit.estimate.sweep import context_curve, format_table, table_contexts
from rigfit.frozen import frozen
from rigfit.planner import PlanQuery, parse_budget, plan_hardware
from rigfit.quant import KVCacheType, parse_kv_type, parse_quant
from rigfit.report import (
    CompareReport,
    CurveReport,
    FitReport,
    FormatTableReport,
    GPUReport,
    GPUTableReport,
    ModelReport,
    ModelsOnGPUReport,
    PlanReport,
    TrainReport,
    curve_report,
    format_table_report,
    gpu_report,
    model_report,
    models_on_gpu_report,
    plan_report,
    train_report,
)
from rigfit.speed.ram import parse_ram_bandwidth
from rigfit.strict import dump
from rigfit.train import TrainQuery, train_answer
from rigfit.train.answer import train_curve
from rigfit.units import parse_bytes, parse_tokens
from rigfit.web.inputs import (
    CompareQuery,
    EstimateQuery,
    GPUFilter,
    ModelFilter,
    ModelsOnGPUQuery,
    PlanIn,
    TableQuery,
    TrainIn,
)

__all__ = [
    "REFERENCE_GPU",
    "compare",
    "curve",
    "estimate",
    "estimate_json",
    "formats",
    "gpu",
    "gpus",
    "model",
    "models",
    "models_on",
    "resolve",
    "which_gpus",
]

# The accelerator the model pages count in ("needs N × H100 SXM"), the most common rented GPU.
REFERENCE_GPU = "h100-sxm"
CACHE_ENTRIES = 4096  # per cache; an entry is a few kB


def resolve(q: EstimateQuery) -> Query:
    """The query with every name resolved (``r1-distill-70b`` and its Hugging Face id share a
    cache entry): the cache key of the estimate."""
    return Query(
        get_model(q.model).id,
        gpu_key(q.gpu),
        gpus=q.gpus,
        add_gpu=tuple(gpu_key(g) for g in q.add_gpu),
        quant=None if q.quant is None else parse_quant(q.quant).label,
        ctx=None if q.ctx is None else parse_tokens(q.ctx),
        kv_type=parse_kv_type(q.kv_type).flag,
        seqs=q.seqs,
        force_ctx=q.force_ctx,
        engine=get_engine(q.engine).name,
        settings=EngineSettings(**settings_from({o.field: getattr(q, o.param) for o in OPTIONS})),
        ram=None if q.ram is None else parse_bytes(q.ram),
        wired_limit_mb=q.wired_limit_mb,
        prompt_tokens=q.prompt,
        output_tokens=q.output,
        users=q.users,
        ram_bandwidth=None if q.ram_bandwidth is None else _ram_bandwidth(q.ram_bandwidth),
    )


def gpu_key(name: str) -> str:
    """An accelerator as the cache and the URL keep it: its catalog id, or a custom spec
    written one way. ``auto`` is refused: it detects the machine rigfit runs on, which a web
    server's user is not at."""
    if is_auto(name):
        raise InvalidSpecError(
            "gpu=auto detects the machine rigfit runs on, not yours: give an accelerator id,"
            " or describe yours with custom:memory=24GiB,bandwidth=1008GB/s"
        )
    if is_custom(name):
        parse_custom(name)  # checked here, so a bad spec is a 400 before any estimate
        # one cache entry per spec: keys and values written one way, a name as given
        head, _, body = name.strip().partition(":")
        parts = []
        for item in body.split(","):
            key, _, value = item.partition("=")
            key = key.strip().lower()
            value = value.strip() if key == "name" else value.strip().lower().replace(" ", "")
            parts.append(f"{key}={value}")
        return f"{head.lower()}:" + ",".join(parts)
    return get_gpu(name).id


@lru_cache(maxsize=1)
def accuracy() -> tuple[dict[str, Any], dict[str, Any]]:
    """The memory and speed validation (groups and targets; rows left out): computed once."""
    from rigfit.validation.report import validation_dict
    from rigfit.validation.speed_report import speed_validation_dict

    memory, speed = validation_dict(), speed_validation_dict()
    return (
        {"groups": memory["groups"], "targets": memory["targets"]},
        {"groups": speed["groups"], "targets": speed["targets"]},
    )


def _ram_bandwidth(text: str) -> str:
    """The --ram-bandwidth text, checked and written one way (one cache entry per value)."""
    parse_ram_bandwidth(text)
    return text.strip().lower().replace(" ", "")


@lru_cache(maxsize=CACHE_ENTRIES)
def _fit(key: Query) -> FitReport:
    return answer(key)


@lru_cache(maxsize=CACHE_ENTRIES)
def _fit_json(key: Query) -> bytes:
    return json.dumps(dump(_fit(key)), separators=(",", ":"), ensure_ascii=False).encode()


def estimate(q: EstimateQuery) -> FitReport:
    return _fit(resolve(q))


def estimate_json(q: EstimateQuery) -> bytes:
    """The estimate, serialized once per distinct input."""
    return _fit_json(resolve(q))


@lru_cache(maxsize=CACHE_ENTRIES)
def _curve(key: Query) -> CurveReport:
    p = plan(key)
    assert isinstance(p.model, Model)  # the web app names catalog models only
    return curve_report(p.model, p.request, context_curve(p.request, profile=p.profile))


def curve(q: EstimateQuery) -> CurveReport:
    """Memory per GPU against context, from 512 tokens to the model's maximum."""
    return _curve(resolve(q))


@lru_cache(maxsize=CACHE_ENTRIES)
def _which_gpus(key: Query) -> GPUTableReport:
    return answer_table(key)


def which_gpus(q: TableQuery) -> GPUTableReport:
    """For each catalog accelerator: how many it takes (priced by the engine that runs it
    there), and the headroom then."""
    key = resolve(
        EstimateQuery(
            model=q.model,
            gpu=REFERENCE_GPU,
            quant=q.quant,
            kv_type=q.kv_type,
            ctx=q.ctx,
            seqs=q.seqs,
        )
    )
    return _which_gpus(replace(key, gpu=None))


@lru_cache(maxsize=256)
def _formats(model_id: str, kv: KVCacheType) -> FormatTableReport:
    m = get_model(model_id)
    ctxs = table_contexts(m.arch.context_length)
    rows = format_table(
        m.arch, ctxs, get_gpu(REFERENCE_GPU), list_gpus(), kv_type=kv, pooling=not m.generates
    )
    return format_table_report(m, rows, ctxs=ctxs, reference=REFERENCE_GPU, kv_type=kv.flag)


# The accelerators a model page times one user on: what people own and rent most (a judgment
# of rigfit's, not a measurement; the calculator prices any of the catalog's).
COMMON_GPUS = ("rtx-3090", "rtx-4090", "rtx-5090", "m4-max-128gb", "h100-sxm", "mi300x")


# The context the common-accelerator table holds (rigfit's default context; the model's
# maximum when that is shorter)
COMMON_SPEED_CTX = DEFAULT_CTX_TOKENS


def common_speed_ctx(model_id: str) -> int:
    return min(COMMON_SPEED_CTX, get_model(model_id).arch.context_length)


@lru_cache(maxsize=256)
def common_speeds(model_id: str) -> list[SpeedOn]:
    """One user's decode speed of the model's checkpoint and of Q4_K_M on the fewest of each
    common accelerator that hold it at :func:`common_speed_ctx` tokens."""
    m = get_model(model_id)
    native = native_format(m.record).label
    quants = tuple(dict.fromkeys((native, "Q4_K_M")))
    return speeds_on(m.id, COMMON_GPUS, quants, common_speed_ctx(m.id))


def formats(model_id: str, kv_type: str = "f16") -> FormatTableReport:
    """Memory of a model in every weight format at 4k, 32k and its maximum context."""
    return _formats(get_model(model_id).id, parse_kv_type(kv_type))


@lru_cache(maxsize=256)
def model(model_id: str) -> ModelReport:
    return model_report(get_model(model_id))


def gpu(gpu_id: str) -> GPUReport:
    return gpu_report(get_gpu(gpu_id))


def models(f: ModelFilter) -> list[Model]:
    return find_models(
        family=f.family,
        org=f.org,
        moe=f.moe,
        min_params=None if f.min_params_b is None else f.min_params_b * 1e9,
        max_params=None if f.max_params_b is None else f.max_params_b * 1e9,
        search=f.search,
        license=f.license,
        min_ctx_tokens=f.min_ctx_tokens,
    )


def gpus(f: GPUFilter) -> list[GPUReport]:
    return [
        gpu_report(g)
        for g in find_gpus(
            vendor=f.vendor, segment=f.segment, min_memory_gb=f.min_memory_gb, search=f.search
        )
    ]


@lru_cache(maxsize=CACHE_ENTRIES)
def _models_on(
    gpu_id: str, count: int, quant: str | None, kv: str, ctx: str | None, seqs: int
) -> ModelsOnGPUReport:
    rows = models_on_gpu(gpu_id, gpus=count, quant=quant, ctx=ctx, kv_type=kv, seqs=seqs)
    return models_on_gpu_report(get_gpu(gpu_id), count, rows)


def models_on(q: ModelsOnGPUQuery) -> ModelsOnGPUReport:
    """Every catalog model on ``q.gpus`` × ``q.gpu``: which fit, and their memory."""
    g = get_gpu(q.gpu)
    quant = None if q.quant is None else parse_quant(q.quant).label
    ctx = None if q.ctx is None else str(parse_tokens(q.ctx))
    return _models_on(g.id, q.gpus, quant, parse_kv_type(q.kv_type).flag, ctx, q.seqs)


def compare(q: CompareQuery) -> CompareReport:
    """Models side by side on one system, or accelerators side by side for one model."""
    if bool(q.models) == bool(q.gpus_compared):
        raise InvalidSpecError(
            "compare either models (models=a&models=b) or GPUs (gpus_compared=a&gpus_compared=b),"
            " two to four of them"
        )
    names = q.models or q.gpus_compared
    if not 2 <= len(names) <= 4:
        raise InvalidSpecError(f"compare two to four at a time, got {len(names)}")
    shape = {"quant": q.quant, "kv_type": q.kv_type, "seqs": q.seqs}
    if q.models:
        on = q.gpu or REFERENCE_GPU
        ms = [get_model(n) for n in q.models]
        ests = [
            estimate(
                EstimateQuery(
                    model=m.id,
                    gpu=on,
                    gpus=q.gpus,
                    **shape,
                    ctx=_ctx_within(m, q.ctx),
                )
            )
            for m in ms
        ]
        return CompareReport(
            kind="models", models=[model(m.id) for m in ms], gpus=[gpu(on)], estimates=ests
        )
    if q.model is None:
        raise InvalidSpecError("comparing GPUs needs a model to estimate (model=...)")
    m = get_model(q.model)
    gs = [get_gpu(n) for n in q.gpus_compared]
    ests = [
        estimate(EstimateQuery(model=m.id, gpu=g.id, gpus=q.gpus, ctx=q.ctx, **shape)) for g in gs
    ]
    return CompareReport(
        kind="gpus", models=[model(m.id)], gpus=[gpu_report(g) for g in gs], estimates=ests
    )


def _ctx_within(m: Model, ctx: str | None) -> str | None:
    """Comparing models at one context: a model whose maximum is shorter is estimated at its
    maximum (the report's ``ctx_tokens`` shows it)."""
    return None if ctx is None else str(min(parse_tokens(ctx), m.arch.context_length))


def estimate_object(q: EstimateQuery) -> Estimate:
    """The library's :class:`Estimate` itself (for notes that read its terms)."""
    return _estimate(resolve(q))


@lru_cache(maxsize=CACHE_ENTRIES)
def _estimate(key: Query) -> Estimate:
    p = plan(key)
    return estimate_request(p.request, p.profile)


@lru_cache(maxsize=256)
def _plan(key: PlanQuery) -> PlanReport:
    return plan_report(plan_hardware(key))


def hardware_plan(q: PlanIn) -> PlanReport:
    """The least hardware for a model at a context, a concurrency and a speed (rigfit plan)."""
    gpus = tuple(gpu_key(g) for g in q.gpu) or None
    key = PlanQuery(
        get_model(q.model).id,
        ctx=None if q.ctx is None else parse_tokens(q.ctx),
        users=q.users,
        min_tok_s=q.min_tok_s,
        engine=get_engine(q.engine).name,
        max_gpus=q.max_gpus,
        budget=None if q.budget is None else parse_budget(q.budget),
        minimize=q.minimize,
        gpus=gpus,
        quants=tuple(parse_quant(x).label for x in q.quant) or None,
        kv_type=parse_kv_type(q.kv_type).flag,
        vendor=q.vendor,
        segment=q.segment,
        limit=q.limit,
    )
    return _plan(key)


@lru_cache(maxsize=CACHE_ENTRIES)
def _train(key: TrainQuery) -> TrainReport:
    return train_report(train_answer(key))


def train(q: TrainIn) -> TrainReport:
    """Memory, fit and speed of a fine-tuning run (rigfit train)."""
    return _train(_train_key(q))


@lru_cache(maxsize=CACHE_ENTRIES)
def _train_points(key: TrainQuery) -> list[tuple[int, int, bool]]:
    return train_curve(train_answer(key))


def train_points(q: TrainIn) -> list[tuple[int, int, bool]]:
    """Per-GPU memory of the run against its sequence length (the page's chart)."""
    return _train_points(_train_key(q))


def _train_key(q: TrainIn) -> TrainQuery:
    return TrainQuery(
        get_model(q.model).id,
        gpu_key(q.gpu),
        gpus=q.gpus,
        method=q.method.value,
        seq=parse_tokens(q.seq),
        micro_batch=q.micro_batch,
        grad_accum=q.grad_accum,
        grad_ckpt=q.grad_ckpt,
        optimizer=q.optimizer.value,
        zero=q.zero,
        sharding=None if q.sharding is None else q.sharding.value,
        offload=q.offload,
        lora_rank=q.lora_rank,
        lora_targets=q.lora_targets.strip().lower(),
        loss=q.loss.value,
        flash_attn=q.flash_attn,
        dataset_tokens=q.dataset_tokens,
        epochs=q.epochs,
    )


# The accelerators and methods a model page prices fine-tuning on, at 4,096 tokens, one GPU
# (rigfit's choice of what people fine-tune on; the /train page prices any)
TRAIN_GPUS = ("rtx-3090", "rtx-4090", "rtx-5090", "l40s", "a100-80gb-sxm", "h100-sxm")
TRAIN_METHODS = ("lora", "qlora")
TRAIN_SEQ = 4096


@frozen
class FineTuneOn:
    gpu: str
    method: str
    per_gpu_bytes: int | None  # None: the architecture is not priced for training
    fits: bool
    max_micro_batch: int
    error: str = ""


@lru_cache(maxsize=256)
def fine_tunes(model_id: str) -> list[FineTuneOn]:
    """LoRA and QLoRA of a model at 4,096 tokens, micro-batch 1, on one of each common GPU."""
    from rigfit.errors import RigfitError

    out = []
    for gpu in TRAIN_GPUS:
        for method in TRAIN_METHODS:
            try:
                a = train_answer(TrainQuery(model_id, gpu, method=method, seq=TRAIN_SEQ))
            except RigfitError as exc:
                out.append(FineTuneOn(gpu, method, None, False, 0, str(exc)))
                continue
            out.append(FineTuneOn(gpu, method, a.per_gpu_bytes, a.fits, a.max_micro_batch))
    return out
