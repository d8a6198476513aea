"""The speed answers users ask for, each a central value and a measured band.

* decode tokens/s of one user, at the start of the answer and at the end of a full context;
* per-user and aggregate decode tokens/s with ``users`` concurrent sequences;
* prefill tokens/s and time to first token for the prompt;
* the time of a whole request (prompt in, output out);
* aggregate output tokens/s against concurrency (continuous batching: each request's prefill
  costs its FLOPs between decode steps, each decode step serves every active sequence), and
  the concurrency that gives the most within the memory the plan leaves.

Bands are the 10th-90th percentiles of measured/predicted on the calibration rows of the same
engine and hardware class (:mod:`rigfit.speed.calibration`).
"""

from __future__ import annotations

from rigfit.errors import InvalidSpecError
from rigfit.estimate.memory import EngineProfile, Request
from rigfit.frozen import frozen
from rigfit.speed.calibration import (
    KERNEL_PARENT,
    Band,
    Calibration,
    Constants,
    calibration,
    hardware_class,
)
from rigfit.speed.model import SpeedModel
from rigfit.speed.ram import RamBandwidth
from rigfit.units import GB

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "DEFAULT_PROMPT_TOKENS",
    "Figure",
    "ServedCycle",
    "SpeedEstimate",
    "ThroughputPoint",
    "Workload",
    "decode_rate",
    "default_workload",
    "estimate_speed",
    "served_cycle",
    "served_rates",
]

# The request priced when the user gives no lengths: a 1,024-token prompt and a 256-token
# answer (rigfit's choice of a typical chat turn, not a measurement), shrunk to the context.
DEFAULT_PROMPT_TOKENS = 1024
DEFAULT_OUTPUT_TOKENS = 256


@frozen
class Workload:
    """The request a speed answer prices: its prompt and output lengths, and how many such
    requests run at once."""

    prompt_tokens: int
    output_tokens: int
    users: int = 1

    def check(self, ctx_tokens: int) -> None:
        if self.prompt_tokens < 1 or self.output_tokens < 1:
            raise InvalidSpecError(
                f"prompt and output lengths must be at least 1 token, got"
                f" {self.prompt_tokens:,} and {self.output_tokens:,}"
            )
        if self.prompt_tokens + self.output_tokens > ctx_tokens:
            raise InvalidSpecError(
                f"a {self.prompt_tokens:,}-token prompt and {self.output_tokens:,} output tokens"
                f" exceed the context of {ctx_tokens:,} tokens (allowed: prompt + output ≤"
                " --ctx; raise --ctx or shorten them)"
            )
        if self.users < 1:
            raise InvalidSpecError(f"users must be at least 1, got {self.users}")


def default_workload(ctx_tokens: int, users: int = 1) -> Workload:
    """1,024 tokens in and 256 out, or 4/5 and 1/5 of a context shorter than that."""
    if ctx_tokens >= DEFAULT_PROMPT_TOKENS + DEFAULT_OUTPUT_TOKENS:
        return Workload(DEFAULT_PROMPT_TOKENS, DEFAULT_OUTPUT_TOKENS, users)
    prompt = max(1, ctx_tokens * 4 // 5)
    return Workload(prompt, max(1, ctx_tokens - prompt), users)


@frozen
class Figure:
    """A central value and the band the calibration residuals give around it."""

    value: float
    low: float
    high: float
    unit: str

    @staticmethod
    def of(value: float, band: Band | None, unit: str, *, inverse: bool = False) -> Figure:
        """``band`` is measured/predicted for a rate; a time (``inverse``) takes 1/ratio."""
        if band is None:
            return Figure(value, value, value, unit)
        lo, hi = (1 / band.high, 1 / band.low) if inverse else (band.low, band.high)
        return Figure(value, value * lo, value * hi, unit)


@frozen
class ThroughputPoint:
    users: int
    output_tok_s: float  # all users together
    per_user_tok_s: float


@frozen
class SpeedEstimate:
    workload: Workload
    engine: str
    backend: str | None  # llama.cpp's GPU backend (cuda, rocm, vulkan, metal, sycl); else None
    constants_key: str
    calibration_rows: int
    decode_tok_s: Figure  # one user, context at the prompt's end
    decode_full_ctx_tok_s: Figure  # one user, at the end of the full context
    per_user_tok_s: Figure  # with ``users`` decoding together
    aggregate_tok_s: Figure  # all users together
    prefill_tok_s: Figure | None  # None: the compute figure is missing
    ttft_s: Figure | None
    request_s: Figure | None
    curve: tuple[ThroughputPoint, ...]
    best_users: int | None  # the concurrency that gives the most output within memory
    bound: str  # what limits one decode step: memory bandwidth or compute
    parts: tuple[str, ...]  # where the work runs, in words
    notes: tuple[str, ...]
    # the arithmetic of one user's decode step and of the prompt's first chunk, line by line
    how: tuple[str, ...] = ()


def _constants(cal: Calibration, model: SpeedModel) -> Constants:
    return cal.lookup(model.kernels, hardware_class(model.req.system.gpu))


def estimate_speed(
    req: Request,
    profile: EngineProfile,
    workload: Workload,
    *,
    max_users: int | None = None,
    ram: RamBandwidth | None = None,
    cal: Calibration | None = None,
) -> SpeedEstimate:
    """Price ``workload`` on the plan ``req`` under ``profile`` (resolved: a real engine).

    ``max_users``: the most sequences of the workload's length the memory holds (the curve
    stops there, and the best concurrency is searched below it)."""
    workload.check(req.ctx_tokens)
    cal = cal or calibration()
    profile = profile.resolve(req)
    m = SpeedModel(req, profile, ram)
    c = _constants(cal, m)
    host, ar = cal.host_bandwidth_efficiency, cal.allreduce_latency_s
    prompt, out, users = workload.prompt_tokens, workload.output_tokens, workload.users
    bd = c.band("decode")
    bt = c.band("throughput") or bd
    notes: list[str] = []
    if c.fallback:
        notes.append(c.fallback)

    how: list[str] = [f"decode step, 1 user at {prompt + 1:,} tokens:"]
    terms: list[tuple[str, float]] = []
    step1 = m.decode_step_s(1, prompt + 1, c, host, ar, how, terms)
    step_full = m.decode_step_s(1, req.ctx_tokens, c, host, ar)

    missing = m.missing_compute()
    prefill = ttft = request = None
    if missing:
        notes.append(
            "prefill and time to first token not estimated: "
            + "; ".join(dict.fromkeys(missing))
            + " (the compute figure prefill needs; rigfit does not guess it)"
        )
        flops_cost = 0.0
    else:
        how.append(f"prefill of {prompt:,} tokens:")
        pre = m.prefill_s(prompt, c, host, ar, why=how)
        bp = c.band("prefill")
        prefill = Figure.of(prompt / pre, bp, "tok/s")
        first = c.request_overhead_s + pre
        if c.request_overhead_s:
            how.append(
                f"time to first token: {c.request_overhead_s * 1e3:.0f} ms of request handling"
                f" (fitted on {c.key}'s single-user TTFT and latency rows) + the prefill's"
                f" {pre * 1e3:.1f} ms"
            )
        ttft = Figure.of(first, bp, "s", inverse=True)
        flops_cost = prefill_compute_s(m, prompt, c)
        # the request's first token, then its other tokens at the served round's TPOT (the
        # other users' prefills between its steps)
        tpot = served_cycle(m, c, users, prompt, out, flops_cost, host, ar).tpot_s
        req_s = first + (out - 1) * tpot
        request = Figure.of(req_s, bd if users == 1 else bt, "s", inverse=True)

    def served(n: int) -> ThroughputPoint:
        return served_cycle(m, c, n, prompt, out, flops_cost, host, ar).point()

    top = max_users if max_users is not None else max(users, 1)
    if missing:
        # without the compute figure a batch's FLOPs are not priced, so output would grow
        # with users without bound: no curve beyond the users asked for, and a bound said
        top = min(top, users)
        if users > 1:
            notes.append(
                f"with {users} users the output is an upper bound: their FLOPs are not priced"
                " without the compute figure"
            )
    curve: list[ThroughputPoint] = []
    best = None
    if top >= 1 and not (missing and users == 1):
        counts = {top, *(2**i for i in range(top.bit_length()) if 2**i < top)}
        if users <= top:
            counts.add(users)
        curve = [served(n) for n in sorted(counts)]
        peak = max(p.output_tok_s for p in curve)
        if not missing:
            best = next(p.users for p in curve if p.output_tok_s >= 0.95 * peak)
    at_users = served(users)
    per_user = Figure.of(at_users.per_user_tok_s, bt if users > 1 else bd, "tok/s")
    aggregate = Figure.of(at_users.output_tok_s, bt if users > 1 else bd, "tok/s")

    if m.ram.assumed and any(p.gpu is None for p in m.parts):
        notes.append(f"system RAM bandwidth {m.ram.label}")
    if any(p.gpu is None for p in m.parts):
        notes.append(
            "layers or experts in system RAM run on the CPU at its RAM's bandwidth; prompt"
            " batches of 32 tokens or more copy those weights to the GPU over PCIe"
            " (llama.cpp's op offload)"
        )
    if KERNEL_PARENT.get(m.kernels, m.kernels) == "llama.cpp" and not m.flash_attention():
        # llm-tracker's Strix Halo runs (speed.jsonl, llmtracker rows): Llama-2-7B Q4_0 at
        # tg8192 without flash attention ran at 1/2.8 (HIP) and 1/4.7 (Vulkan) of rigfit's
        # figure, the same runs with flash attention within 17% of it; rigfit has no model of
        # the non-flash kernels, so it says so instead of scaling by two rows.
        notes.append(
            "flash attention off: rigfit prices attention as its KV-cache reads, and llama.cpp's"
            " non-flash kernels can be far slower at long context (decoding 8,192 tokens of"
            " Llama-2-7B on a Ryzen AI Max+ 395 ran 2.8x (HIP) and 4.7x (Vulkan) slower than"
            " rigfit's figure, with flash attention within 17% of it)"
        )
    notes.append("speculative decoding and MTP draft heads are not modelled")

    return SpeedEstimate(
        workload=workload,
        engine=profile.name,
        backend=profile.backend(req),
        constants_key=c.key,
        calibration_rows=c.rows,
        decode_tok_s=Figure.of(1 / step1, bd, "tok/s"),
        decode_full_ctx_tok_s=Figure.of(1 / step_full, bd, "tok/s"),
        per_user_tok_s=per_user,
        aggregate_tok_s=aggregate,
        prefill_tok_s=prefill,
        ttft_s=ttft,
        request_s=request,
        curve=tuple(curve),
        best_users=best,
        bound=_bound(terms),
        parts=tuple(_describe(m)),
        notes=tuple(notes),
        how=tuple(how),
    )


@frozen
class ServedCycle:
    """One user's round when ``users`` are served together in a closed loop (a serving
    benchmark at a fixed concurrency): the server's handling of the request, every user's
    prefill compute riding along the decode steps (their weight reads are shared with them;
    the user's own prefill gives its first token), then ``output_tokens - 1`` decode steps of
    all users at the middle of their context."""

    users: int
    output_tokens: int
    request_s: float  # the engine's fitted request overhead (0 where it has none)
    prefill_s: float  # one prompt's prefill compute
    step_s: float  # one decode step of all users

    @property
    def decode_steps(self) -> int:
        return max(self.output_tokens - 1, 0)

    @property
    def cycle_s(self) -> float:
        return self.request_s + self.users * self.prefill_s + self.decode_steps * self.step_s

    @property
    def output_tok_s(self) -> float:
        """All users' output tokens/s, request handling and prefills included."""
        return self.users * self.output_tokens / self.cycle_s

    @property
    def tpot_s(self) -> float:
        """One user's time per output token after its first (bench_serving's TPOT): a decode
        step, with the other users' prefills between its steps."""
        others = (self.users - 1) * self.prefill_s
        return self.step_s + others / max(self.decode_steps, 1)

    def point(self) -> ThroughputPoint:
        """The round as the curve shows it: all users' output, and the rate one user's
        tokens stream at (1 / TPOT)."""
        return ThroughputPoint(self.users, self.output_tok_s, 1 / self.tpot_s)


def served_cycle(
    m: SpeedModel,
    c: Constants,
    users: int,
    prompt: int,
    out: int,
    flops_cost: float,
    host: float,
    ar: float,
) -> ServedCycle:
    """The round of ``users`` requests of ``prompt`` tokens in and ``out`` out, served
    together (``flops_cost``: one prefill's compute, 0 when the compute figure is missing)."""
    step = m.decode_step_s(users, prompt + out // 2, c, host, ar)
    return ServedCycle(users, out, c.request_overhead_s, flops_cost, step)


def served_rates(
    req: Request,
    profile: EngineProfile,
    workload: Workload,
    *,
    ram: RamBandwidth | None = None,
    cal: Calibration | None = None,
) -> ThroughputPoint:
    """The central values :func:`estimate_speed` gives as ``per_user_tok_s`` and
    ``aggregate_tok_s``, without the rest of the answer (the plan searches many of them)."""
    workload.check(req.ctx_tokens)
    cal = cal or calibration()
    profile = profile.resolve(req)
    m = SpeedModel(req, profile, ram)
    c = _constants(cal, m)
    missing = m.missing_compute()
    prompt, out = workload.prompt_tokens, workload.output_tokens
    flops_cost = 0.0 if missing else prefill_compute_s(m, prompt, c)
    host, ar = cal.host_bandwidth_efficiency, cal.allreduce_latency_s
    return served_cycle(m, c, workload.users, prompt, out, flops_cost, host, ar).point()


def decode_rate(req: Request, profile: EngineProfile) -> float | None:
    """One user's decode tokens/s for the plan at rigfit's default request (the tables'
    speed column); None when the engine refuses the plan, or the model generates nothing (an
    embedding model's pooling run)."""
    from rigfit.errors import RigfitError

    if req.pooling:
        return None
    try:
        profile = profile.resolve(req)
        w = default_workload(req.ctx_tokens)
        m = SpeedModel(req, profile)
        cal = calibration()
        c = _constants(cal, m)
        step = m.decode_step_s(
            1, w.prompt_tokens + 1, c, cal.host_bandwidth_efficiency, cal.allreduce_latency_s
        )
    except RigfitError:
        return None
    return 1 / step


def prefill_compute_s(m: SpeedModel, prompt: int, c: Constants) -> float:
    """The compute time of one prompt's prefill when it rides along decode steps (its weight
    reads are shared with them): FLOPs over the slowest part's throughput."""
    mm = 2.0 * m.matmul_params * prompt
    attn = m.attention_flops(0, prompt)
    t = 0.0
    for p in m.parts:
        if p.gpu is None:
            continue
        path = m.path(p.gpu)
        assert path.flops_per_s is not None
        t += (
            (mm * p.flop_share + attn * p.layer_share)
            / p.ranks
            / (path.flops_per_s * m.compute_share(c, p.gpu))
        )
    return t


def _bound(terms: list[tuple[str, float]]) -> str:
    """What takes most of a one-user decode step, in words, with its share."""
    total = sum(t for _, t in terms) or 1.0
    by: dict[str, float] = {}
    for what, t in terms:
        key = "GPU memory bandwidth" if what.endswith(" bandwidth") and "RAM" not in what else what
        by[key] = by.get(key, 0.0) + t
    what, t = max(by.items(), key=lambda x: x[1])
    return f"{what} ({t / total:.0%} of a step)"


def _describe(m: SpeedModel) -> list[str]:
    out = []
    for p in m.parts:
        gb = (p.dense_bytes + p.expert_bytes) / GB
        where = p.label
        what = f"{gb:.2f} GB of weights" + (" per rank" if p.ranks > 1 else "")
        if p.expert_bytes and p.dense_bytes == 0:
            what = f"{gb:.2f} GB of routed experts"
        out.append(f"{where}: {what}, {p.layers} layers")
    return out
