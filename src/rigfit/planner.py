"""The plan: the least hardware that serves a model at a context, a concurrency and a speed.

:func:`plan_hardware` searches accelerators × weight formats × device counts. For each
accelerator and format it takes the engine the format implies (or the one named), the fewest
devices that hold ``users`` sequences of ``ctx`` tokens (the memory answer), and, when a speed
is asked for, adds devices while the speed model says each user decodes too slowly and more
devices still help (tensor parallel does; llama.cpp's layer split does not). Over the
catalog each accelerator keeps its best option (the least of what is minimized, then the most
precise weights); on accelerators the user named, each format that serves is an option. The
options are ranked by what the user minimizes: devices, purchase price, hourly rent, or power.

Everything an option says comes from the one answer path (:func:`rigfit.answer.answer`): its
memory, its speed and the command that runs it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from rigfit.answer import Plan, Query, answer, is_auto, plan, resolve_auto
from rigfit.api import AnyModel, make_request, resolve_model
from rigfit.catalog.loader import load_gpus
from rigfit.catalog.lookup import get_gpu, list_gpus
from rigfit.catalog.schema import GPURecord, PurchasePrice, RentalPrice, Segment, Vendor
from rigfit.engines import AUTO_ENGINE, get_engine
from rigfit.errors import InvalidSpecError, RigfitError, UnsupportedArchitectureError
from rigfit.estimate.memory import DEFAULT_CTX_TOKENS, MAX_SEQS, EngineProfile, Request
from rigfit.estimate.plan import MAX_GPUS_SEARCHED, min_gpus
from rigfit.estimate.weights import weight_breakdown
from rigfit.frozen import frozen
from rigfit.plan_settings import (
    DEFAULT_FORMATS,
    DEFAULT_MAX_GPUS,
    FITS_CTX_TOKENS,
    FITS_FORMATS,
    Minimize,
)
from rigfit.prices import Prices, load_prices
from rigfit.quant import Family, WeightFormat, parse_kv_type, parse_quant
from rigfit.report import FitReport
from rigfit.speed import Workload, default_workload, served_rates
from rigfit.units import parse_tokens

__all__ = [
    "DEFAULT_FORMATS",
    "DEFAULT_MAX_GPUS",
    "FITS_CTX_TOKENS",
    "Budget",
    "FitsOn",
    "HardwarePlan",
    "Minimize",
    "ModelFit",
    "PlanOption",
    "PlanQuery",
    "models_that_fit",
    "parse_budget",
    "plan_hardware",
]


@frozen
class Budget:
    usd: float
    hourly: bool  # True: USD an hour (rent), False: USD to buy

    def __str__(self) -> str:
        return f"${self.usd:,.2f}/h" if self.hourly else f"${self.usd:,.0f}"


_BUDGET = re.compile(r"^\$?\s*(\d+(?:\.\d+)?)\s*(k)?\s*(/h|/hr|/hour|per hour)?$")


def parse_budget(text: str) -> Budget:
    """``5000`` or ``$5k``: to buy; ``12/h``: to rent by the hour.

    >>> parse_budget("$5k"), parse_budget("12.5/h")
    (Budget(usd=5000.0, hourly=False), Budget(usd=12.5, hourly=True))
    """
    m = _BUDGET.match(text.strip().lower())
    if m is None or float(m.group(1)) <= 0:
        raise InvalidSpecError(
            f"--budget {text!r} is not an amount (allowed: US dollars to buy, like 5000 or $5k,"
            " or an hourly rent, like 12/h)"
        )
    return Budget(float(m.group(1)) * (1000 if m.group(2) else 1), m.group(3) is not None)


@frozen
class PlanQuery:
    """ "What is the least hardware for this?", as users ask it.

    ``gpus``: the accelerators to consider (None: the whole catalog; ``("auto",)``: this
    machine, with at most its devices); ``quants``: the formats to try (None: the checkpoint's
    own and :data:`DEFAULT_FORMATS`); ``min_tok_s``: each user's decode speed at ``users``
    concurrent requests."""

    model: str | AnyModel
    ctx: str | int | None = None
    users: int = 1
    min_tok_s: float | None = None
    engine: str = AUTO_ENGINE
    max_gpus: int = DEFAULT_MAX_GPUS
    budget: Budget | None = None
    minimize: Minimize = Minimize.GPUS
    gpus: tuple[str, ...] | None = None
    quants: tuple[str, ...] | None = None
    kv_type: str = "f16"
    vendor: str | None = None
    segment: str | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    files: bool = False
    limit: int = 10


@frozen
class PlanOption:
    """One way to serve the request."""

    gpu: GPURecord
    count: int
    quant: str
    engine: str
    weights_bytes: int
    per_user_tok_s: float | None  # each of ``users`` decoding together; None: not estimated
    aggregate_tok_s: float | None
    buy: PurchasePrice | None
    rent: RentalPrice | None
    report: FitReport | None = None  # the full answer, for the options shown

    @property
    def price_usd(self) -> float | None:
        return None if self.buy is None else self.buy.usd * self.count

    @property
    def rent_usd_per_hour(self) -> float | None:
        return None if self.rent is None else self.rent.usd_per_hour * self.count

    @property
    def power_w(self) -> float | None:
        return None if self.gpu.tdp_w is None else self.gpu.tdp_w * self.count

    @property
    def joules_per_token(self) -> float | None:
        """Board power over all users' output tokens/s: an upper bound on the energy of a
        token (the cards draw up to their TDP), for comparing options on one footing."""
        if self.power_w is None or not self.aggregate_tok_s:
            return None
        return self.power_w / self.aggregate_tok_s

    def metric(self, what: Minimize) -> float | None:
        if what is Minimize.GPUS:
            return float(self.count)
        if what is Minimize.PRICE:
            return self.price_usd
        if what is Minimize.RENT:
            return self.rent_usd_per_hour
        if what is Minimize.ENERGY:
            return self.joules_per_token
        return self.power_w


@frozen
class HardwarePlan:
    """The options that meet the request, best first, and what the search left out."""

    model: str
    ctx_tokens: int
    users: int
    min_tok_s: float | None
    workload: Workload
    minimize: Minimize
    options: tuple[PlanOption, ...]
    considered: int  # accelerator × format pairs tried
    rejected: tuple[tuple[str, int], ...]  # (reason, how many accelerator × format pairs)
    binding: str | None  # when nothing meets the request: the constraint that bound
    nearest: PlanOption | None  # ... and the option closest to meeting it
    scope: str  # which accelerators were searched, in words
    notes: tuple[str, ...]


@frozen
class _Scope:
    gpus: list[GPURecord]
    most: int | None  # most devices of each (this machine's count), None: --max-gpus
    said: str  # the scope in words
    notes: tuple[str, ...] = ()
    host: Query | None = None  # --gpu auto: the host's RAM, bandwidth and wired limit


def _accelerators(q: PlanQuery) -> _Scope:
    """The accelerators searched, and on this machine the host facts every query keeps."""
    if q.gpus and any(is_auto(g) for g in q.gpus):
        if len(q.gpus) > 1:
            raise InvalidSpecError("--gpu auto plans on this machine; give it alone")
        resolved, said = resolve_auto(Query(q.model, gpu="auto"))
        gpu = resolved.gpu
        assert isinstance(gpu, GPURecord)
        if resolved.add_gpu:
            raise InvalidSpecError(
                "rigfit plan --gpu auto: this machine mixes kinds of accelerator; plan on one"
                " kind with --gpu ID (rigfit fit --gpu auto prices the mixed system)"
            )
        return _Scope([gpu], resolved.gpus or 1, "this machine", (said,), resolved)
    if q.gpus:
        return _Scope([get_gpu(g) for g in q.gpus], None, ", ".join(q.gpus))
    pool = list(list_gpus())
    if q.vendor:
        try:
            vendor = Vendor(q.vendor.lower())
        except ValueError:
            raise InvalidSpecError(
                f"--vendor {q.vendor!r}: allowed " + ", ".join(v.value for v in Vendor)
            ) from None
        pool = [g for g in pool if g.vendor is vendor]
    if q.segment:
        try:
            segment = Segment(q.segment.lower())
        except ValueError:
            raise InvalidSpecError(
                f"--segment {q.segment!r}: allowed " + ", ".join(s.value for s in Segment)
            ) from None
        pool = [g for g in pool if g.segment is segment]
    scope = "every catalog accelerator" + (
        f" ({', '.join(x for x in (q.vendor, q.segment) if x)})" if q.vendor or q.segment else ""
    )
    if not pool:
        raise InvalidSpecError(
            f"no catalog accelerator is {' and '.join(x for x in (q.vendor, q.segment) if x)}"
        )
    return _Scope(pool, None, scope)


# The device formats are resolved on (which format a name means for a model, and its weight
# bytes): a bundled catalog entry, never a user's, whose own limits would leak into every plan.
FORMAT_REFERENCE_GPU = "h100-sxm"


def _reference() -> GPURecord:
    return next(g for g in load_gpus() if g.id == FORMAT_REFERENCE_GPU)


def _formats(model: AnyModel, q: PlanQuery) -> list[str]:
    if q.quants:
        return list(dict.fromkeys(parse_quant(x).label for x in q.quants))  # unknown: an error
    _, req = make_request(model, _reference(), ctx=512)
    own = req.weight_format
    # a checkpoint published quantized (DeepSeek-R1's FP8, GLM-4.5-Air-FP8) has no 16-bit
    # weights to serve: 16-bit is not tried (a 16-bit twin is a catalog model of its own);
    # GGUF types are, as converters make them from the dequantized weights
    tried = [
        f for f in DEFAULT_FORMATS if own.family is Family.FLOAT or f.family is not Family.FLOAT
    ]
    return list(dict.fromkeys([own.label, *(f.label for f in tried)]))


def _check(q: PlanQuery) -> None:
    if not 1 <= q.users <= MAX_SEQS:
        raise InvalidSpecError(f"--users must be from 1 to {MAX_SEQS:,}, got {q.users:,}")
    if not 1 <= q.max_gpus <= MAX_GPUS_SEARCHED:
        raise InvalidSpecError(
            f"--max-gpus must be from 1 to {MAX_GPUS_SEARCHED} (the most the search tries),"
            f" got {q.max_gpus}"
        )
    get_engine(q.engine)  # an unknown name: one error, not one per accelerator
    parse_kv_type(q.kv_type)
    if q.min_tok_s is not None and not 0 < q.min_tok_s <= 100_000:
        raise InvalidSpecError(
            f"--min-tok-s must be above 0 and at most 100,000 tokens/s, got {q.min_tok_s:g}"
        )
    if q.limit < 1:
        raise InvalidSpecError(f"--limit must be at least 1, got {q.limit}")
    if q.budget is not None:
        want = Minimize.RENT if q.budget.hourly else Minimize.PRICE
        if q.minimize in (Minimize.PRICE, Minimize.RENT) and q.minimize is not want:
            raise InvalidSpecError(
                f"--budget {q.budget} is {'an hourly rent' if q.budget.hourly else 'a price'}"
                f" but --minimize {q.minimize} ranks by the other (give {want} or a budget"
                f" in its unit)"
            )


def _qualities(model: AnyModel, formats: Sequence[str], *, strict: bool) -> dict[str, float]:
    """Each format the model can take, as the request resolves it (FP8 of DeepSeek-R1 is its
    published FP8-BLOCK: one format, tried once), with its weight bytes: more is closer to
    the checkpoint (the tie-break between formats), up to the checkpoint's own, which nothing
    made from it passes (a Q8_0 of an FP8 checkpoint is no closer to it than the checkpoint
    itself, which wins the tie). ``strict``: the user named the formats, so one the model
    cannot take is an error, not a skip."""
    own_format: WeightFormat | None = None
    own_bytes = 0
    try:
        _, own = make_request(model, _reference(), ctx=512)
        own_format = own.weight_format
        own_bytes = weight_breakdown(own.arch, own_format).total_bytes
    except RigfitError:
        pass  # files that name no format of their own: nothing to be closer to
    out: dict[str, float] = {}
    for quant in formats:
        try:
            _, req = make_request(model, _reference(), quant=quant, ctx=512)
            # a format whose groups do not divide the model's rows (AWQ on Gemma 4's 704-wide
            # experts) fails here, as the model cannot take it
            nbytes: float = weight_breakdown(req.arch, req.weight_format).total_bytes
        except RigfitError:
            if strict:
                raise
            continue
        if own_format is None:
            pass
        elif req.weight_format is own_format:
            nbytes = own_bytes + 0.5  # the checkpoint itself: ahead of any copy of it
        else:
            nbytes = min(nbytes, own_bytes)  # F32 of a BF16 checkpoint is no closer either
        out.setdefault(req.weight_format.label, nbytes)
    return out


def plan_hardware(q: PlanQuery) -> HardwarePlan:
    """Search, filter and rank; see the module's docstring."""
    _check(q)
    model = resolve_model(q.model, files=q.files) if isinstance(q.model, str) else q.model
    if not model.generates and (q.min_tok_s is not None or q.minimize is Minimize.ENERGY):
        raise InvalidSpecError(
            f"{model.id} is an embedding model and generates no tokens: --min-tok-s and"
            " --minimize energy rank by decode speed, which it does not have (allowed:"
            " --minimize gpus, price, rent or power)"
        )
    where = _accelerators(q)
    pool, most, scope, notes = where.gpus, where.most, where.said, where.notes
    if q.ctx is None:
        # one context for every option (engines' own defaults differ: llama.cpp's is the
        # model's maximum, vLLM's too, transformers' none): rigfit's working length
        ctx = min(DEFAULT_CTX_TOKENS, model.arch.context_length)
        notes += (f"context: {ctx:,} tokens, rigfit's default for a plan (--ctx sets it)",)
    else:
        ctx = parse_tokens(q.ctx)
    cap = min(q.max_gpus, most) if most is not None else q.max_gpus
    prices = load_prices()
    formats = _formats(model, q)
    quality = _qualities(model, formats, strict=bool(q.quants))
    rejected: Counter[str] = Counter()
    # the engine refusing the model itself: the reason to lead with when nothing is left
    refused_model: Counter[str] = Counter()
    near: list[tuple[float, PlanOption, str]] = []
    best: dict[str, PlanOption] = {}
    considered = 0
    workload: Workload | None = None
    ctx_tokens = ctx
    for gpu in pool:
        for quant in quality:
            considered += 1
            try:
                p = plan(_query(q, model, where, gpu, quant, ctx, q.engine))
                # an engine that refuses the model says so here, not as "does not fit" below
                p.profile.check(p.request)
            except RigfitError as exc:
                rejected[_reason(exc, gpu)] += 1
                if isinstance(exc, UnsupportedArchitectureError):
                    refused_model[_reason(exc, gpu)] += 1
                continue
            req = p.request
            ctx_tokens = req.ctx_tokens
            w = _workload(q, ctx_tokens)
            workload = workload or w
            n = min_gpus(req, p.profile, cap)
            if n is None or n > cap:
                if gpu.unified_memory or gpu.one_per_host:
                    rejected["does not fit on one, and a machine holds one of it"] += 1
                else:
                    rejected[f"needs more than {cap} device(s) at this context"] += 1
                continue
            speed = q.min_tok_s is not None or q.minimize is Minimize.ENERGY
            option = _option(p, quant, n, w, prices, speed=speed)
            if q.min_tok_s is not None and not (gpu.unified_memory or gpu.one_per_host):
                option = _faster(p, quant, option, cap, w, prices, q.min_tok_s)
            why = _fails(q, option)
            if why is not None:
                rejected[why] += 1
                near.append((_distance(q, option), option, why))
                continue
            # over the catalog, each accelerator's best option; on hardware the user named,
            # each format that serves (the choice there is the format, not the card)
            slot = f"{gpu.id}/{quant}" if q.gpus else gpu.id
            key = (option.metric(q.minimize), -quality[quant], option.count)
            held = best.get(slot)
            if held is None or key < (
                held.metric(q.minimize),
                -quality[held.quant],
                held.count,
            ):
                best[slot] = option
    unpriced = [o for o in best.values() if o.metric(q.minimize) is None]
    ranked = sorted(
        (o for o in best.values() if o.metric(q.minimize) is not None),
        key=lambda o: (
            o.metric(q.minimize),
            -quality[o.quant],
            -(o.per_user_tok_s or 0.0),
            o.gpu.id,
        ),
    )
    if unpriced:
        figure = {
            Minimize.PRICE: "no purchase price in rigfit's table (a prices.toml row adds one)",
            Minimize.RENT: "no rental price in rigfit's table (a prices.toml row adds one)",
            Minimize.ENERGY: "no published board power, or no speed estimate",
        }.get(q.minimize, "no published board power")
        notes += (
            f"{len(unpriced)} accelerator(s) that would serve it have {figure}, so they are"
            " not ranked",
        )
    full = [_full(q, model, o, ctx, where) for o in ranked[: q.limit]]
    # equal on what is minimized and on precision, the faster first (the search priced speed
    # only where --min-tok-s asked for it; the full answers price it for every option shown)
    shown = tuple(
        sorted(
            full,
            key=lambda o: (o.metric(q.minimize), -quality[o.quant], -(_shown_speed(o) or 0.0)),
        )
    )
    binding = nearest = None
    if not shown:
        binding, nearest = _binding(q, refused_model or rejected, near, model, ctx, where)
    return HardwarePlan(
        model=model.id,
        ctx_tokens=ctx_tokens,
        users=q.users,
        min_tok_s=q.min_tok_s,
        workload=workload or _workload(q, ctx_tokens),
        minimize=q.minimize,
        options=shown,
        considered=considered,
        rejected=tuple(rejected.most_common()),
        binding=binding,
        nearest=nearest,
        scope=scope,
        notes=notes,
    )


def _workload(q: PlanQuery, ctx_tokens: int) -> Workload:
    base = default_workload(ctx_tokens, q.users)
    return Workload(
        q.prompt_tokens if q.prompt_tokens is not None else base.prompt_tokens,
        q.output_tokens if q.output_tokens is not None else base.output_tokens,
        q.users,
    )


def _reason(exc: RigfitError, gpu: GPURecord) -> str:
    """The reason, with the accelerator's name taken out so that equal reasons group."""
    text = str(exc).replace(gpu.name, "the accelerator")
    return text if len(text) <= 160 else text[:157] + "..."


def _speed_of(req: Request, profile: EngineProfile, w: Workload) -> tuple[float | None, ...]:
    """(each user's decode tok/s, all users' tok/s) with ``w.users`` together; (None, None)
    when a figure is missing. The plan holds ``users`` sequences of ``ctx`` tokens, so the
    workload (no longer than ``ctx``) fits wherever the plan does."""
    try:
        point = served_rates(req, profile, w)
    except RigfitError:
        return None, None
    return point.per_user_tok_s, point.output_tok_s


def _option(
    p: Plan, quant: str, count: int, w: Workload, prices: Prices, *, speed: bool
) -> PlanOption:
    """``count`` of the plan's accelerator in ``quant``; its speed only when asked for."""
    req = replace(p.request, system=p.request.system.with_count(count))
    engine = p.profile.resolve(req)
    engine.check(req)  # a count the engine cannot shard over raises here, not in the answer
    per_user, aggregate = _speed_of(req, p.profile, w) if speed else (None, None)
    gpu = req.system.gpu
    return PlanOption(
        gpu,
        count,
        quant,
        engine.name,
        weight_breakdown(req.arch, req.weight_format).total_bytes,
        per_user,
        aggregate,
        prices.buy(gpu.id),
        prices.rent(gpu.id),
    )


def _faster(
    p: Plan,
    quant: str,
    option: PlanOption,
    cap: int,
    w: Workload,
    prices: Prices,
    floor: float,
) -> PlanOption:
    """More devices while each user decodes under ``floor`` and more still help: counts the
    engine refuses (a tensor-parallel size that does not divide the heads) are stepped over;
    a count that is no faster ends the search (llama.cpp's layer split runs devices one
    after another)."""
    for n in range(option.count + 1, cap + 1):
        if option.per_user_tok_s is None or option.per_user_tok_s >= floor:
            break
        try:
            more = _option(p, quant, n, w, prices, speed=True)
        except RigfitError:
            continue  # a count the engine cannot shard the model over
        if more.per_user_tok_s is None:
            continue
        if more.per_user_tok_s <= option.per_user_tok_s:
            break
        option = more
    return option


def _fails(q: PlanQuery, o: PlanOption) -> str | None:
    """The first constraint an option breaks, in words; None when it meets them all."""
    if q.min_tok_s is not None:
        if o.per_user_tok_s is None:
            return "speed not estimated (a figure is missing), so --min-tok-s cannot be checked"
        if o.per_user_tok_s < q.min_tok_s:
            return f"under --min-tok-s {q.min_tok_s:g} per user"
    if q.budget is not None:
        cost = o.rent_usd_per_hour if q.budget.hourly else o.price_usd
        if cost is None:
            return f"no {'rental' if q.budget.hourly else 'purchase'} price to check --budget"
        if cost > q.budget.usd:
            return f"over --budget {q.budget}"
    return None


def _distance(q: PlanQuery, o: PlanOption) -> float:
    """How far an option is from meeting the request (0: meets it): the worse ratio."""
    gaps = [0.0]
    if q.min_tok_s is not None and o.per_user_tok_s:
        gaps.append(max(0.0, q.min_tok_s / o.per_user_tok_s - 1))
    if q.budget is not None:
        cost = o.rent_usd_per_hour if q.budget.hourly else o.price_usd
        if cost is not None:
            gaps.append(max(0.0, cost / q.budget.usd - 1))
    if len(gaps) == 1:
        return float("inf")
    return max(gaps)


def _binding(
    q: PlanQuery,
    rejected: Counter[str],
    near: Sequence[tuple[float, PlanOption, str]],
    model: AnyModel,
    ctx: int,
    where: _Scope,
) -> tuple[str, PlanOption | None]:
    if near:
        _, option, why = min(near, key=lambda t: (t[0], t[1].count, t[1].gpu.id))
        return why, _full(q, model, option, ctx, where)
    if rejected:
        return rejected.most_common(1)[0][0], None
    return "no accelerator matched the filters", None


def _shown_speed(o: PlanOption) -> float | None:
    speed = o.report.speed if o.report is not None else None
    return speed.per_user_tok_s.value if speed is not None else o.per_user_tok_s


def _query(
    q: PlanQuery,
    model: AnyModel,
    where: _Scope,
    gpu: GPURecord,
    quant: str,
    ctx: int,
    engine: str,
    count: int | None = None,
) -> Query:
    """One candidate as a query; on this machine, with its host RAM, RAM bandwidth and macOS
    GPU limit, as `rigfit fit --gpu auto` prices it."""
    host = where.host
    return Query(
        model,
        gpu=gpu,
        gpus=count,
        quant=quant,
        ctx=ctx,
        kv_type=q.kv_type,
        seqs=q.users,
        engine=engine,
        ram=host.ram if host else None,
        wired_limit_mb=host.wired_limit_mb if host else None,
        ram_bandwidth=host.ram_bandwidth if host else None,
        prompt_tokens=q.prompt_tokens,
        output_tokens=q.output_tokens,
        users=q.users,
    )


def _full(q: PlanQuery, model: AnyModel, o: PlanOption, ctx: int, where: _Scope) -> PlanOption:
    """The option with its full answer (memory terms, speed, command line)."""
    engine = o.engine if q.engine == AUTO_ENGINE else q.engine
    report = answer(_query(q, model, where, o.gpu, o.quant, ctx, engine, o.count))
    return replace(o, report=report)


@frozen
class ModelFit:
    """One catalog model on one system: the most precise format that fits, if any."""

    model: str
    quant: str | None  # None: no format tried fits
    engine: str | None
    weights_bytes: int | None
    used_per_gpu_bytes: int | None
    decode_tok_s: float | None


@frozen
class FitsOn:
    system: str  # in words
    ctx_tokens: int
    rows: tuple[ModelFit, ...]  # those that fit first, largest first


def models_that_fit(
    gpu: str | GPURecord,
    *,
    gpus: int | None = None,
    ctx: str | int | None = None,
    models: Sequence[str] | None = None,
) -> FitsOn:
    """Each catalog model (or ``models``) on a system (``auto``: this machine), in the most
    precise format that fits at ``ctx`` (rigfit's default context when None), under the
    engine that format implies; (the system in words, rows: those that fit first, largest
    first)."""
    from rigfit.catalog.lookup import list_models
    from rigfit.estimate.memory import estimate
    from rigfit.speed import decode_rate

    base = Query("", gpu=gpu, gpus=gpus)
    said = ""
    if is_auto(gpu):
        base, said = resolve_auto(base)
    ctx_tokens = FITS_CTX_TOKENS if ctx is None else parse_tokens(ctx)
    names = models if models is not None else [m.id for m in list_models()]
    rows = []
    for name in names:
        chosen = None
        for quant in (None, *(f.label for f in FITS_FORMATS)):
            try:
                p = plan(replace(base, model=name, quant=quant, ctx=ctx_tokens))
                est = estimate(p.request, p.profile)
            except RigfitError:
                continue
            if est.fits:
                chosen = (p, est)
                break
        if chosen is None:
            rows.append(ModelFit(name, None, None, None, None, None))
            continue
        p, est = chosen
        req = p.request
        rows.append(
            ModelFit(
                name,
                req.weight_format.label,
                p.profile.resolve(req).name,
                weight_breakdown(req.arch, req.weight_format).total_bytes,
                est.needed_per_gpu_bytes,
                decode_rate(req, p.profile),
            )
        )
    rows.sort(key=lambda r: (r.quant is None, -(r.weights_bytes or 0), r.model))
    system = said.removeprefix("--gpu auto: ") or (gpu.id if isinstance(gpu, GPURecord) else gpu)
    return FitsOn(system, ctx_tokens, tuple(rows))
