"""One answer path: a :class:`Query` as users type it, in; a typed report, out.

The CLI, the web pages, the REST API, validation and the scripts all ask here, so no surface
assembles a request by hand or picks an engine on its own. With no engine named, the engine the
weight format and the device imply prices the answer (:mod:`rigfit.engines.choice`), and the
report says which and why; with no context given, the engine's own default applies.
"""

from __future__ import annotations

from dataclasses import replace

from rigfit.api import AnyModel, checkpoint_ref, make_request, resolve_model
from rigfit.catalog.lookup import Model, list_gpus
from rigfit.catalog.schema import GPURecord
from rigfit.engines import AUTO_ENGINE, check_settings, command_line, get_engine
from rigfit.errors import InvalidSpecError, MissingFigureError
from rigfit.estimate.memory import DEFAULT_CTX_TOKENS, EngineProfile, Request
from rigfit.estimate.plan import FitResult, fit, gpu_table, max_seqs
from rigfit.estimate.settings import DEFAULT_SETTINGS, EngineSettings
from rigfit.frozen import frozen
from rigfit.hardware import System
from rigfit.quant import WeightFormat
from rigfit.report import FitReport, GPUTableReport, fit_report, gpu_table_report
from rigfit.speed import (
    SpeedEstimate,
    Workload,
    decode_rate,
    default_workload,
    estimate_speed,
    parse_ram_bandwidth,
)
from rigfit.units import GIB

__all__ = [
    "AUTO_GPU",
    "Plan",
    "Query",
    "SpeedOn",
    "answer",
    "answer_table",
    "is_auto",
    "plan",
    "resolve_auto",
    "speeds_on",
    "workload",
]


@frozen
class Query:
    """One "will it fit?" question, in the words and strings users give.

    ``gpu`` None asks for the table of every catalog accelerator (:func:`answer_table`);
    ``auto`` detects this machine (:mod:`rigfit.detect`); ``custom:memory=...`` describes a
    card in one string. ``gpus`` None: one, or every detected device under ``auto``.
    ``ctx`` None takes the engine's default context; ``engine`` ``auto`` takes the engine
    the format and device imply.
    """

    model: str | AnyModel
    gpu: str | GPURecord | None = None
    gpus: int | None = None
    quant: str | WeightFormat | None = None
    ctx: str | int | None = None
    kv_type: str = "f16"
    seqs: int = 1
    force_ctx: bool = False
    add_gpu: tuple[str | GPURecord, ...] = ()
    engine: str = AUTO_ENGINE
    settings: EngineSettings = DEFAULT_SETTINGS
    ram: str | int | None = None
    wired_limit_mb: int | None = None  # Apple silicon: iogpu.wired_limit_mb
    files: bool = False  # the model may be a path or a Hugging Face id (the CLI's show/fit)
    # speed: the request priced (None: rigfit's default lengths, users = seqs) and the host
    # RAM's bandwidth for weights kept there (--ram-bandwidth)
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    users: int | None = None
    ram_bandwidth: str | None = None
    speed: bool = True


@frozen
class Plan:
    """A query resolved: the model, the request priced, the engine and why."""

    model: AnyModel
    request: Request
    profile: EngineProfile
    engine_reason: str | None  # None: the user named the engine
    ctx_reason: str | None  # None: the user gave the context
    detected: str | None = None  # --gpu auto: what was found, in words


AUTO_GPU = "auto"


def is_auto(gpu: str | GPURecord | None) -> bool:
    return isinstance(gpu, str) and gpu.strip().lower() == AUTO_GPU


def resolve_auto(q: Query) -> tuple[Query, str]:
    """``--gpu auto``: the query on this machine's devices, host RAM and RAM bandwidth (each
    only where the user gave none), and a line saying what was found."""
    from rigfit.detect import detect

    if q.add_gpu:
        raise InvalidSpecError(
            "--add-gpu does not go with --gpu auto: every detected device is used already"
            " (name the devices with --gpu and --add-gpu instead)"
        )
    machine = detect()
    system = machine.system()
    count = system.count
    if q.gpus is not None:
        if q.gpus > system.count:
            raise InvalidSpecError(
                f"--gpus {q.gpus} with --gpu auto: this machine has {system.count} ×"
                f" {system.gpu.name} ({machine.summary})"
            )
        count = q.gpus
    mix = system.mix if q.gpus is None else ()
    ram_total = machine.host.total_bytes
    said = f"--gpu auto: {machine.summary}"
    if ram_total:
        said += f"; host RAM {ram_total / GIB:.1f} GiB"
    if machine.host.bandwidth and q.ram_bandwidth is None:
        said += f" ({machine.host.bandwidth})"
    resolved = replace(
        q,
        gpu=system.gpu,
        gpus=count,
        add_gpu=mix,
        ram=q.ram if q.ram is not None else ram_total,
        wired_limit_mb=q.wired_limit_mb or system.wired_limit_mb,
        ram_bandwidth=q.ram_bandwidth or machine.host.bandwidth,
    )
    return resolved, said


def plan(q: Query) -> Plan:
    """Resolve names and strings, choose the engine and the context; no estimate is made."""
    detected = None
    if is_auto(q.gpu):
        q, detected = resolve_auto(q)
    profile = get_engine(q.engine)
    check_settings(profile, q.settings)
    if q.gpu is None and q.add_gpu:
        raise InvalidSpecError("--add-gpu needs --gpu for the first kind of accelerator")
    model = resolve_model(q.model, files=q.files) if isinstance(q.model, str) else q.model
    m, req = make_request(
        model,
        q.gpu or list_gpus()[0].id,
        gpus=(q.gpus or 1) if q.gpu else 1,
        quant=q.quant,
        ctx=model.arch.context_length if q.ctx is None else q.ctx,
        kv_type=q.kv_type,
        seqs=q.seqs,
        force_ctx=q.force_ctx,
        engine=q.settings,
        mix=q.add_gpu,
        ram=q.ram,
        wired_limit_mb=q.wired_limit_mb,
    )
    engine_reason = None
    if profile.name == AUTO_ENGINE and q.gpu is not None:
        from rigfit.engines.choice import choose_engine

        choice = choose_engine(req)
        profile = get_engine(choice.engine)
        engine_reason = choice.reason
    ctx_reason = None
    if q.ctx is None and q.gpu is None:
        # a table over every accelerator, each perhaps under another engine: one shared context
        ctx = min(DEFAULT_CTX_TOKENS, req.arch.context_length)
        ctx_reason = f"rigfit's default context for a table of accelerators: {ctx:,} tokens"
        req = replace(req, ctx_tokens=ctx)
    elif q.ctx is None:
        ctx, ctx_reason = profile.resolve(req).default_ctx(req)
        req = replace(req, ctx_tokens=ctx)
    return Plan(m, req, profile, engine_reason, ctx_reason, detected)


def answer(q: Query) -> FitReport:
    """The full answer to "will it fit?" for one system: terms, verdict, limits, suggestions,
    the engine's command line and notes."""
    if q.gpu is None:
        raise InvalidSpecError("name an accelerator (--gpu), or ask for the table of all")
    p = plan(q)
    req, profile = p.request, p.profile
    # a format suggestion may move to the engine that format gets by default when rigfit, not
    # the user, chose this one
    result = fit(req, profile, auto_engine=p.engine_reason is not None)
    ref, ref_note = checkpoint_ref(p.model, req, profile.name)
    command = command_line(profile, req, ref)
    version = q.settings.version or getattr(profile, "reference_version", None)
    notes = (ref_note,) if command is not None and ref_note else ()
    if p.detected:
        notes = (p.detected, *notes)
    if not isinstance(p.model, Model):
        # what reading the files found: a vision tower not counted, a key read another way
        notes = (*p.model.notes, *notes)
    speed, speed_note = _speed(q, p, result) if q.speed else (None, None)
    return fit_report(
        p.model,
        result,
        command=command,
        engine_version=version,
        engine_reason=p.engine_reason,
        ctx_reason=p.ctx_reason,
        notes=notes,
        speed=speed,
        speed_note=speed_note,
    )


def workload(q: Query, req: Request) -> Workload:
    """The request the speed answer prices: the lengths given, else rigfit's default turn;
    users default to the plan's sequences."""
    users = q.users if q.users is not None else req.seqs
    base = default_workload(req.ctx_tokens, users)
    return Workload(
        q.prompt_tokens if q.prompt_tokens is not None else base.prompt_tokens,
        q.output_tokens if q.output_tokens is not None else base.output_tokens,
        users,
    )


def _speed(q: Query, p: Plan, result: FitResult) -> tuple[SpeedEstimate | None, str | None]:
    """The speed of the plan's workload: ``users`` requests of prompt + output tokens.

    Engines with a KV pool (vLLM, SGLang) admit requests by the tokens they hold, not by
    --ctx, so the workload may run where --ctx × --seqs does not fit; then the speed is for
    the workload and says so. Engines that allocate --ctx up front (llama.cpp) do not start a
    plan that does not fit: no speed. The curve stops at the most requests the memory holds."""
    req = p.request
    if req.pooling:
        return None, NOT_GENERATING
    w = workload(q, req)
    w.check(req.ctx_tokens)
    ram = parse_ram_bandwidth(q.ram_bandwidth) if q.ram_bandwidth else None
    length = w.prompt_tokens + w.output_tokens
    at_length = replace(req, ctx_tokens=length, seqs=1)
    most = max_seqs(at_length, p.profile)
    if most < 1:
        return None, "not estimated: the weights do not fit (see the suggestions)"
    if w.users > most:
        if q.users is not None:
            raise InvalidSpecError(
                f"{w.users} users of {length:,} tokens ({w.prompt_tokens:,} in,"
                f" {w.output_tokens:,} out) do not fit in memory; the most that fit: {most}"
                f" (give --users {most} or fewer)"
            )
        return None, (
            f"not estimated: {w.users} sequences of {length:,} tokens do not fit; the most"
            f" that fit: {most} (rigfit speed --users {most})"
        )
    notes: tuple[str, ...] = ()
    if not result.fits and result.estimate.pool is None:
        return None, (
            "not estimated: the plan does not fit (a suggestion above, or a shorter --ctx,"
            " makes one whose speed rigfit prices)"
        )
    if not result.fits:
        notes = (
            f"{req.seqs} × {req.ctx_tokens:,} tokens do not fit, but {w.users} request(s) of"
            f" {length:,} tokens do: the speeds are for those",
        )
    try:
        est = estimate_speed(req, p.profile, w, max_users=most, ram=ram)
    except MissingFigureError as exc:
        return None, str(exc)
    return replace(est, notes=notes + est.notes), None


# why an embedding model has no speed section
NOT_GENERATING = (
    "not estimated: an embedding model is run as one pass over its input and generates no"
    " tokens, so decode speed, time per output token and throughput do not apply (rigfit"
    " does not price the pass's speed yet)"
)


def answer_table(q: Query) -> GPUTableReport:
    """How many of each catalog accelerator the query needs, each priced by its engine."""
    p = plan(replace(q, gpu=None))
    gpus = list_gpus()
    rows = gpu_table(p.request, gpus, p.profile)
    listed = {r.gpu.id for r in rows}
    req = p.request
    speeds = [
        None
        if r.gpus_needed is None or req.pooling
        else decode_rate(replace(req, system=System(r.gpu, r.gpus_needed)), p.profile)
        for r in rows
    ]
    return gpu_table_report(
        p.model,
        rows,
        quant=req.weight_format.label,
        kv_type=req.kv_type.flag,
        ctx_tokens=req.ctx_tokens,
        seqs=req.seqs,
        speeds=speeds,
        left_out=tuple(g.id for g in gpus if g.id not in listed),
    )


@frozen
class SpeedOn:
    """One format of a model on the fewest of one accelerator that hold it, and one user's
    decode speed there (rigfit's default request), under the engine the format implies."""

    gpu: str
    quant: str
    gpus_needed: int | None  # None: more than the search limit, or refused
    engine: str | None
    decode_tok_s: float | None


def speeds_on(
    model: str | AnyModel,
    gpus: tuple[str, ...],
    quants: tuple[str, ...],
    ctx: int,
    max_devices: int = 8,
) -> list[SpeedOn]:
    """For each accelerator and format: how many it takes at ``ctx`` and how fast one user
    decodes there; no speed beyond ``max_devices`` (one node: rigfit prices links inside a
    node, not the network between nodes)."""
    from rigfit.errors import RigfitError
    from rigfit.estimate.plan import min_gpus

    out = []
    for gpu in gpus:
        for quant in quants:
            try:
                p = plan(Query(model, gpu=gpu, quant=quant, ctx=ctx))
                n = min_gpus(p.request, p.profile)
            except RigfitError:
                out.append(SpeedOn(gpu, quant, None, None, None))
                continue
            if n is None or n > max_devices or p.request.pooling:
                out.append(SpeedOn(gpu, quant, n, p.profile.name, None))
                continue
            req = replace(p.request, system=p.request.system.with_count(n))
            out.append(SpeedOn(gpu, quant, n, p.profile.name, decode_rate(req, p.profile)))
    return out
