"""Server-rendered pages. Each handler reads its query leniently (a bad value becomes a one-line
message on the page, with a 4xx status), calls :mod:`rigfit.web.service` and renders."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import QueryParams

from rigfit.api import native_format
from rigfit.catalog.lookup import Model, get_gpu, get_model, list_gpus, list_models
from rigfit.engines import ENGINES
from rigfit.errors import InvalidSpecError, RigfitError, UnknownNameError
from rigfit.estimate.memory import MAX_SEQS
from rigfit.estimate.plan import MAX_GPUS_SEARCHED
from rigfit.estimate.settings import OPTIONS
from rigfit.estimate.sweep import TABLE_CTX_TOKENS, context_stops, dominant_term
from rigfit.hardware import MAX_GPUS
from rigfit.planner import DEFAULT_MAX_GPUS, Minimize
from rigfit.quant import Family, KVCacheType, WeightFormat
from rigfit.report import FormatTableReport
from rigfit.train.setup import LossKind, Method, Optimizer, Sharding
from rigfit.units import fmt_bytes, fmt_rate, fmt_seconds, fmt_tokens, parse_tokens, to_gb
from rigfit.web import charts, service
from rigfit.web.errors import ErrorEnvelope, from_rigfit
from rigfit.web.inputs import (
    MAX_COMPARE,
    CompareQuery,
    EstimateQuery,
    GPUFilter,
    ModelFilter,
    ModelsOnGPUQuery,
    PlanIn,
    TrainIn,
)

__all__ = ["error_page", "router"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

DEFAULT_STATE = {  # the home page's first answer: the seed's 70B-on-two-4090s question
    "model": "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    "quant": "Q4_K_M",
    "kv_type": "f16",
    "ctx": "32768",
    "seqs": "1",
    "gpu": "rtx-4090",
    "gpus": "2",
    "unit": "GB",
}
MAX_TEXT = 200  # characters read from any query field


def _bytes(n: int | None, unit: str = "GB") -> str:
    return "–" if n is None else fmt_bytes(n, unit)


templates.env.filters["bytes"] = _bytes
templates.env.filters["tokens"] = fmt_tokens
templates.env.filters["gb"] = lambda n: f"{to_gb(n):,.1f}"
templates.env.filters["rate"] = fmt_rate
templates.env.filters["seconds"] = fmt_seconds
templates.env.globals["vendor_htmx"] = "/static/vendor/htmx/htmx.min.js?v=2.0.11"


def _render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.headers.get("HX-Request") and "share" in ctx:
        # an htmx form's answer: the address bar shows its canonical link (each input once,
        # none empty), whatever the request carried
        response.headers["HX-Push-Url"] = ctx["share"]
    return response


def error_page(request: Request, env: ErrorEnvelope) -> Response:
    return _render(request, "error.html", {"error": env.error}, env.error.status)


class _Form:
    """The query string of a page, read field by field with bounds."""

    def __init__(self, query: QueryParams, defaults: Mapping[str, str] | None = None):
        self.q = query
        self.defaults = defaults or {}

    def text(self, name: str) -> str | None:
        value = self.q.get(name)
        if value is None or not value.strip():
            value = self.defaults.get(name)
        if value is None:
            return None
        return value.strip()[:MAX_TEXT] or None

    def integer(self, name: str, lo: int, hi: int, default: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidSpecError(
                f"{name} must be a whole number from {lo} to {hi}, got {raw!r}"
            ) from None
        if not lo <= value <= hi:
            raise InvalidSpecError(f"{name} must be from {lo} to {hi}, got {value}")
        return value

    def many(self, name: str, limit: int) -> list[str]:
        return [v.strip()[:MAX_TEXT] for v in self.q.getlist(name) if v.strip()][:limit]


def _options() -> dict[str, Any]:
    """The choices the forms offer, grouped."""
    by_family: dict[str, list[Model]] = {}
    for m in list_models():
        by_family.setdefault(m.record.family, []).append(m)
    by_segment: dict[str, list[Any]] = {}
    for g in list_gpus():
        by_segment.setdefault(g.segment.value, []).append(g)
    gguf = [f.label for f in WeightFormat if f.family is Family.GGUF]
    other = [f.label for f in WeightFormat if f.family is not Family.GGUF]
    return {
        "model_groups": sorted(by_family.items()),
        "gpu_groups": sorted(by_segment.items()),
        "quant_groups": [("llama.cpp GGUF", gguf), ("GPU formats", other)],
        "kv_types": [k.flag for k in KVCacheType],
        "engines": list(ENGINES),
        "engine_options": [
            {
                "param": o.param,
                "flag": o.flag,
                "kind": o.kind,
                "choices": o.choices,
                "help": o.help,
                "engines": ", ".join(sorted(o.engines)),
            }
            for o in OPTIONS
        ],
    }


def _link(path: str, state: Mapping[str, str | None]) -> str:
    return path + "?" + urlencode({k: v for k, v in state.items() if v not in (None, "")})


# the calculator's speed inputs (rigfit speed --prompt/--output/--users, --ram-bandwidth)
_SPEED_FIELDS = ("prompt", "output", "users", "ram_bandwidth")
# "my hardware": an accelerator the catalog lacks, as the fields of a custom: spec
_MY_FIELDS = {"my_memory": "memory", "my_bandwidth": "bandwidth", "my_bf16": "bf16"}
# a second kind of accelerator in the same host (--add-gpu), and how many of it
_MIX_FIELDS = ("add_gpu", "add_gpus")
MAX_ADDED = 8


def _custom_spec(state: Mapping[str, str | None]) -> str | None:
    """``custom:memory=...`` from the "my hardware" fields; None when no memory is given."""
    if not state.get("my_memory"):
        return None
    parts = [f"{key}={state[field]}" for field, key in _MY_FIELDS.items() if state.get(field)]
    return "custom:" + ",".join(parts)


@router.get("/", response_class=HTMLResponse)
def calculator(request: Request) -> Response:
    form = _Form(request.query_params, DEFAULT_STATE if not request.query_params else {})
    view: dict[str, Any] = {"options": _options(), "notes": [], "error": None, "fit": None}
    state: dict[str, str | None] = {
        "model": form.text("model") or DEFAULT_STATE["model"],
        "quant": form.text("quant"),
        "kv_type": form.text("kv_type") or "f16",
        "ctx": form.text("ctx"),
        "seqs": form.text("seqs") or "1",
        "gpu": form.text("gpu") or DEFAULT_STATE["gpu"],
        "gpus": form.text("gpus") or "1",
        "engine": form.text("engine") or "auto",
        "unit": "GiB" if form.text("unit") == "GiB" else "GB",
        "ram": form.text("ram"),
        "wired_limit_mb": form.text("wired_limit_mb"),
        # the speed answer's request (empty: rigfit's default turn) and the RAM's bandwidth
        **{k: form.text(k) for k in _SPEED_FIELDS},
        **{k: form.text(k) for k in (*_MY_FIELDS, *_MIX_FIELDS)},
        # the engine options, one field each, from the option table (estimate/settings.py)
        **{o.param: form.text(o.param) for o in OPTIONS},
    }
    view["state"] = state
    view["options_open"] = any(
        state[k]
        for k in (
            "ram",
            "wired_limit_mb",
            "ram_bandwidth",
            *_MIX_FIELDS,
            *(o.param for o in OPTIONS),
        )
    )
    view["my_open"] = bool(state["my_memory"])
    status = 200
    try:
        m = get_model(state["model"] or "")
        state["model"] = m.id
        state["quant"] = state["quant"] or native_format(m.record).label
        view["model"] = m
        view["ctx_max"] = m.arch.context_length
        view["ctx_stops"] = context_stops(m.arch.context_length)
        if state["ctx"] is not None:
            tokens = parse_tokens(state["ctx"])
            if tokens > m.arch.context_length:
                view["notes"].append(
                    f"{tokens:,} tokens is above this model's maximum; shown at its maximum,"
                    f" {m.arch.context_length:,} tokens"
                )
                tokens = m.arch.context_length
            state["ctx"] = str(tokens)
        extra = {
            k: state[k]
            for k in ("ram", "wired_limit_mb", *_SPEED_FIELDS, *(o.param for o in OPTIONS))
        }
        custom = _custom_spec(state)
        added = [state["add_gpu"]] * form.integer("add_gpus", 1, MAX_ADDED, 1)
        try:
            q = EstimateQuery(
                model=m.id,
                gpu=custom or state["gpu"] or "",
                gpus=form.integer("gpus", 1, MAX_GPUS, 1),
                add_gpu=added if state["add_gpu"] else [],
                quant=state["quant"],
                kv_type=state["kv_type"] or "f16",
                ctx=state["ctx"],
                seqs=form.integer("seqs", 1, MAX_SEQS, 1),
                engine=state["engine"] or "auto",
                **{k: v for k, v in extra.items() if v is not None},
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise InvalidSpecError(f"{where}: {first['msg']}") from None
        fit = service.estimate(q)
        state.update(
            gpu=state["gpu"] if custom else fit.gpu,
            quant=fit.quant,
            kv_type=fit.kv_type,
            ctx=str(fit.ctx_tokens),
        )
        view["fit"] = fit
        view["bar"] = charts.stacked_bar(fit)
        view["chart"] = charts.line_chart(service.curve(q), fit.ctx_tokens)
        view["speed_chart"] = charts.throughput_chart(fit.speed) if fit.speed else None
        view["gpu_rec"] = get_gpu(q.gpu)
        # a suggestion links to the calculator where it changes one of the calculator's own
        # inputs; engine options it does not have yet are shown as text
        view["suggestion_links"] = [
            _link("/", {**state, s.option: s.value}) if s.option in state else None
            for s in fit.suggestions
        ]
        view["cli"] = shlex.join(
            [
                "rigfit",
                "fit",
                fit.model,
                "--gpu",
                custom or fit.gpu,
                "--gpus",
                str(fit.gpus),
                *[x for g in q.add_gpu for x in ("--add-gpu", g)],
                "--quant",
                fit.quant,
                "--kv-type",
                fit.kv_type,
                "--ctx",
                str(fit.ctx_tokens),
                "--seqs",
                str(fit.seqs),
                *(["--engine", fit.profile] if state["engine"] != "auto" else []),
            ]
        )
        view["api"] = _link("/api/v1/estimate", {k: v for k, v in state.items() if k != "unit"})
    except RigfitError as exc:
        view["error"] = str(exc)
        status = 400
    view["share"] = _link("/", state)
    return _render(request, "calculator.html", view, status)


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request) -> Response:
    form = _Form(request.query_params)
    moe_raw = form.text("kind")
    view: dict[str, Any] = {"options": _options(), "error": None, "rows": [], "fit": None}
    status = 200
    try:
        min_b = form.text("min_params_b")
        max_b = form.text("max_params_b")
        min_ctx = form.text("min_ctx")
        f = ModelFilter(
            search=form.text("search"),
            family=form.text("family"),
            license=form.text("license"),
            moe={"moe": True, "dense": False}.get(moe_raw or ""),
            min_params_b=_number(min_b, "min_params_b"),
            max_params_b=_number(max_b, "max_params_b"),
            min_ctx_tokens=None if min_ctx is None else parse_tokens(min_ctx),
        )
        picked = service.models(f)
        gpu_name = form.text("fits_gpu")
        fits: dict[str, Any] = {}
        if gpu_name:
            report = service.models_on(
                ModelsOnGPUQuery(
                    gpu=gpu_name,
                    gpus=form.integer("fits_gpus", 1, MAX_GPUS, 1),
                    quant=form.text("fits_quant"),
                    ctx=form.text("fits_ctx"),
                )
            )
            fits = {r.model: r for r in report.rows}
            view["fit"] = report
            if form.text("only_fits"):
                picked = [m for m in picked if fits[m.id].fits]
        view["rows"] = [(m, fits.get(m.id)) for m in picked]
    except (RigfitError, ValueError) as exc:
        view["error"] = str(exc).splitlines()[0]
        status = 400
    view["q"] = {
        k: form.text(k) or ""
        for k in (
            "search",
            "family",
            "license",
            "kind",
            "min_params_b",
            "max_params_b",
            "min_ctx",
            "fits_gpu",
            "fits_gpus",
            "fits_quant",
            "fits_ctx",
            "only_fits",
        )
    }
    view["licenses"] = sorted({m.record.license for m in list_models()})
    view["families"] = sorted({m.record.family for m in list_models()})
    return _render(request, "models.html", view, status)


def _number(raw: str | None, name: str) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidSpecError(f"{name} must be a number, got {raw!r}") from None


@router.get("/models/{model_id:path}", response_class=HTMLResponse)
def model_page(request: Request, model_id: str) -> Response:
    try:
        m = get_model(model_id[:MAX_TEXT])
    except UnknownNameError as exc:
        return error_page(request, from_rigfit(exc, not_found=True))
    spec = service.model(m.id)
    fmts = service.formats(m.id)
    native = native_format(m.record)
    notes = []
    for fmt, ctx in (
        (native, min(TABLE_CTX_TOKENS[-1], m.arch.context_length)),
        (WeightFormat.Q4_K_M, m.arch.context_length),
    ):
        q = EstimateQuery(model=m.id, gpu=service.REFERENCE_GPU, quant=fmt.label, ctx=str(ctx))
        try:
            notes.append(dominant_term(service.estimate_object(q)))
        except RigfitError as exc:  # a format whose engine refuses the family (GLM-5 GGUF)
            notes.append(f"{fmt.label}: not priced: {exc}")
    view = {
        "m": m,
        "spec": spec,
        "formats": fmts,
        "dominant": notes,
        "calc": _link("/", {"model": m.id, **_system_that_holds(fmts, native)}),
        "reference": get_gpu(service.REFERENCE_GPU),
        "speeds": service.common_speeds(m.id),
        "fine_tunes": service.fine_tunes(m.id),
        "train_seq": service.TRAIN_SEQ,
        "speed_ctx": service.common_speed_ctx(m.id),
        "gpu_names": {g: get_gpu(g).name for g in (*service.COMMON_GPUS, *service.TRAIN_GPUS)},
    }
    return _render(request, "model.html", view)


def _system_that_holds(fmts: FormatTableReport, native: WeightFormat) -> dict[str, str]:
    """Where "Open in the calculator" starts: the smallest single accelerator that holds the
    published checkpoint at the table's first context, else as many reference GPUs as it needs
    (the format table's own answers)."""
    row = next((r for r in fmts.rows if r.quant == native.label), None)
    if row is not None and row.single_gpus_that_fit:
        return {"gpu": row.single_gpus_that_fit[0], "gpus": "1"}
    needed = row.reference_gpus_needed if row is not None else None
    return {"gpu": service.REFERENCE_GPU, "gpus": str(needed or 1)}


def _schema_type(schema: dict[str, Any]) -> str:
    """A parameter's JSON-schema type in a few words (``integer ≥ 1``, ``string or null``)."""
    if "anyOf" in schema:
        return " or ".join(_schema_type(x) for x in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kind = str(schema.get("type", "any"))
    bounds = [
        f"{op} {schema[k]:g}"
        for k, op in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"))
        if k in schema
    ]
    return kind + (" " + ", ".join(bounds) if bounds else "")


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    """The REST API's reference, drawn from the app's own OpenAPI document (no CDN)."""
    spec = request.app.openapi()
    endpoints = []
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        if op is None or not path.startswith("/api/"):
            continue
        ok = op.get("responses", {}).get("200", {}).get("content", {})
        ref = ok.get("application/json", {}).get("schema", {})
        returns = ref.get("$ref", "").rsplit("/", 1)[-1] or (
            "list of " + ref.get("items", {}).get("$ref", "").rsplit("/", 1)[-1]
            if ref.get("type") == "array"
            else "JSON"
        )
        params = [
            {
                "name": p["name"],
                "where": p["in"],
                "required": p.get("required", False),
                "type": _schema_type(p.get("schema", {})),
                "default": p.get("schema", {}).get("default", ""),
                "description": p.get("description") or p.get("schema", {}).get("description", ""),
            }
            for p in op.get("parameters", [])
        ]
        endpoints.append(
            {
                "path": path,
                "anchor": path.strip("/").replace("/", "-").replace("{", "").replace("}", ""),
                "summary": op.get("summary", ""),
                "description": (op.get("description") or "").strip(),
                "returns": returns,
                "params": params,
            }
        )
    info = spec["info"]
    view = {
        "endpoints": endpoints,
        "summary": info.get("summary", ""),
        "version": info.get("version", ""),
        "openapi": spec.get("openapi", ""),
    }
    return _render(request, "api_docs.html", view)


@router.get("/accuracy", response_class=HTMLResponse)
def accuracy_page(request: Request) -> Response:
    """rigfit against the measurement sets: memory and speed, per engine and metric."""
    memory, speed = service.accuracy()

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    return _render(request, "accuracy.html", {"memory": memory, "speed": speed, "pct": pct})


@router.get("/gpus", response_class=HTMLResponse)
def gpus_page(request: Request) -> Response:
    form = _Form(request.query_params)
    view: dict[str, Any] = {"error": None, "rows": []}
    status = 200
    try:
        f = GPUFilter(
            vendor=form.text("vendor"),
            segment=form.text("segment"),
            search=form.text("search"),
            min_memory_gb=_number(form.text("min_memory_gb"), "min_memory_gb"),
        )
        view["rows"] = service.gpus(f)
    except (RigfitError, ValueError) as exc:
        view["error"] = str(exc).splitlines()[0]
        status = 400
    view["q"] = {k: form.text(k) or "" for k in ("vendor", "segment", "search", "min_memory_gb")}
    return _render(request, "gpus.html", view, status)


@router.get("/gpus/{gpu_id}", response_class=HTMLResponse)
def gpu_page(request: Request, gpu_id: str) -> Response:
    try:
        g = get_gpu(gpu_id[:MAX_TEXT])
    except UnknownNameError as exc:
        return error_page(request, from_rigfit(exc, not_found=True))
    form = _Form(request.query_params, {"quant": "Q4_K_M", "ctx": "8192", "gpus": "1"})
    view: dict[str, Any] = {
        "g": service.gpu(g.id),
        "error": None,
        "fit": None,
        "options": _options(),
    }
    status = 200
    try:
        view["fit"] = service.models_on(
            ModelsOnGPUQuery(
                gpu=g.id,
                gpus=form.integer("gpus", 1, MAX_GPUS, 1),
                quant=form.text("quant"),
                kv_type=form.text("kv_type") or "f16",
                ctx=form.text("ctx"),
            )
        )
    except (RigfitError, ValueError) as exc:
        view["error"] = str(exc).splitlines()[0]
        status = 400
    view["q"] = {k: form.text(k) or "" for k in ("quant", "ctx", "gpus", "kv_type")}
    return _render(request, "gpu.html", view, status)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request) -> Response:
    form = _Form(request.query_params)
    models = form.many("models", MAX_COMPARE)
    gpus = form.many("gpus_compared", MAX_COMPARE)
    view: dict[str, Any] = {"options": _options(), "error": None, "report": None, "hint": None}
    status = 200
    if len(models) + len(gpus) == 1:
        # "Compare with..." from a model or GPU page: the form, filled in, waits for the others
        view["hint"] = "Pick one to three more to compare with."
    elif models or gpus:
        try:
            view["report"] = service.compare(
                CompareQuery(
                    models=models,
                    gpus_compared=gpus,
                    model=form.text("model"),
                    gpu=form.text("gpu"),
                    gpus=form.integer("gpus", 1, MAX_GPUS, 1),
                    quant=form.text("quant"),
                    ctx=form.text("ctx"),
                )
            )
        except (RigfitError, ValueError) as exc:
            view["error"] = str(exc).splitlines()[0]
            status = 400
    view["q"] = {
        "models": models + [""] * (4 - len(models)),
        "gpus_compared": gpus + [""] * (4 - len(gpus)),
        **{k: form.text(k) or "" for k in ("model", "gpu", "gpus", "quant", "ctx")},
    }
    return _render(request, "compare.html", view, status)


# the plan form's fields, as /api/v1/plan takes them
_PLAN_FIELDS = ("model", "ctx", "users", "min_tok_s", "minimize", "budget", "max_gpus")
_PLAN_FILTERS = ("segment", "vendor", "gpu", "quant")


@router.get("/plan", response_class=HTMLResponse)
def plan_page(request: Request) -> Response:
    """The least hardware for a model at a context, a concurrency and a speed."""
    form = _Form(request.query_params)
    state: dict[str, str | None] = {k: form.text(k) for k in (*_PLAN_FIELDS, *_PLAN_FILTERS)}
    view: dict[str, Any] = {
        "options": _options(),
        "state": state,
        "error": None,
        "plan": None,
        "minimize_choices": list(Minimize),
        "default_max_gpus": DEFAULT_MAX_GPUS,
    }
    status = 200
    if state["model"]:
        try:
            try:
                q = PlanIn(
                    model=state["model"],
                    ctx=state["ctx"],
                    users=form.integer("users", 1, MAX_SEQS, 1),
                    min_tok_s=_positive(state["min_tok_s"], "min_tok_s"),
                    minimize=_minimize(state["minimize"]),
                    budget=state["budget"],
                    max_gpus=form.integer("max_gpus", 1, MAX_GPUS_SEARCHED, DEFAULT_MAX_GPUS),
                    segment=state["segment"],
                    vendor=state["vendor"],
                    gpu=[state["gpu"]] if state["gpu"] else [],
                    quant=[state["quant"]] if state["quant"] else [],
                )
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"])
                raise InvalidSpecError(f"{where}: {first['msg']}") from None
            view["plan"] = service.hardware_plan(q)
            view["api"] = _link("/api/v1/plan", state)
            view["cli"] = shlex.join(_plan_cli(state))
        except RigfitError as exc:
            view["error"] = str(exc)
            status = 400
    view["share"] = _link("/plan", state)
    return _render(request, "plan.html", view, status)


E = TypeVar("E", bound=StrEnum)


def _choice(kind: type[E], raw: str | None, name: str, default: E) -> E:
    """A form's enum field: its value, the default when empty, else a one-line error."""
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidSpecError(f"{name} must be one of {allowed}, got {raw!r}") from None


def _minimize(raw: str | None) -> Minimize:
    try:
        return Minimize(raw or Minimize.GPUS.value)
    except ValueError:
        allowed = ", ".join(m.value for m in Minimize)
        raise InvalidSpecError(f"minimize must be one of {allowed}, got {raw!r}") from None


def _positive(raw: str | None, name: str) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidSpecError(f"{name} must be a number of tokens/s, got {raw!r}") from None


def _plan_cli(state: Mapping[str, str | None]) -> list[str]:
    """The ``rigfit plan`` command line of the form's state."""
    args = ["rigfit", "plan", state["model"] or ""]
    for key in (*_PLAN_FIELDS[1:], *_PLAN_FILTERS):
        if state[key]:
            args += [f"--{key.replace('_', '-')}", str(state[key])]
    return args


# the /train form's fields, as /api/v1/train takes them
_TRAIN_FIELDS = (
    "model",
    "gpu",
    "gpus",
    "method",
    "seq",
    "micro_batch",
    "grad_accum",
    "grad_ckpt",
    "optimizer",
    "zero",
    "sharding",
    "offload",
    "lora_rank",
    "lora_targets",
    "loss",
)
TRAIN_DEFAULTS = {
    "model": "meta-llama/Llama-3.1-8B",
    "gpu": "rtx-4090",
    "method": "qlora",
    "seq": "4096",
}


@router.get("/train", response_class=HTMLResponse)
def train_page(request: Request) -> Response:
    """Can it be fine-tuned here: the calculator for training."""
    form = _Form(request.query_params, TRAIN_DEFAULTS if not request.query_params else {})
    state: dict[str, str | None] = {k: form.text(k) for k in _TRAIN_FIELDS}
    for k, v in TRAIN_DEFAULTS.items():
        state[k] = state[k] or v
    view: dict[str, Any] = {
        "options": _options(),
        "state": state,
        "error": None,
        "train": None,
        "methods": [m.value for m in Method],
        "optimizers": [o.value for o in Optimizer],
        "losses": [x.value for x in LossKind],
        "shardings": [x.value for x in Sharding if x is not Sharding.SINGLE],
    }
    status = 200
    try:
        try:
            q = TrainIn(
                model=state["model"] or "",
                gpu=state["gpu"] or "",
                gpus=form.integer("gpus", 1, MAX_GPUS, 1),
                method=_choice(Method, state["method"], "method", Method.LORA),
                seq=state["seq"] or "4096",
                micro_batch=form.integer("micro_batch", 1, 4096, 1),
                grad_accum=form.integer("grad_accum", 1, 65536, 1),
                grad_ckpt=state["grad_ckpt"] != "off",
                optimizer=_choice(Optimizer, state["optimizer"], "optimizer", Optimizer.ADAMW),
                zero=form.integer("zero", 0, 3, 0) if state["zero"] else None,
                sharding=_choice(Sharding, state["sharding"], "sharding", Sharding.SINGLE)
                if state["sharding"]
                else None,
                offload=state["offload"] == "on",
                lora_rank=form.integer("lora_rank", 1, 65536, 16),
                lora_targets=state["lora_targets"] or "all-linear",
                loss=_choice(LossKind, state["loss"], "loss", LossKind.STANDARD),
            )
        except ValueError as exc:
            raise InvalidSpecError(str(exc).splitlines()[0]) from None
        report = service.train(q)
        view["train"] = report
        view["chart"] = charts.memory_chart(
            service.train_points(q), report.capacity_per_gpu_bytes, report.seq_len
        )
        view["api"] = _link("/api/v1/train", state)
    except RigfitError as exc:
        view["error"] = str(exc)
        status = 400
    view["share"] = _link("/train", state)
    return _render(request, "train.html", view, status)
