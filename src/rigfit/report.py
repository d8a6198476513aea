"""Results as typed data: the documented, stable JSON contract (docs/json.md).

Each report is a frozen record (:mod:`rigfit.strict`). The CLI prints them as JSON with
``--json`` (:func:`rigfit.strict.dump`) and renders its tables from them; the web API returns
the same records, so its OpenAPI document describes exactly what the CLI prints. Every byte
figure is an integer number of bytes; keys carry their unit.
"""

from __future__ import annotations

from dataclasses import field, fields
from typing import TYPE_CHECKING, Any, Protocol

from rigfit.api import ModelOnGPU
from rigfit.arch import Architecture, LayerKind, heads_note, kv_heads_note
from rigfit.catalog.evidence import Evidence
from rigfit.catalog.lookup import Model
from rigfit.catalog.schema import Disagreement, GPURecord
from rigfit.estimate.memory import Estimate, Request
from rigfit.estimate.plan import FitResult, GPURow
from rigfit.estimate.terms import Summary
from rigfit.families import family
from rigfit.hardware import System, capacity_basis, capacity_bytes
from rigfit.quant import LLAMA_QUANT_BUILD, LLAMA_QUANT_SOURCE, KVCacheType
from rigfit.speed.estimate import Figure, SpeedEstimate
from rigfit.strict import Record, dump, record

if TYPE_CHECKING:
    from rigfit.estimate.sweep import CurvePoint, FormatRow
    from rigfit.formats import FileModel
    from rigfit.formats.gguf.size import GGUFFileRow
    from rigfit.planner import FitsOn, HardwarePlan, PlanOption
    from rigfit.train import TrainAnswer

__all__ = [
    "SCHEMA_VERSION",
    "AttentionGeometryReport",
    "CompareReport",
    "CurveReport",
    "FitReport",
    "FormatTableReport",
    "GPUReport",
    "GPUTableReport",
    "GPUTableRow",
    "ModelFitReport",
    "ModelReport",
    "ModelsFitReport",
    "ModelsOnGPUReport",
    "PlanOptionReport",
    "PlanReport",
    "SpeedReport",
    "SuggestionReport",
    "TermReport",
    "TrainReport",
    "curve_report",
    "fit_dict",
    "fit_report",
    "format_table_report",
    "gpu_dict",
    "gpu_report",
    "gpu_table_dict",
    "gpu_table_report",
    "model_dict",
    "model_report",
    "models_fit_report",
    "models_on_gpu_report",
    "plan_report",
    "speed_report",
    "train_report",
]

SCHEMA_VERSION = 1


class _Named(Protocol):
    """A catalog model or a model read from files: reports need only its id."""

    @property
    def id(self) -> str: ...


@record
class TermReport(Record):
    """One term of an estimate."""

    key: str
    label: str
    total_bytes: int
    per_gpu_bytes: int
    formula: str
    inputs: dict[str, int | float | str]
    host: bool = False  # system RAM, not GPU memory
    per_device: list[int] = field(default_factory=list)  # bytes on each device, when devices differ
    summary: str = (
        ""  # the summary field it adds to: weights, kv_cache, state, activations, reserve
    )


@record
class AttentionGeometryReport(Record):
    """One attention geometry and the KV-caching layers that have it (Gemma 4: the sliding
    layers' and the full layers' own head size and KV heads)."""

    layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    k_eq_v: bool  # K is used as V (no v_proj), both still cached


@record
class DeviceReport(Record):
    """One device of the system: its usable capacity and what the plan puts on it."""

    index: int
    gpu: str
    capacity_bytes: int
    used_bytes: int
    headroom_bytes: int


@record
class KVPoolReport(Record):
    """A pre-allocated KV pool (vLLM, SGLang): what it holds."""

    budget_per_gpu_bytes: int
    bytes_per_token_per_gpu: int
    tokens: int
    block_tokens: int
    blocks: int | None
    max_concurrency: float | None
    formula: str
    # the request's sequences in the pool, on the tightest GPU: the request fits when this is
    # at most budget_per_gpu_bytes
    demand_per_gpu_bytes: int = 0


@record
class SuggestionReport(Record):
    """One change that makes a request fit, and the result with it."""

    change: str
    per_gpu_bytes: int
    headroom_per_gpu_bytes: int
    option: str
    value: str
    cost: str = ""  # what it costs the user: a setting, accuracy, speed, ... (cheapest first)


@record
class FigureReport(Record):
    """A speed figure: the central value and the band the calibration residuals give."""

    value: float
    low: float
    high: float
    unit: str


@record
class ThroughputPointReport(Record):
    users: int
    output_tok_s: float
    per_user_tok_s: float


@record
class SpeedReport(Record):
    """How fast the plan runs (docs/speed.md): every figure with its band."""

    engine: str
    backend: str | None = None  # llama.cpp's GPU backend priced; None for other engines
    prompt_tokens: int
    output_tokens: int
    users: int
    decode_tok_s: FigureReport  # one user, at the prompt's end
    decode_full_ctx_tok_s: FigureReport  # one user, at the end of the full context
    per_user_tok_s: FigureReport  # each of ``users`` decoding together
    aggregate_tok_s: FigureReport  # all users together
    prefill_tok_s: FigureReport | None  # None: the compute figure it needs is missing
    ttft_s: FigureReport | None
    request_s: FigureReport | None
    throughput_curve: list[ThroughputPointReport]
    best_users: int | None  # fewest users reaching 95% of the most output memory allows
    bound: str
    parts: list[str]
    calibration_key: str  # engine/hardware class whose constants priced it
    calibration_rows: int
    notes: list[str]
    how: list[str] = field(
        default_factory=list
    )  # one user's decode step and the prompt's first chunk, line by line


@record
class FitReport(Record):
    """The answer of ``rigfit fit MODEL --gpu GPU``."""

    schema_version: int = SCHEMA_VERSION
    model: str
    gpu: str
    gpus: int
    quant: str
    kv_type: str
    ctx_tokens: int
    seqs: int
    profile: str
    fits: bool
    weights_bytes: int
    kv_cache_bytes: int
    state_bytes: int
    activation_bytes: int
    reserve_bytes: int
    total_bytes: int
    per_gpu_bytes: int
    capacity_per_gpu_bytes: int
    capacity_total_bytes: int
    capacity_basis: str
    headroom_per_gpu_bytes: int
    shortfall_per_gpu_bytes: int
    max_ctx_tokens: int
    max_seqs: int
    terms: list[TermReport]
    suggestions: list[SuggestionReport]
    engine_version: str | None = None
    command: str | None = None  # the engine command line matching this plan
    host_bytes: int = 0  # system RAM: offloaded weights, mmapped embeddings, host buffers
    devices: list[DeviceReport] = field(default_factory=list)
    kv_pool: KVPoolReport | None = None
    notes: list[str] = field(default_factory=list)
    # why this engine prices the answer (the default choice), and where the context came from
    # when none was given; None when the user named them
    engine_reason: str | None = None
    ctx_reason: str | None = None
    # --ram: the host's system RAM, what the plan leaves of it (negative: the shortfall)
    host_ram_bytes: int | None = None
    host_headroom_bytes: int | None = None
    # how fast it runs (None when it does not fit, or speed was not asked); speed_note says why
    speed: SpeedReport | None = None
    speed_note: str | None = None


@record
class ModelReport(Record):
    """The answer of ``rigfit show``: the spec sheet, each value with its source."""

    schema_version: int = SCHEMA_VERSION
    id: str
    name: str
    aliases: list[str]
    organization: str
    family: str
    base_model: str | None
    lineage: str | None
    release_date: str | None
    license: str
    modality: str
    task: str  # generation or embedding
    description: str
    architecture: str
    moe: bool
    params_total: int
    params_active: int
    params_official_total: int
    params_official_active: int | None
    # what the publisher's count covers: "model", or "language model" (vision encoder apart)
    params_official_scope: str
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    # every attention geometry with its layer count; one entry unless layers differ
    attention_geometries: list[AttentionGeometryReport]
    heads_note: str  # the geometries in one line, as the CLI and model page print them
    attention: str
    kv_layers: int
    sliding_layers: int  # of the layers with a KV cache of their own
    kv_shared_layers: int  # layers attending over another layer's cache (Gemma 4 E2B/E4B)
    linear_attention_layers: int
    mamba_layers: int = 0
    sliding_window: int | None
    kv_note: str
    kv_bytes_per_token_f16: int
    experts: int | None
    experts_per_token: int | None
    shared_experts: int | None
    mtp_layers: int
    # Gemma 4: every MoE layer also runs a dense MLP of intermediate_size
    dense_mlp_beside_experts: bool = False
    # Nemotron 3 Super/Ultra: the routed experts work in a latent of this width (None: on
    # the hidden size)
    expert_latent_size: int | None = None
    vocab_size: int
    context_length: int
    tie_word_embeddings: bool
    activation: str
    normalization: str
    position_embedding: str
    checkpoint_dtype: str
    checkpoint_quantization: str
    checkpoint_bytes: int | None
    notes: list[str]
    sources: dict[str, str]
    disagreements: list[Disagreement]
    # the publisher's benchmark table, release, knowledge cutoff and transparency answers
    evidence: Evidence | None = None
    transparency_score: int | None = None


@record
class FileModelReport(Record):
    """The answer of ``rigfit show PATH-or-HUB-ID``: what the files say, read from headers."""

    schema_version: int = SCHEMA_VERSION
    id: str
    source: str
    kind: str
    architecture: str
    moe: bool
    params_total: int
    params_active: int
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    # every attention geometry with its layer count; one entry unless layers differ
    attention_geometries: list[AttentionGeometryReport]
    heads_note: str  # the geometries in one line, as the CLI and model page print them
    attention: str
    kv_note: str
    kv_bytes_per_token_f16: int
    experts: int | None
    experts_per_token: int | None
    vocab_size: int
    context_length: int
    tie_word_embeddings: bool
    position_embedding: str
    native_format: str | None
    file_weights_bytes: int | None
    file_params: int | None
    file_tensors: int | None
    by_dtype: dict[str, int]
    notes: list[str]


@record
class GGUFFileRowReport(Record):
    """One llama.cpp file type: the predicted file and its parts."""

    ftype: str
    file_bytes: int
    tensor_bytes: int
    metadata_bytes: int  # estimated from the vocabulary (tokenizer strings)
    bits_per_weight: float
    imatrix: bool
    by_type: dict[str, int]


@record
class GGUFFilesReport(Record):
    """The answer of ``rigfit gguf MODEL``: every GGUF a repository of the model would list."""

    schema_version: int = SCHEMA_VERSION
    model: str
    source: str  # the llama.cpp code the type choice replays
    params: int
    rows: list[GGUFFileRowReport]


@record
class GPUReport(GPURecord):
    """One accelerator, with the capacity rigfit uses and why."""

    schema_version: int = SCHEMA_VERSION
    capacity_bytes: int
    capacity_basis: str


@record
class GPUTableRow(Record):
    """One accelerator in the "which accelerators fit" table."""

    gpu: str
    name: str
    gpus_needed: int | None
    per_gpu_bytes: int | None
    capacity_per_gpu_bytes: int
    headroom_per_gpu_bytes: int | None
    engine: str | None = None  # the engine that prices it there
    # one user's decode tokens/s on that many (rigfit's default request; docs/speed.md)
    decode_tok_s: float | None = None


@record
class GPUTableReport(Record):
    """The answer of ``rigfit fit MODEL`` without ``--gpu``."""

    schema_version: int = SCHEMA_VERSION
    model: str
    quant: str
    kv_type: str
    ctx_tokens: int
    seqs: int
    rows: list[GPUTableRow]
    # the ids of the accelerators left out (catalog and the user's file): the engine does not
    # run the request there (an option such as --backend rocm, a format without kernels there)
    left_out: list[str] = field(default_factory=list)


def _figure(f: Figure | None) -> FigureReport | None:
    if f is None:
        return None
    return FigureReport(
        value=round(f.value, 4), low=round(f.low, 4), high=round(f.high, 4), unit=f.unit
    )


def speed_report(s: SpeedEstimate) -> SpeedReport:
    def fig(f: Figure) -> FigureReport:
        out = _figure(f)
        assert out is not None
        return out

    return SpeedReport(
        engine=s.engine,
        prompt_tokens=s.workload.prompt_tokens,
        output_tokens=s.workload.output_tokens,
        users=s.workload.users,
        decode_tok_s=fig(s.decode_tok_s),
        decode_full_ctx_tok_s=fig(s.decode_full_ctx_tok_s),
        per_user_tok_s=fig(s.per_user_tok_s),
        aggregate_tok_s=fig(s.aggregate_tok_s),
        prefill_tok_s=_figure(s.prefill_tok_s),
        ttft_s=_figure(s.ttft_s),
        request_s=_figure(s.request_s),
        throughput_curve=[
            ThroughputPointReport(
                users=p.users,
                output_tok_s=round(p.output_tok_s, 4),
                per_user_tok_s=round(p.per_user_tok_s, 4),
            )
            for p in s.curve
        ],
        best_users=s.best_users,
        bound=s.bound,
        parts=list(s.parts),
        backend=s.backend,
        calibration_key=s.constants_key,
        calibration_rows=s.calibration_rows,
        notes=list(s.notes),
        how=list(s.how),
    )


def fit_report(
    model: _Named,
    result: FitResult,
    *,
    command: str | None = None,
    engine_version: str | None = None,
    engine_reason: str | None = None,
    ctx_reason: str | None = None,
    notes: tuple[str, ...] = (),
    speed: SpeedEstimate | None = None,
    speed_note: str | None = None,
) -> FitReport:
    est, req = result.estimate, result.estimate.request
    return FitReport(
        speed=None if speed is None else speed_report(speed),
        speed_note=speed_note,
        engine_reason=engine_reason,
        ctx_reason=ctx_reason,
        host_ram_bytes=req.system.host_ram_bytes,
        host_headroom_bytes=est.host_headroom_bytes,
        model=model.id,
        gpu=req.system.gpu.id,
        gpus=req.system.count,
        quant=req.weight_format.label,
        kv_type=req.kv_type.flag,
        ctx_tokens=req.ctx_tokens,
        seqs=req.seqs,
        profile=est.profile,
        fits=est.fits,
        # every GPU term adds to one summary group (rigfit.estimate.terms.Summary), so the
        # five fields add up to total_bytes
        weights_bytes=est.summary_bytes(Summary.WEIGHTS),
        kv_cache_bytes=est.summary_bytes(Summary.KV_CACHE),
        state_bytes=est.summary_bytes(Summary.STATE),
        activation_bytes=est.summary_bytes(Summary.ACTIVATIONS),
        reserve_bytes=est.summary_bytes(Summary.RESERVE),
        total_bytes=est.total_bytes,
        per_gpu_bytes=est.per_gpu_bytes,
        capacity_per_gpu_bytes=est.capacity_per_gpu_bytes,
        capacity_total_bytes=est.capacity_total_bytes,
        capacity_basis=capacity_basis(req.system.devices[est.tightest_index])
        if req.system.wired_limit_mb is None
        else f"macOS GPU wired limit set to {req.system.wired_limit_mb:,} MiB"
        f" (sudo sysctl iogpu.wired_limit_mb={req.system.wired_limit_mb})",
        headroom_per_gpu_bytes=est.headroom_per_gpu_bytes,
        shortfall_per_gpu_bytes=est.shortfall_bytes,
        max_ctx_tokens=result.max_context_tokens,
        max_seqs=result.max_seqs,
        terms=[
            TermReport(
                key=t.key,
                label=t.label,
                total_bytes=t.total_bytes,
                per_gpu_bytes=t.per_gpu_bytes,
                formula=t.formula,
                inputs=t.inputs,
                host=t.host,
                per_device=list(t.per_device),
                summary=t.kind.summary.value,
            )
            for t in est.terms
        ],
        engine_version=engine_version,
        command=command,
        host_bytes=est.host_bytes,
        devices=[
            DeviceReport(
                index=i,
                gpu=g.id,
                capacity_bytes=cap,
                used_bytes=used,
                headroom_bytes=cap - used,
            )
            for i, (g, cap, used) in enumerate(
                zip(req.system.devices, est.device_capacities, est.device_bytes, strict=True)
            )
        ],
        kv_pool=None
        if est.pool is None
        else KVPoolReport(
            budget_per_gpu_bytes=est.pool.budget_per_gpu_bytes,
            bytes_per_token_per_gpu=est.pool.bytes_per_token_per_gpu,
            tokens=est.pool.tokens,
            block_tokens=est.pool.block_tokens,
            blocks=est.pool.blocks,
            demand_per_gpu_bytes=est.pool.demand_per_gpu_bytes,
            max_concurrency=est.pool.max_concurrency,
            formula=est.pool.formula,
        ),
        notes=[*est.notes, *notes],
        suggestions=[
            SuggestionReport(
                change=s.change,
                per_gpu_bytes=s.per_gpu_bytes,
                headroom_per_gpu_bytes=s.headroom_per_gpu_bytes,
                option=s.option,
                value=s.value,
                cost=s.cost.value,
            )
            for s in result.suggestions
        ],
    )


def _arch_fields(a: Architecture) -> dict[str, Any]:
    """The spec-sheet fields every model report derives from the architecture alone."""
    att = a.attention
    return {
        "architecture": a.model_type,
        "moe": a.is_moe,
        "params_total": a.params_total,
        "params_active": a.params_active,
        "num_layers": a.num_layers,
        "hidden_size": a.hidden_size,
        "num_attention_heads": att.num_heads,
        "num_kv_heads": att.num_kv_heads,
        "head_dim": att.head_dim,
        "attention_geometries": [
            AttentionGeometryReport(
                layers=len(a.layers_with(spec)),
                num_attention_heads=spec.num_heads,
                num_kv_heads=spec.num_kv_heads,
                head_dim=spec.head_dim,
                k_eq_v=spec.k_eq_v,
            )
            for spec in a.attention_specs
        ],
        "attention": att.kind.value,
        "kv_note": kv_heads_note(a),
        "heads_note": heads_note(a),
        "kv_bytes_per_token_f16": a.kv_bytes_per_token(KVCacheType.F16),
        "experts": a.moe.num_experts if a.moe else None,
        "experts_per_token": a.moe.experts_per_token if a.moe else None,
        "vocab_size": a.vocab_size,
        "context_length": a.context_length,
        "tie_word_embeddings": a.tie_word_embeddings,
        "position_embedding": a.position_embedding,
    }


def model_report(model: Model) -> ModelReport:
    r, a = model.record, model.arch
    return ModelReport(
        **_arch_fields(a),
        id=r.id,
        name=r.name,
        aliases=list(r.aliases),
        organization=r.organization,
        family=r.family,
        base_model=r.base_model,
        lineage=r.lineage,
        release_date=r.release_date.isoformat() if r.release_date else None,
        license=r.license,
        modality=r.modality.value,
        task=r.task.value,
        description=r.description,
        params_official_total=r.params.total,
        params_official_active=r.params.active,
        params_official_scope="language model" if r.params.excludes_vision else "model",
        kv_layers=a.kv_layers,
        sliding_layers=a.sliding_kv_layers,
        kv_shared_layers=len(a.kv_shared_layers),
        linear_attention_layers=a.count_layers(LayerKind.LINEAR),
        mamba_layers=a.count_layers(LayerKind.MAMBA) + a.count_layers(LayerKind.HYBRID),
        sliding_window=next((x.window for x in a.layers if x.kind is LayerKind.SLIDING), None),
        shared_experts=a.moe.num_shared_experts if a.moe else None,
        dense_mlp_beside_experts=a.dense_beside_moe,
        expert_latent_size=(a.moe.latent_size or None) if a.moe else None,
        mtp_layers=a.mtp_layers,
        activation=a.activation,
        normalization=a.normalization,
        checkpoint_dtype=r.checkpoint.dtype,
        checkpoint_quantization=r.checkpoint.quantization,
        checkpoint_bytes=r.checkpoint.safetensors_total_bytes,
        notes=list(a.notes),
        sources={
            "config": str(r.sources.config),
            "card": str(r.sources.card),
            "params": str(r.params.source),
            **({"release": str(r.sources.release)} if r.sources.release else {}),
            **({"checkpoint": str(r.checkpoint.source)} if r.checkpoint.source else {}),
        },
        disagreements=list(r.disagreements),
        evidence=r.evidence,
        transparency_score=r.evidence.score if r.evidence else None,
    )


def file_model_report(fm: FileModel) -> FileModelReport:
    a, w = fm.arch, fm.weights
    return FileModelReport(
        **_arch_fields(a),
        id=fm.id,
        source=fm.source,
        kind=str(fm.kind),
        native_format=fm.native_format.label if fm.native_format else None,
        file_weights_bytes=w.total_bytes if w else None,
        file_params=w.params if w else None,
        file_tensors=len(w.tensors) if w else None,
        by_dtype=dict(w.by_dtype) if w else {},
        notes=[*a.notes, *fm.notes],
    )


def _quant_source(model_type: str) -> str:
    """The llama.cpp code a model's type choice replays: the quantizer's revision, and for a
    family that revision predates, the build whose rules for its own tensors rigfit follows."""
    since = family(model_type).llamacpp_since_build
    if since <= LLAMA_QUANT_BUILD:
        return LLAMA_QUANT_SOURCE
    return (
        f"{LLAMA_QUANT_SOURCE}, with {model_type}'s own tensors as from b{since}, the first"
        " build that loads it"
    )


def gguf_files_report(model: _Named, rows: list[GGUFFileRow], model_type: str) -> GGUFFilesReport:
    return GGUFFilesReport(
        model=model.id,
        source=_quant_source(model_type),
        params=rows[0].params if rows else 0,
        rows=[
            GGUFFileRowReport(
                ftype=r.ftype.name,
                file_bytes=r.size.total_bytes,
                tensor_bytes=r.size.tensor_bytes,
                metadata_bytes=r.size.metadata_bytes,
                bits_per_weight=round(r.bits_per_weight, 4),
                imatrix=r.imatrix,
                by_type=dict(r.size.by_type),
            )
            for r in rows
        ],
    )


def gpu_report(g: GPURecord) -> GPUReport:
    return GPUReport(
        **{f.name: getattr(g, f.name) for f in fields(g)},
        capacity_bytes=capacity_bytes(g),
        capacity_basis=capacity_basis(g),
    )


def gpu_table_report(
    model: _Named,
    rows: list[GPURow],
    *,
    quant: str,
    kv_type: str,
    ctx_tokens: int,
    seqs: int,
    speeds: list[float | None] | None = None,
    left_out: tuple[str, ...] = (),
) -> GPUTableReport:
    return GPUTableReport(
        model=model.id,
        left_out=list(left_out),
        quant=quant,
        kv_type=kv_type,
        ctx_tokens=ctx_tokens,
        seqs=seqs,
        rows=[
            GPUTableRow(
                gpu=r.gpu.id,
                name=r.gpu.name,
                gpus_needed=r.gpus_needed,
                per_gpu_bytes=r.per_gpu_bytes,
                capacity_per_gpu_bytes=r.capacity_per_gpu_bytes,
                headroom_per_gpu_bytes=r.headroom_per_gpu_bytes,
                engine=r.engine,
                decode_tok_s=None if not speeds or speeds[i] is None else round(speeds[i] or 0, 2),
            )
            for i, r in enumerate(rows)
        ],
    )


def _plain(report: object) -> dict[str, Any]:
    out: dict[str, Any] = dump(report)
    return out


def fit_dict(
    model: _Named,
    result: FitResult,
    *,
    command: str | None = None,
    engine_version: str | None = None,
) -> dict[str, Any]:
    """The answer of ``rigfit fit`` as JSON-ready data."""
    return _plain(fit_report(model, result, command=command, engine_version=engine_version))


def gguf_files_dict(model: _Named, rows: list[GGUFFileRow], model_type: str) -> dict[str, Any]:
    """The answer of ``rigfit gguf`` as JSON-ready data."""
    return _plain(gguf_files_report(model, rows, model_type))


def model_dict(model: Model | FileModel) -> dict[str, Any]:
    """The answer of ``rigfit show`` as JSON-ready data."""
    if isinstance(model, Model):
        return _plain(model_report(model))
    return _plain(file_model_report(model))


def gpu_dict(g: GPURecord) -> dict[str, Any]:
    """One accelerator as JSON-ready data."""
    return _plain(gpu_report(g))


def gpu_table_dict(model: _Named, rows: list[GPURow], base: dict[str, Any]) -> dict[str, Any]:
    """The "which accelerators fit" table as JSON-ready data."""
    return _plain(gpu_table_report(model, rows, **base))


@record
class CurvePointReport(Record):
    ctx_tokens: int
    per_gpu_bytes: int
    total_bytes: int
    fits: bool


@record
class CurveReport(Record):
    """Memory per GPU against context length, with the capacity to draw as a line."""

    schema_version: int = SCHEMA_VERSION
    model: str
    gpu: str
    gpus: int
    quant: str
    kv_type: str
    seqs: int
    capacity_per_gpu_bytes: int
    points: list[CurvePointReport]


@record
class FormatRowReport(Record):
    quant: str
    bits_per_weight_nominal: float
    weights_bytes: int | None
    total_bytes_by_ctx: list[int]
    reference_gpus_needed: int | None
    single_gpus_that_fit: list[str]
    error: str
    gguf_file_bytes: int | None = None  # predicted .gguf file size (GGUF formats)
    # one user's decode tokens/s on the reference GPUs it needs (rigfit's default request)
    decode_tok_s: float | None = None


@record
class FormatTableReport(Record):
    """Memory of one model in every weight format at a few contexts (one sequence)."""

    schema_version: int = SCHEMA_VERSION
    model: str
    kv_type: str
    ctx_tokens: list[int]
    reference_gpu: str
    rows: list[FormatRowReport]


@record
class ModelOnGPUReport(Record):
    model: str
    quant: str
    ctx_tokens: int | None
    fits: bool
    per_gpu_bytes: int | None
    headroom_per_gpu_bytes: int | None
    error: str
    decode_tok_s: float | None = None  # one user's decode speed when it fits (docs/speed.md)


@record
class ModelsOnGPUReport(Record):
    """Which catalog models fit one system, at one format, context and concurrency."""

    schema_version: int = SCHEMA_VERSION
    gpu: str
    gpus: int
    capacity_per_gpu_bytes: int
    rows: list[ModelOnGPUReport]


def curve_report(model: Model, req: Request, points: list[CurvePoint]) -> CurveReport:
    return CurveReport(
        model=model.id,
        gpu=req.system.gpu.id,
        gpus=req.system.count,
        quant=req.weight_format.label,
        kv_type=req.kv_type.flag,
        seqs=req.seqs,
        capacity_per_gpu_bytes=req.system.capacity_per_gpu_bytes,
        points=[
            CurvePointReport(
                ctx_tokens=p.ctx_tokens,
                per_gpu_bytes=p.per_gpu_bytes,
                total_bytes=p.total_bytes,
                fits=p.fits,
            )
            for p in points
        ],
    )


def format_table_report(
    model: Model, rows: list[FormatRow], *, ctxs: list[int], reference: str, kv_type: str
) -> FormatTableReport:
    return FormatTableReport(
        model=model.id,
        kv_type=kv_type,
        ctx_tokens=ctxs,
        reference_gpu=reference,
        rows=[
            FormatRowReport(
                quant=r.weight_format.label,
                bits_per_weight_nominal=float(r.weight_format.nominal_bits),
                weights_bytes=r.weights_bytes,
                total_bytes_by_ctx=list(r.total_bytes_by_ctx),
                reference_gpus_needed=r.gpus_needed,
                single_gpus_that_fit=list(r.single_gpus_that_fit),
                error=r.error,
                gguf_file_bytes=r.gguf_file_bytes,
                decode_tok_s=None if r.decode_tok_s is None else round(r.decode_tok_s, 2),
            )
            for r in rows
        ],
    )


def models_on_gpu_report(gpu: GPURecord, count: int, rows: list[ModelOnGPU]) -> ModelsOnGPUReport:
    return ModelsOnGPUReport(
        gpu=gpu.id,
        gpus=count,
        capacity_per_gpu_bytes=System(gpu, count).capacity_per_gpu_bytes,
        rows=[
            ModelOnGPUReport(
                model=r.model.id,
                quant=r.weight_format.label,
                ctx_tokens=r.estimate.request.ctx_tokens if r.estimate else None,
                fits=r.fits,
                per_gpu_bytes=r.estimate.per_gpu_bytes if r.estimate else None,
                headroom_per_gpu_bytes=r.estimate.headroom_per_gpu_bytes if r.estimate else None,
                error=r.error,
                decode_tok_s=_rate_of(r.estimate) if r.fits and r.estimate else None,
            )
            for r in rows
        ],
    )


def _rate_of(est: Estimate) -> float | None:
    """One user's decode tokens/s of an estimate's plan, under the engine that priced it."""
    from rigfit.engines import get_engine
    from rigfit.speed.estimate import decode_rate

    rate = decode_rate(est.request, get_engine(est.profile))
    return None if rate is None else round(rate, 2)


@record
class CompareReport(Record):
    """Two to four models on one system, or one model on two to four accelerators."""

    schema_version: int = SCHEMA_VERSION
    kind: str  # "models" or "gpus"
    models: list[ModelReport]
    gpus: list[GPUReport]
    estimates: list[FitReport]  # one per compared model or accelerator, in order


@record
class PlanOptionReport(Record):
    """One way to serve the planned request."""

    gpu: str
    gpu_name: str
    catalog: bool  # a catalog entry (False: a custom spec, a detected card the catalog lacks)
    count: int
    quant: str
    engine: str
    weights_bytes: int
    used_per_gpu_bytes: int | None
    capacity_per_gpu_bytes: int | None
    per_user_tok_s: float | None  # each user, with ``users`` decoding together
    aggregate_tok_s: float | None
    price_usd: float | None  # count × the latest purchase price
    price_source: str | None
    rent_usd_per_hour: float | None  # count × the lowest on-demand hourly price
    rent_source: str | None
    power_w: float | None  # count × board power (TDP)
    joules_per_token: float | None  # power_w over all users' output tokens/s (an upper bound)
    command: str | None
    fit: FitReport | None  # the full answer for this option


@record
class WorkloadReport(Record):
    prompt_tokens: int
    output_tokens: int
    users: int


@record
class RejectedReport(Record):
    reason: str
    count: int


@record
class PlanReport(Record):
    """``rigfit plan``: the options that meet the request, best first (docs/json.md)."""

    schema_version: int = SCHEMA_VERSION
    model: str
    ctx_tokens: int
    users: int
    min_tok_s: float | None
    workload: WorkloadReport
    minimize: str
    scope: str
    options: list[PlanOptionReport]
    considered: int
    rejected: list[RejectedReport]
    binding: str | None  # when no option: the constraint that bound
    nearest: PlanOptionReport | None  # ... and the option closest to meeting it
    notes: list[str]


def plan_report(result: HardwarePlan) -> PlanReport:
    """The plan as the CLI's ``--json``, the API and the MCP tool give it."""

    def option(o: PlanOption) -> PlanOptionReport:
        r = o.report
        speed = r.speed if r is not None else None
        aggregate = speed.aggregate_tok_s.value if speed is not None else o.aggregate_tok_s
        return PlanOptionReport(
            gpu=o.gpu.id,
            gpu_name=o.gpu.name,
            catalog=o.gpu.origin.value == "catalog"
            or (o.gpu.origin.value == "detected" and not o.gpu.id.startswith("detected-")),
            count=o.count,
            quant=o.quant,
            engine=o.engine,
            weights_bytes=o.weights_bytes,
            used_per_gpu_bytes=r.per_gpu_bytes if r is not None else None,
            capacity_per_gpu_bytes=r.capacity_per_gpu_bytes if r is not None else None,
            per_user_tok_s=speed.per_user_tok_s.value if speed is not None else o.per_user_tok_s,
            aggregate_tok_s=aggregate,
            price_usd=o.price_usd,
            price_source=(
                f"{o.gpu.id}: ${o.buy.usd:,.0f} {o.buy.kind}, {o.buy.date} ({o.buy.source})"
                if o.buy
                else None
            ),
            rent_usd_per_hour=o.rent_usd_per_hour,
            rent_source=(
                f"{o.gpu.id}: ${o.rent.usd_per_hour:,.2f}/h at {o.rent.provider},"
                f" {o.rent.date} ({o.rent.source})"
                if o.rent
                else None
            ),
            power_w=o.power_w,
            joules_per_token=(
                o.power_w / aggregate if o.power_w is not None and aggregate else None
            ),
            command=r.command if r is not None else None,
            fit=r,
        )

    w = result.workload
    return PlanReport(
        model=result.model,
        ctx_tokens=result.ctx_tokens,
        users=result.users,
        min_tok_s=result.min_tok_s,
        workload=WorkloadReport(
            prompt_tokens=w.prompt_tokens, output_tokens=w.output_tokens, users=w.users
        ),
        minimize=result.minimize.value,
        scope=result.scope,
        options=[option(o) for o in result.options],
        considered=result.considered,
        rejected=[RejectedReport(reason=why, count=n) for why, n in result.rejected],
        binding=result.binding,
        nearest=option(result.nearest) if result.nearest is not None else None,
        notes=list(result.notes),
    )


@record
class ModelFitReport(Record):
    model: str
    quant: str  # the most precise format tried that fits
    engine: str
    weights_bytes: int
    used_per_gpu_bytes: int
    decode_tok_s: float | None  # one user, rigfit's default request


@record
class ModelsFitReport(Record):
    """``rigfit models --fits GPU --json``: the catalog models that run on a system."""

    schema_version: int = SCHEMA_VERSION
    system: str
    ctx_tokens: int
    models: list[ModelFitReport]


def models_fit_report(found: FitsOn) -> ModelsFitReport:
    return ModelsFitReport(
        system=found.system,
        ctx_tokens=found.ctx_tokens,
        models=[
            ModelFitReport(
                model=r.model,
                quant=r.quant,
                engine=r.engine or "",
                weights_bytes=r.weights_bytes or 0,
                used_per_gpu_bytes=r.used_per_gpu_bytes or 0,
                decode_tok_s=r.decode_tok_s,
            )
            for r in found.rows
            if r.quant is not None
        ],
    )


@record
class TrainTermReport(Record):
    key: str
    label: str
    bytes: int  # per GPU (on the host when on_host)
    formula: str
    on_host: bool
    phase: str  # "both", "backward" (activations, loss) or "step" (the optimizer's)


@record
class TrainSuggestionReport(Record):
    change: str
    flag: str
    per_gpu_bytes: int
    fits: bool


@record
class TrainSpeedReport(Record):
    tokens_per_s: float  # all GPUs together
    step_s: float
    mfu: float
    flops_per_token: float
    wall_s: float | None  # the dataset's epochs, when --dataset-tokens is given


@record
class TrainReport(Record):
    """``rigfit train --json`` and ``/api/v1/train`` (docs/json.md)."""

    schema_version: int = SCHEMA_VERSION
    model: str
    gpu: str
    gpus: int
    method: str
    seq_len: int
    micro_batch: int
    grad_accum: int
    grad_ckpt: bool
    optimizer: str
    sharding: str
    offload: bool
    lora_rank: int | None
    lora_targets: str | None
    loss: str
    trainable_params: int
    total_params: int
    terms: list[TrainTermReport]
    peak_phase: str  # "backward" or "step": the terms of that phase and "both" make the peak
    runtime_bytes: int
    per_gpu_bytes: int
    capacity_per_gpu_bytes: int
    fits: bool
    headroom_per_gpu_bytes: int
    shortfall_per_gpu_bytes: int
    host_bytes: int
    max_micro_batch: int
    max_seq_len: int
    suggestions: list[TrainSuggestionReport]
    speed: TrainSpeedReport | None
    speed_note: str | None
    command: str
    notes: list[str]


def train_report(a: TrainAnswer) -> TrainReport:
    s = a.setup
    adapters = s.method.adapters
    return TrainReport(
        model=a.model,
        gpu=a.gpu.id,
        gpus=s.n_gpus,
        method=s.method.value,
        seq_len=s.seq_len,
        micro_batch=s.micro_batch,
        grad_accum=s.grad_accum,
        grad_ckpt=s.grad_ckpt,
        optimizer=s.optimizer.value,
        sharding=s.sharding.value,
        offload=s.offload,
        lora_rank=s.lora_rank if adapters else None,
        lora_targets=s.lora_targets if adapters else None,
        loss=s.loss.value,
        trainable_params=a.memory.trainable_params,
        total_params=a.memory.total_params,
        terms=[
            TrainTermReport(
                key=t.key,
                label=t.label,
                bytes=t.bytes,
                formula=t.formula,
                on_host=t.on_host,
                phase=t.phase.value,
            )
            for t in a.memory.terms
        ],
        peak_phase=a.memory.peak_phase.value,
        runtime_bytes=a.runtime_bytes,
        per_gpu_bytes=a.per_gpu_bytes,
        capacity_per_gpu_bytes=a.capacity_bytes,
        fits=a.fits,
        headroom_per_gpu_bytes=max(0, a.capacity_bytes - a.per_gpu_bytes),
        shortfall_per_gpu_bytes=max(0, a.per_gpu_bytes - a.capacity_bytes),
        host_bytes=a.memory.host_bytes,
        max_micro_batch=a.max_micro_batch,
        max_seq_len=a.max_seq_len,
        suggestions=[
            TrainSuggestionReport(
                change=x.change, flag=x.flag, per_gpu_bytes=x.per_gpu_bytes, fits=x.fits
            )
            for x in a.suggestions
        ],
        speed=None
        if a.speed is None
        else TrainSpeedReport(
            tokens_per_s=a.speed.tokens_per_s,
            step_s=a.speed.step_s,
            mfu=a.speed.mfu,
            flops_per_token=a.speed.flops_per_token,
            wall_s=a.wall_s,
        ),
        speed_note=a.speed_note,
        command=a.command,
        notes=list(a.notes),
    )
