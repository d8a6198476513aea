"""Score the speed model against the speed measurement set, and fit its constants.

Each row is rebuilt as a :class:`rigfit.answer.Query` (model, format, GPUs, the engine and the
flags its source shows) and planned through the one answer path; the metric the engine printed
is compared with the speed model's figure for the same benchmark:

* llama-bench ``tgN@dD``: ``1 / step`` of one sequence at ``D + N/2`` tokens;
* ``ppN@dD``: ``N / prefill(N after D)``;
* a served benchmark (``--max-concurrency C``, input ``I``, output ``O``): continuous batching,
  ``C × O / (C × prefill FLOPs(I) + O × step(C at I + O/2))`` output tokens/s, and that cycle
  over ``O`` as the time per output token;
* time to first token at concurrency 1: the prefill of ``I``; under load it is mostly queueing,
  which rigfit does not model: not scored.

:func:`fit_calibration` fits each engine's and hardware class's efficiencies on the rows not
held out (coordinate descent over grids: bandwidth efficiency and per-layer overhead on decode
and throughput rows, compute efficiency on prefill rows; the CPU's RAM efficiency on offload
rows and the all-reduce latency on tensor-parallel rows are shared by every key).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import cache

from rigfit.answer import Query, plan
from rigfit.errors import RigfitError
from rigfit.estimate.settings import DEFAULT_SETTINGS
from rigfit.frozen import frozen
from rigfit.speed.calibration import (
    KERNEL_PARENT,
    MIN_BAND_ROWS,
    WIDEN,
    Band,
    Calibration,
    Constants,
    HardwareClass,
    hardware_class,
    kernel_engine,
)
from rigfit.speed.estimate import prefill_compute_s, served_cycle
from rigfit.speed.model import SpeedModel
from rigfit.speed.ram import parse_ram_bandwidth
from rigfit.validation.speed_rows import SpeedMetric, SpeedRow, held_out, load_speed_rows

__all__ = [
    "SPEED_TARGETS",
    "SpeedScore",
    "fit_calibration",
    "metric_group",
    "predict_row",
    "score_speed",
    "speed_model_for",
]

# The targets (issue 10), checked by tests/validation/test_speed_targets.py on every
# scored row: (metric group, statistic, bound on |error|).
SPEED_TARGETS: tuple[tuple[str, str, float], ...] = (
    ("decode", "median", 0.10),
    ("decode", "p90", 0.25),
    ("prefill", "median", 0.20),
    ("throughput", "median", 0.25),
)

# vLLM serves at most this many sequences at once unless --max-num-seqs says otherwise (V1
# scheduler default max_num_seqs = 256 for `vllm serve`, vllm/engine/arg_utils.py 0.10); SGLang
# runs what its pool holds; rigfit caps an unbounded benchmark's concurrency at the same 256.
SERVED_SEQS_CAP = 256


class NotScoredError(Exception):
    """A row whose setup the speed model cannot replay; the message says why."""


def metric_group(metric: SpeedMetric, concurrency: int = 1) -> str:
    """The band and target group of a metric: decode, prefill or throughput."""
    if metric in (SpeedMetric.PREFILL, SpeedMetric.TTFT):
        return "prefill"
    if metric is SpeedMetric.DECODE:
        return "decode"
    if metric in (SpeedMetric.TPOT, SpeedMetric.ITL, SpeedMetric.LATENCY) and concurrency <= 1:
        return "decode"
    return "throughput"


def _concurrency(row: SpeedRow) -> int:
    s = row.setup
    if s.concurrency is not None:
        return s.concurrency
    if s.request_rate in (None, "inf") and s.num_prompts is not None:
        return min(s.num_prompts, s.max_num_seqs or SERVED_SEQS_CAP)
    return 1


# SGLang's bench_serving draws each random request's lengths uniformly from
# [max(int(L × ratio), 1), L] with --random-range-ratio defaulting to 0.0 (python/sglang/
# bench_serving.py, sample_random_requests), so a run that does not set it averages about L/2;
# vLLM's random dataset keeps L fixed at its default ratio 0.0.
SGLANG_DEFAULT_RANGE_RATIO = 0.0


def _mean_length(length: int, ratio: float) -> int:
    return (max(int(length * ratio), 1) + length) // 2


def _lengths(row: SpeedRow) -> tuple[int, int, int]:
    """(tokens already cached, prompt tokens, output tokens) of the benchmark, on average."""
    s = row.setup
    depth = s.depth or 0
    prompt = s.input_len or s.n_prompt or 0
    out = s.output_len or s.n_gen or 0
    if row.engine == "sglang" and s.input_len and s.dataset in (None, "random"):
        ratio = SGLANG_DEFAULT_RANGE_RATIO if s.random_range_ratio is None else s.random_range_ratio
        prompt, out = _mean_length(prompt, ratio), _mean_length(out, ratio)
    return depth, prompt, out


def _experts_on_cpu(override: str, model: str) -> int:
    """How many layers' expert stacks an ``-ot`` list keeps on the CPU.

    llama.cpp tries the ``pattern=buffer`` rules in order and the first whose regex matches a
    tensor's name places it (common/arg.cpp, --override-tensor). The speed of a plan depends
    on how many layers' experts sit in RAM, not which, so the rows replay as --n-cpu-moe with
    that count. A list that moves anything but the FFN of a layer is not replayed."""
    from rigfit.catalog.lookup import get_model

    rules = []
    for part in re.split(r"[;,]\s*", override.strip()):
        if not part:
            continue
        pattern, _, buffer = part.rpartition("=")
        if "ffn" not in pattern and "exps" not in pattern:
            raise NotScoredError(f"an -ot rule that moves more than experts ({part})")
        rules.append((re.compile(pattern), buffer.strip().upper()))
    n = get_model(model).arch.num_layers
    count = 0
    for i in range(n):
        name = f"blk.{i}.ffn_up_exps.weight"
        hit = next((b for rx, b in rules if rx.search(name)), None)
        if hit == "CPU":
            count += 1
    return count


def _kv(kv: str | None, engine: str) -> str:
    """The row's KV type in rigfit's words: vLLM's and SGLang's "auto" is the model dtype
    (bf16 for every catalog checkpoint they run here); fp8_e5m2/e4m3 are both 8-bit."""
    if kv is None or kv == "auto":
        return "f16" if engine in ("llama.cpp", "ollama", "mlx") else "bf16"
    return "fp8" if kv.startswith("fp8") else kv


# llama-bench's backend column as rigfit's --backend ("ROCm" before mid-2024, "HIP" since; a
# CPU-only run has no GPU backend to set)
_BACKEND = {"CUDA": "cuda", "ROCm": "rocm", "HIP": "rocm", "Vulkan": "vulkan", "Metal": "metal"}


@cache
def speed_model_for(row: SpeedRow) -> SpeedModel:
    """The plan of the row's run, through the one answer path."""
    s = row.setup
    if s.request_rate not in (None, "inf") and s.concurrency is None:
        raise NotScoredError(
            f"requests arrive at {s.request_rate}/s: the concurrency follows the arrivals"
            " (queueing), which rigfit does not model"
        )
    depth, prompt, out = _lengths(row)
    ctx = max(depth + prompt + out, 1)
    conc = _concurrency(row)
    quant: str = row.quant
    settings = DEFAULT_SETTINGS
    if row.quant.upper().startswith("MLX-"):
        quant = "BF16"
        settings = replace(settings, mlx_bits=int(row.quant.split("-")[1].rstrip("BITbit")))
    n_cpu_moe = s.n_cpu_moe or 0
    if row.engine == "llama.cpp":
        if s.override_tensor is not None:
            n_cpu_moe = _experts_on_cpu(s.override_tensor, row.model)
        settings = replace(
            settings,
            ngl=s.ngl if s.ngl is not None and s.ngl < 999 else None,
            n_cpu_moe=n_cpu_moe,
            cpu_moe=bool(s.cpu_moe) or settings.cpu_moe,
            flash_attn=s.flash_attn,
            n_ubatch=s.n_ubatch,
            backend=_BACKEND.get(row.backend or ""),
        )
        if row.parallel == "row":
            raise NotScoredError("llama.cpp's row split (-sm row) is not modelled")
    if row.engine in ("vllm", "sglang"):
        settings = replace(
            settings,
            tp=row.tp,
            pp=row.pp or 1,
            max_num_batched_tokens=s.max_num_batched_tokens if row.engine == "vllm" else None,
        )
    q = Query(
        row.model,
        gpu=row.gpu,
        gpus=row.gpus,
        quant=quant,
        ctx=ctx,
        kv_type=_kv(s.kv_type, row.engine),
        seqs=max(1, min(conc, 65536)),
        force_ctx=True,
        engine=row.engine,
        settings=settings,
    )
    try:
        p = plan(q)
        # the answer path refuses what the engine cannot run; a row of such a run is not
        # scored against figures the product would not give
        p.profile.resolve(p.request).check(p.request)
    except RigfitError as exc:
        raise NotScoredError(f"rigfit refuses the run: {exc}") from None
    ram = parse_ram_bandwidth(s.ram_bandwidth) if s.ram_bandwidth else None
    m = SpeedModel(p.request, p.profile.resolve(p.request), ram)
    if any(pt.gpu is None for pt in m.parts) and ram is None:
        raise NotScoredError("weights in system RAM, and the source names no RAM to price")
    return m


def predict_row(row: SpeedRow, c: Constants, host_eff: float, allreduce_s: float) -> float:
    """The speed model's figure for the row's metric, in the row's unit."""
    m = speed_model_for(row)
    depth, prompt, out = _lengths(row)
    conc = _concurrency(row)
    metric = row.metric
    if (
        metric is not SpeedMetric.DECODE
        and not (metric in (SpeedMetric.TPOT, SpeedMetric.ITL) and conc == 1)
        and _needs_compute(row)
    ):
        raise NotScoredError("the accelerator publishes no tensor throughput, which prefill needs")
    if metric is SpeedMetric.DECODE:
        n = out or 1
        step = m.decode_step_s(conc, depth + prompt + max(1, n // 2), c, host_eff, allreduce_s)
        return 1.0 / step
    if metric is SpeedMetric.PREFILL:
        if row.backend == "CPU":
            raise NotScoredError("prefill on the CPU alone: CPU FLOPs are not modelled")
        if prompt <= 0:
            raise NotScoredError("prefill row without a prompt length")
        tokens = prompt * conc
        return tokens / m.prefill_s(tokens, c, host_eff, allreduce_s, start=depth)
    if metric is SpeedMetric.TTFT:
        if conc > 1:
            raise NotScoredError("time to first token under load (queueing) is not modelled")
        pre = m.prefill_s(prompt, c, host_eff, allreduce_s, start=depth)
        return 1000.0 * (c.request_overhead_s + pre)
    if prompt <= 0 or out <= 0:
        raise NotScoredError("served benchmark without input and output lengths")
    if metric is SpeedMetric.LATENCY:
        pre = m.prefill_s(prompt * conc, c, host_eff, allreduce_s)
        step = m.decode_step_s(conc, prompt + out // 2, c, host_eff, allreduce_s)
        return c.request_overhead_s + pre + (out - 1) * step
    # a single user's TPOT needs no compute figure (no other prefill between its steps)
    flops = 0.0 if _needs_compute(row) else prefill_compute_s(m, prompt, c)
    cyc = served_cycle(m, c, conc, prompt, out, flops, host_eff, allreduce_s)
    if metric is SpeedMetric.OUTPUT_THROUGHPUT:
        return cyc.output_tok_s
    if metric is SpeedMetric.TOTAL_THROUGHPUT:
        return conc * (prompt + out) / cyc.cycle_s
    if metric in (SpeedMetric.TPOT, SpeedMetric.ITL):
        return 1000.0 * cyc.tpot_s
    raise NotScoredError(f"metric {metric} is not scored")


def _is_rate(row: SpeedRow) -> bool:
    return row.unit == "tok/s"


def log_error(row: SpeedRow, predicted: float) -> float:
    """log(predicted/measured) as a rate: positive when rigfit is too fast."""
    r = math.log(predicted / row.value)
    return r if _is_rate(row) else -r


def _needs_compute(row: SpeedRow) -> bool:
    return bool(speed_model_for(row).missing_compute())


def key_of(row: SpeedRow) -> str:
    """The calibration key of the row's run: its kernels (as the answer path's profile names
    them) and hardware class."""
    from rigfit.catalog.lookup import get_gpu

    try:
        kernels = speed_model_for(row).kernels
    except NotScoredError:
        kernels = kernel_engine(row.engine)  # a row that is not replayed: shown, never fitted
    return f"{kernels}/{hardware_class(get_gpu(row.gpu))}"


@frozen
class SpeedScore:
    row: SpeedRow
    predicted: float | None
    error: float | None  # predicted/measured − 1 as a rate (positive: rigfit too fast)
    group: str
    held_out: bool
    key: str
    reason: str | None = None  # why not scored


# Any constants serve to ask whether a row can be replayed at all (predict_row refuses by
# the row's setup, never by the constants' values); these are the fit's starting point.
_PROBE = Constants("probe", 0.7, 0.5, 1e-5, {}, 0)


def scorable(rows: Iterable[SpeedRow]) -> list[SpeedRow]:
    """Rows the model can replay (the rest are reported by :func:`score_speed`)."""
    out = []
    for r in rows:
        if r.excluded:
            continue
        try:
            predict_row(r, _PROBE, 0.6, 2e-5)
        except NotScoredError:
            continue
        out.append(r)
    return out


# ---- fitting ---------------------------------------------------------------------------------

_BW_GRID = [round(0.30 + 0.02 * i, 2) for i in range(36)]  # 0.30 ... 1.00
_LAYER_GRID = [i * 2.5e-6 for i in range(81)]  # 0 ... 200 µs per layer per step
_COMPUTE_GRID = [round(0.05 + 0.025 * i, 3) for i in range(39)]  # 0.05 ... 1.00
_HOST_GRID = [round(0.20 + 0.05 * i, 2) for i in range(17)]  # 0.20 ... 1.00
_AR_GRID = [i * 5e-6 for i in range(21)]  # 0 ... 100 µs per all-reduce
_REQUEST_GRID = [i * 5e-3 for i in range(61)]  # 0 ... 300 ms per request
_FACTOR_GRID = [round(0.2 + 0.025 * i, 3) for i in range(33)]  # 0.20 ... 1.00


def source_weights(rows: Sequence[SpeedRow]) -> list[float]:
    """Each row's weight in a fit: 1/sqrt(the rows of its source among ``rows``). A page's
    many cells (one notebook's eight prompt and output lengths on one machine) say more than
    one row does, but less than that many independent sources would: correlated rows count as
    the square root of their number (the design effect of clustered samples)."""
    n = Counter(str(r.source) for r in rows)
    return [1 / math.sqrt(n[str(r.source)]) for r in rows]


def _loss(
    rows: Sequence[SpeedRow],
    c: Constants | Callable[[SpeedRow], Constants],
    host: float,
    ar: float,
) -> float:
    """Mean |log error|, weighted by :func:`source_weights`, over the rows the constants (or
    each row's own, where ``c`` picks them) can price."""
    scored: list[tuple[SpeedRow, float]] = []
    for r in rows:
        try:
            e = abs(log_error(r, predict_row(r, c if isinstance(c, Constants) else c(r), host, ar)))
        except NotScoredError:
            continue
        scored.append((r, e))
    weights = source_weights([r for r, _ in scored])
    total = sum(w * e for w, (_, e) in zip(weights, scored, strict=True))
    return total / sum(weights) if weights else 0.0


def _one_device(row: SpeedRow) -> bool:
    """Whether one accelerator runs the row (with host RAM or not): what a pooled key is
    fitted on."""
    return speed_model_for(row).req.system.n_devices == 1


def _on_hopper(row: SpeedRow) -> bool:
    m = speed_model_for(row)
    return any(p.gpu is not None and m.hopper(p.gpu) for p in m.parts)


def _with(c: Constants, **kw: float) -> Constants:
    return replace(c, **kw)  # type: ignore[arg-type]


# A key gets constants of its own from this many fit rows; a field of them (a kernel class's
# bandwidth, the overhead, a compute share) from this many rows that depend on it. Below
# that, the wider key's fitted value stands (engine/class from engine/*, and engine/* and
# */class from */*): few rows say little, and the pooled value is the better estimate.
MIN_KEY_ROWS = 8
MIN_FIELD_ROWS = 3


def _fit_key(
    key: str,
    rows: Sequence[SpeedRow],
    host: float,
    ar: float,
    start: Constants,
    fitted: set[str] | None = None,
) -> Constants:
    c = replace(start, key=key, rows=len(rows), bands={})
    mem_rows = [r for r in rows if metric_group(r.metric, _concurrency(r)) != "prefill"]
    pre_rows = [r for r in rows if metric_group(r.metric, _concurrency(r)) == "prefill"]
    pooled = key.startswith("*/")
    if pooled:
        # a pooled key's constants are what one device reaches working alone: a row over
        # several devices books its unpriced costs (a tensor-parallel server's collectives
        # beyond the all-reduces, MoE dispatch and scheduler; a layer split's hand-offs) as
        # lost bandwidth and overhead, which an engine that borrows the pooled values (MLX, a
        # single-GPU vLLM) does not have
        mem_rows = [r for r in mem_rows if _one_device(r)]
        pre_rows = [r for r in pre_rows if _one_device(r)]
    plain = [r for r in mem_rows if not speed_model_for(r).quantized]
    packed = [r for r in mem_rows if speed_model_for(r).quantized]
    # llama.cpp's prompts on Hopper fit their own fraction of the shares the others fit
    pre_hopper = [r for r in pre_rows if _on_hopper(r)]
    pre_rows = [r for r in pre_rows if not _on_hopper(r)]
    pre_plain = [r for r in pre_rows if not speed_model_for(r).block_products]
    pre_packed = [r for r in pre_rows if speed_model_for(r).block_products]
    # a server's request handling is its own: fitted on an engine's first-token rows, never
    # pooled across engines
    first_token = (
        [] if pooled else [r for r in rows if r.metric in (SpeedMetric.TTFT, SpeedMetric.LATENCY)]
    )

    def best(rs: Sequence[SpeedRow], field: str, grid: Sequence[float]) -> Constants:
        if len(rs) < MIN_FIELD_ROWS:
            return c
        if fitted is not None:
            fitted.add(field)
        return min((_with(c, **{field: v}) for v in grid), key=lambda x: _loss(rs, x, host, ar))

    for _ in range(3):
        c = best(plain, "bandwidth_efficiency", _BW_GRID)
        c = best(packed, "quantized_bandwidth_efficiency", _BW_GRID)
        c = best(mem_rows, "layer_overhead_s", _LAYER_GRID)
        c = best(pre_plain, "compute_efficiency", _COMPUTE_GRID)
        c = best(pre_packed, "quantized_compute_efficiency", _COMPUTE_GRID)
        c = best(pre_hopper, "hopper_compute_factor", _FACTOR_GRID)
        c = best(first_token, "request_overhead_s", _REQUEST_GRID)
    if not first_token:
        # rows that time the prefill alone (llama-bench, mlx_lm) say nothing of a server's
        # request handling: an engine without first-token rows does not borrow another's
        c = _with(c, request_overhead_s=0.0)
    return c


def _band(errors: Sequence[float]) -> Band | None:
    """10th-90th percentile of measured/predicted (rates)."""
    if not errors:
        return None
    ratios = sorted(math.exp(-e) for e in errors)
    q = (
        statistics.quantiles(ratios, n=10, method="inclusive")
        if len(ratios) > 1
        else [ratios[0]] * 9
    )
    return Band(round(q[0], 4), round(q[-1], 4), len(ratios))


def fit_calibration(rows: Sequence[SpeedRow] | None = None) -> Calibration:
    """Fit every key's constants on the rows not held out, widest key first (each narrower
    key starts from, and keeps where its rows are too few, the wider key's values); bands
    from each key's residuals."""
    all_rows = scorable(load_speed_rows() if rows is None else rows)
    fit_rows = [r for r in all_rows if not held_out(r.id)]
    groups: dict[str, list[SpeedRow]] = {}
    for r in fit_rows:
        k = key_of(r)
        eng, cls = k.split("/")
        for kk in (k, f"{eng}/*", f"*/{cls}", "*/*"):
            groups.setdefault(kk, []).append(r)
    groups = {k: rs for k, rs in groups.items() if k == "*/*" or len(rs) >= MIN_KEY_ROWS}
    # the decode and serving rows each engine/class pair had, with a key of its own or not:
    # the lookup says "too few" where they exist and "none" where they do not, and kernels
    # calibrated apart take their own wide key only on classes they have rows on
    decode_fit_rows: dict[str, int] = {}
    for r in fit_rows:
        if metric_group(r.metric, _concurrency(r)) != "prefill":
            decode_fit_rows[key_of(r)] = decode_fit_rows.get(key_of(r), 0) + 1
    meta: dict[str, object] = {
        "rows_fit": len(fit_rows),
        "rows_scorable": len(all_rows),
        "decode_fit_rows": dict(sorted(decode_fit_rows.items())),
    }

    def wider(k: str) -> str:
        eng, cls = k.split("/")
        parent = KERNEL_PARENT.get(eng)
        if k == "*/*":
            return k
        if cls == "*" and parent is not None and f"{parent}/*" in groups:
            return f"{parent}/*"  # kernels calibrated apart start from their engine's
        if eng == "*" or cls == "*":
            return "*/*"
        tries = [f"{eng}/*"] + ([f"{parent}/{cls}", f"{parent}/*"] if parent else [])
        return next((w for w in tries if w in groups), "*/*")

    order = sorted(
        groups,
        key=lambda k: (k != "*/*", not k.endswith("/*"), k.split("/")[0] in KERNEL_PARENT, k),
    )
    host, ar = 0.6, 2e-5
    seed = Constants("*/*", 0.7, 0.5, 1e-5, {}, 0, None, 0.7, 0.5)
    consts: dict[str, Constants] = {}
    fitted: dict[str, set[str]] = {}
    for _ in range(2):
        for k in order:
            start = consts.get(k) or consts.get(wider(k)) or seed
            fitted[k] = set()
            consts[k] = _fit_key(k, groups[k], host, ar, start, fitted[k])

        def own(r: SpeedRow) -> Constants:
            # the constants the answer path would take for the row: the same lookup
            return Calibration(consts, 0.0, 0.0, meta).lookup(
                speed_model_for(r).kernels, HardwareClass(key_of(r).split("/")[1])
            )

        offload = [r for r in fit_rows if any(p.gpu is None for p in speed_model_for(r).parts)]
        if len(offload) >= MIN_FIELD_ROWS:
            host = min(_HOST_GRID, key=lambda h: _loss(offload, own, h, ar))
        tp_rows = [r for r in fit_rows if speed_model_for(r).split.tp > 1]
        if len(tp_rows) >= MIN_FIELD_ROWS:
            ar = min(_AR_GRID, key=lambda a: _loss(tp_rows, own, host, a))
    out: dict[str, Constants] = {}
    for k, c in consts.items():
        bands: dict[str, Band] = {}
        for g in ("decode", "prefill", "throughput"):
            errs = []
            for r in groups[k]:
                if metric_group(r.metric, _concurrency(r)) != g:
                    continue
                if k.startswith("*/") and not _one_device(r):
                    continue  # a pooled key's band, like its constants, is one device's
                try:
                    errs.append(log_error(r, predict_row(r, c, host, ar)))
                except NotScoredError:
                    continue
            b = _band(errs)
            if b is not None and b.rows >= MIN_BAND_ROWS:
                bands[g] = b
        out[k] = replace(
            c,
            bandwidth_efficiency=round(c.bandwidth_efficiency, 4),
            compute_efficiency=round(c.compute_efficiency, 4),
            layer_overhead_s=round(c.layer_overhead_s, 9),
            request_overhead_s=round(c.request_overhead_s, 4),
            quantized_bandwidth_efficiency=None
            if c.quantized_bandwidth_efficiency is None
            else round(c.quantized_bandwidth_efficiency, 4),
            quantized_compute_efficiency=None
            if c.quantized_compute_efficiency is None
            else round(c.quantized_compute_efficiency, 4),
            hopper_compute_factor=None
            if c.hopper_compute_factor is None
            else round(c.hopper_compute_factor, 4),
            bands=bands,
        )
    # a key whose own rows are too few for a band takes its engine's (or everyone's)
    for k, c in out.items():
        eng = k.split("/")[0]
        for g in ("decode", "prefill", "throughput"):
            if g in c.bands:
                continue
            parent = KERNEL_PARENT.get(eng)
            for broader in (f"{eng}/*", *((f"{parent}/*",) if parent else ()), "*/*"):
                b = out.get(broader, c).bands.get(g)
                if b is not None and broader != k:
                    c.bands[g] = Band(round(b.low / WIDEN, 4), round(b.high * WIDEN, 4), b.rows)
                    break
    meta["at_grid_edge"] = _at_grid_edge(out, fitted)
    return Calibration(out, host, ar, meta)


# each fitted field with the grid the fit searches
_GRIDS: dict[str, Sequence[float]] = {
    "bandwidth_efficiency": _BW_GRID,
    "quantized_bandwidth_efficiency": _BW_GRID,
    "layer_overhead_s": _LAYER_GRID,
    "compute_efficiency": _COMPUTE_GRID,
    "quantized_compute_efficiency": _COMPUTE_GRID,
    "hopper_compute_factor": _FACTOR_GRID,
    "request_overhead_s": _REQUEST_GRID,
}


def _at_grid_edge(
    consts: dict[str, Constants], fitted: dict[str, set[str]] | None = None
) -> dict[str, list[str]]:
    """The fields each key's own rows fitted (``fitted``; all of them when None) that it holds
    at an end of the grid the fit searches (0 excepted for the overheads, which may be
    nothing): where the rows want a value beyond it, the model's terms do not say what those
    rows show, and the value is a bound, not a fit. A field kept from a wider key is that
    key's to report."""
    out: dict[str, list[str]] = {}
    for k, c in sorted(consts.items()):
        edge = []
        for field, grid in _GRIDS.items():
            if fitted is not None and field not in fitted.get(k, set()):
                continue
            v = getattr(c, field)
            if v is None or (v == 0 and field.endswith("overhead_s")):
                continue
            if math.isclose(v, grid[0]) or math.isclose(v, grid[-1]):
                edge.append(field)
        if edge:
            out[k] = edge
    return out


# ---- scoring ---------------------------------------------------------------------------------


def score_speed(
    rows: Iterable[SpeedRow] | None = None, cal: Calibration | None = None
) -> list[SpeedScore]:
    from rigfit.speed.calibration import calibration

    cal = cal or calibration()
    out = []
    for r in load_speed_rows() if rows is None else rows:
        k = key_of(r) if not r.excluded else ""
        conc = _concurrency(r)
        group = metric_group(r.metric, conc)
        if r.excluded:
            out.append(SpeedScore(r, None, None, group, held_out(r.id), k, r.excluded))
            continue
        try:
            m = speed_model_for(r)
            c = cal.lookup(m.kernels, HardwareClass(k.split("/")[1]))
            pred = predict_row(r, c, cal.host_bandwidth_efficiency, cal.allreduce_latency_s)
        except NotScoredError as exc:
            out.append(SpeedScore(r, None, None, group, held_out(r.id), k, str(exc)))
            continue
        err = math.exp(log_error(r, pred)) - 1
        out.append(SpeedScore(r, pred, err, group, held_out(r.id), k))
    return out
