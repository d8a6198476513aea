"""The ``rigfit`` command line: parse, call the library, render. No formula lives here."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from rigfit import _gc
from rigfit.answer import Query, answer, answer_table, is_auto, resolve_auto
from rigfit.api import resolve_model
from rigfit.catalog.lookup import Model, find_gpus, find_models
from rigfit.catalog.schema import GPURecord
from rigfit.errors import InvalidSpecError, RigfitError
from rigfit.estimate.memory import DEFAULT_CTX_TOKENS, MAX_SEQS
from rigfit.estimate.plan import MAX_GPUS_SEARCHED
from rigfit.estimate.settings import OPTIONS, EngineSettings, settings_from
from rigfit.hardware import MAX_GPUS
from rigfit.plan_settings import DEFAULT_MAX_GPUS, FITS_CTX_TOKENS, Minimize
from rigfit.report import GPUTableReport, gguf_files_dict, gpu_dict, model_dict
from rigfit.strict import dump
from rigfit.train.setup import LossKind, Method, Optimizer, Sharding
from rigfit.units import fmt_bytes, fmt_rate, fmt_seconds, parse_count

__all__ = ["main"]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: set[int]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


class _Group(click.Group):
    """Turns rigfit's own errors into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RigfitError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        finally:
            _gc.answered()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="rigfit")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Will this open-weight LLM fit on these GPUs, and why? Exact, sourced estimates."""
    ctx.obj = {"debug": debug}


_UNIT = click.option(
    "--unit",
    type=click.Choice(["GB", "GiB"]),
    default="GB",
    show_default=True,
    help="Unit for printed sizes (GB = 10^9 bytes, GiB = 2^30).",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the documented JSON.")

_CLICK_TYPES: dict[str, Any] = {"int": int, "float": float, "text": str, "split": str}


def _engine_options(f: Any) -> Any:
    """The engine options, generated from the one table (rigfit.estimate.settings.OPTIONS)."""
    for o in reversed(OPTIONS):
        engines = ", ".join(sorted(o.engines))
        help_ = f"{o.help} [{engines}]"
        if o.kind == "bool":
            f = click.option(o.flag, o.field, is_flag=True, help=help_)(f)
        elif o.kind == "choice":
            f = click.option(o.flag, o.field, type=click.Choice(o.choices), help=help_)(f)
        else:
            f = click.option(o.flag, o.field, type=_CLICK_TYPES[o.kind], help=help_)(f)
    return f


@main.command()
@click.argument("model")
@click.option(
    "--gpu",
    help="Accelerator id or alias (rtx-4090, h200); auto: this machine's; custom:memory=24GiB,"
    "bandwidth=1008GB/s,bf16=165TFLOPS for any other. Omit to compare all.",
)
@click.option(
    "--gpus",
    type=click.IntRange(1, MAX_GPUS),
    help="Number of identical accelerators (default 1; with --gpu auto, all detected).",
)
@click.option(
    "--quant",
    help="Weight format, e.g. Q4_K_M, Q8_0, BF16, FP8, AWQ, NVFP4 (default: the checkpoint's own).",
)
@click.option(
    "--ctx",
    help="Context length per sequence: 4096, 32k, 128K (default: the engine's own default).",
)
@click.option(
    "--kv-type",
    default="f16",
    show_default=True,
    help="KV cache type: f16, bf16, fp8, q8_0, q4_0, ...",
)
@click.option(
    "--seqs",
    type=int,
    default=1,
    show_default=True,
    help="Concurrent sequences, each of --ctx tokens.",
)
@click.option("--force-ctx", is_flag=True, help="Allow a context above the model's maximum.")
@click.option(
    "--add-gpu",
    "add_gpu",
    multiple=True,
    help="One more accelerator of another kind in the same host (repeatable): a mixed system.",
)
@click.option(
    "--engine",
    default="auto",
    show_default=True,
    help="Account memory as this engine does: auto (the one the format and GPU imply),"
    " llama.cpp, ollama, vllm, sglang, transformers, mlx, generic.",
)
@click.option(
    "--ram",
    help="System RAM of the host (64GB, 128GiB): checks what the plan puts there.",
)
@click.option(
    "--wired-limit-mb",
    type=click.IntRange(1, 1 << 24),
    help="Apple silicon: the GPU memory limit set with sudo sysctl iogpu.wired_limit_mb=N.",
)
@click.option(
    "--ram-bandwidth",
    help="Host RAM bandwidth for weights kept in RAM: 90GB/s, DDR5-6000x2 (MT/s × channels)"
    " or a preset (ddr4-2x, ddr5-2x, ddr5-4x, ddr5-8x, ddr5-12x).",
)
@_engine_options
@_UNIT
@_JSON
def fit(
    model: str,
    gpu: str | None,
    gpus: int | None,
    quant: str | None,
    ctx: str | None,
    kv_type: str,
    seqs: int,
    force_ctx: bool,
    add_gpu: tuple[str, ...],
    engine: str,
    ram: str | None,
    wired_limit_mb: int | None,
    ram_bandwidth: str | None,
    unit: str,
    as_json: bool,
    **engine_options: Any,
) -> None:
    """Will MODEL fit? Memory per term, per GPU and in total, headroom or shortfall, and how
    fast it runs.

    MODEL is a catalog id or alias, a path to a config.json, a .gguf or .safetensors file or a
    folder of them, or a Hugging Face id (only configs and headers are fetched).
    """
    speed_opts = {k: engine_options.pop(k, None) for k in ("_prompt", "_output", "_users")}
    speed_only = bool(engine_options.pop("_speed_only", False))
    settings = EngineSettings(**settings_from(engine_options))
    query = Query(
        model,
        gpu,
        gpus=gpus,
        quant=quant,
        ctx=ctx,
        kv_type=kv_type,
        seqs=seqs,
        force_ctx=force_ctx,
        add_gpu=add_gpu,
        engine=engine,
        settings=settings,
        ram=ram,
        wired_limit_mb=wired_limit_mb,
        files=True,
        ram_bandwidth=ram_bandwidth,
        prompt_tokens=speed_opts["_prompt"],
        output_tokens=speed_opts["_output"],
        users=speed_opts["_users"],
    )
    if gpu is None:
        if speed_only:
            raise InvalidSpecError("rigfit speed needs --gpu: the accelerator to price")
        _fit_table(answer_table(query), unit, as_json)
        return
    report = answer(query)
    if as_json:
        data = dump(report)
        _emit_json(data if not speed_only else {"speed": data["speed"], **_speed_head(data)})
        return
    if speed_only:
        _render_speed_only(dump(report), unit)
        return
    _render_fit(dump(report), unit)


def _speed_head(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("schema_version", "model", "gpu", "gpus", "quant", "kv_type", "ctx_tokens", "seqs")
    return {k: d[k] for k in keys} | {
        "profile": d["profile"],
        "fits": d["fits"],
        "speed_note": d.get("speed_note"),
    }


def _fmt_rate(f: dict[str, Any]) -> str:
    """A rate figure and its band: ``19.3 tok/s (17.5-21.3)``."""
    if f["low"] == f["high"]:
        return fmt_rate(f["value"])
    band = "-".join(fmt_rate(x).removesuffix(" tok/s") for x in (f["low"], f["high"]))
    return f"{fmt_rate(f['value'])} ({band})"


def _fmt_time(f: dict[str, Any]) -> str:
    """A time figure and its band: ``1.3 s (1.2 s-1.8 s)``."""
    if f["low"] == f["high"]:
        return fmt_seconds(f["value"])
    return f"{fmt_seconds(f['value'])} ({fmt_seconds(f['low'])}-{fmt_seconds(f['high'])})"


def _render_speed(d: dict[str, Any]) -> None:
    """The speed section of a report: figures with their bands, the curve, notes."""
    sp = d.get("speed")
    if sp is None:
        if d.get("speed_note"):
            click.echo(f"speed: {d['speed_note']}")
        return
    click.echo(
        f"speed ({sp['engine']}{f', {b} backend' if (b := sp.get('backend')) else ''};"
        f" a {sp['prompt_tokens']:,}-token prompt,"
        f" {sp['output_tokens']:,} tokens out; band: 10th-90th percentile of measured/predicted"
        f" on {sp['calibration_key']})"
    )
    rows = [["decode, 1 user", _fmt_rate(sp["decode_tok_s"])]]
    rows.append(
        [f"decode, 1 user at {d['ctx_tokens']:,} tokens", _fmt_rate(sp["decode_full_ctx_tok_s"])]
    )
    if sp["users"] > 1:
        rows.append([f"decode, each of {sp['users']} users", _fmt_rate(sp["per_user_tok_s"])])
        rows.append([f"output, {sp['users']} users together", _fmt_rate(sp["aggregate_tok_s"])])
    if sp["prefill_tok_s"] is not None:
        rows.append(["prefill", _fmt_rate(sp["prefill_tok_s"])])
        rows.append(["time to first token", _fmt_time(sp["ttft_s"])])
        rows.append(["whole request", _fmt_time(sp["request_s"])])
    click.echo(_table(["", "speed"], rows, {1}))
    click.echo(f"one user's step is limited by {sp['bound']}")
    curve = sp["throughput_curve"]
    if len(curve) > 1:
        pts = ", ".join(f"{p['users']}: {p['output_tok_s']:,.0f}" for p in curve)
        top = curve[-1]["users"]
        upto = f"memory allows {top}" if sp["best_users"] is not None else f"up to {top}"
        click.echo(f"output tok/s by concurrent users ({upto}): {pts}")
        if sp["best_users"] is not None:
            click.echo(f"95% of the most output from {sp['best_users']} users on")
    for part in sp["parts"]:
        click.echo(f"  runs on {part}")
    for note in sp["notes"]:
        click.echo(f"note: {note}")


def _render_speed_only(d: dict[str, Any], unit: str) -> None:
    click.echo(
        f"{d['model']}  {d['quant']} weights on {_system_label(d)}, {d['kv_type']} KV cache,"
        f" {d['ctx_tokens']:,}-token context; engine: {d['profile']}"
    )
    if d.get("engine_reason"):
        click.echo(f"engine chosen by default: {d['engine_reason']}; --engine names another")
    if not d["fits"]:
        click.echo(f"DOES NOT FIT: {fmt_bytes(d['shortfall_per_gpu_bytes'], unit)} short")
        for s in d["suggestions"][:3]:
            click.echo(f"  - would fit with: {s['change']}")
    click.echo("")
    _render_speed(d)
    sp = d.get("speed")
    if sp and sp.get("how"):
        click.echo("")
        click.echo("how (docs/speed.md):")
        for line in sp["how"]:
            click.echo(f"  {line}")


@main.command("speed")
@click.option("--prompt", "_prompt", type=int, help="Prompt tokens per request (default 1024).")
@click.option("--output", "_output", type=int, help="Output tokens per request (default 256).")
@click.option("--users", "_users", type=int, help="Concurrent requests (default: --seqs).")
def speed_cmd(**kwargs: Any) -> None:
    """How fast MODEL runs on --gpu: decode and prefill tokens/s, time to first token, the
    whole request, and output against concurrency, each with its measured band."""
    click.get_current_context().invoke(fit, _speed_only=True, **kwargs)


# rigfit speed takes every option of rigfit fit (one table of plan options), then its own
speed_cmd.params = [*fit.params, *speed_cmd.params]


def _system_label(d: dict[str, Any]) -> str:
    """``2 × rtx-4090`` or ``2 × rtx-4090 + rtx-3090`` from a report's devices."""
    counts: dict[str, int] = {}
    for x in d.get("devices") or []:
        counts[x["gpu"]] = counts.get(x["gpu"], 0) + 1
    if not counts:
        counts[d["gpu"]] = d["gpus"]
    return " + ".join(
        f"{n} × {g}" if n > 1 or i == 0 else g for i, (g, n) in enumerate(counts.items())
    )


def _render_fit(d: dict[str, Any], unit: str) -> None:
    def b(x: int) -> str:
        return fmt_bytes(x, unit)

    system = _system_label(d)

    click.echo(
        f"{d['model']}  {d['quant']} weights, {d['kv_type']} KV cache,"
        f" {d['ctx_tokens']:,} tokens × {d['seqs']} sequence(s)"
    )
    version = f" {d['engine_version']}" if d.get("engine_version") else ""
    click.echo(
        f"on {system}: {b(d['capacity_per_gpu_bytes'])} usable on the tightest"
        f" ({d['capacity_basis']}); engine: {d['profile']}{version}"
    )
    if d.get("engine_reason"):
        click.echo(f"engine chosen by default: {d['engine_reason']}; --engine names another")
    if d.get("ctx_reason"):
        click.echo(f"context: {d['ctx_reason']}")
    click.echo("")
    gpu_terms = [t for t in d["terms"] if not t.get("host")]
    devices = d.get("devices") or []
    # the "per GPU" column is the tightest device's, so that it adds up to the total row
    tight = min(devices, key=lambda x: (x["headroom_bytes"], x["index"]))["index"] if devices else 0

    def on_tight(t: dict[str, Any]) -> int:
        per = t.get("per_device") or []
        return int(per[tight]) if per else int(t["per_gpu_bytes"])

    rows = [[t["label"], b(t["total_bytes"]), b(on_tight(t)), t["formula"]] for t in gpu_terms]
    rows.append(["total on GPUs", b(d["total_bytes"]), b(d["per_gpu_bytes"]), ""])
    click.echo(_table(["term", "total", "per GPU", "how"], rows, {1, 2}))
    host_terms = [t for t in d["terms"] if t.get("host") and t["total_bytes"]]
    if host_terms:
        click.echo("")
        hrows = [[t["label"], b(t["total_bytes"]), t["formula"]] for t in host_terms]
        hrows.append(["total in system RAM", b(d["host_bytes"]), ""])
        click.echo(_table(["host memory", "bytes", "how"], hrows, {1}))
    if len(devices) > 1 and len({(x["gpu"], x["used_bytes"]) for x in devices}) > 1:
        click.echo("")
        drows = [
            [
                f"GPU{x['index']}",
                x["gpu"],
                b(x["used_bytes"]),
                b(x["capacity_bytes"]),
                b(x["headroom_bytes"]),
            ]
            for x in devices
        ]
        click.echo(_table(["device", "gpu", "used", "usable", "free"], drows, {2, 3, 4}))
    pool = d.get("kv_pool")
    if pool:
        click.echo("")
        blocks = f", {pool['blocks']:,} blocks of {pool['block_tokens']}" if pool["blocks"] else ""
        if pool["budget_per_gpu_bytes"] < 0:
            # the engine's share of the GPU is gone before the KV cache: no pool, not a
            # negative one
            click.echo(
                f"KV pool: none: weights and buffers exceed the engine's share by"
                f" {b(-pool['budget_per_gpu_bytes'])} per GPU"
            )
        else:
            click.echo(
                f"KV pool: {b(pool['budget_per_gpu_bytes'])} per GPU"
                f" = {pool['tokens']:,} tokens{blocks}"
            )
        if pool["max_concurrency"] is not None:
            click.echo(
                f"maximum concurrency for {d['ctx_tokens']:,} tokens per request:"
                f" {pool['max_concurrency']:.2f}x"
            )
    for note in d.get("notes") or []:
        click.echo(f"note: {note}")
    click.echo("")
    where = "in the KV pool" if pool else "per GPU"
    if d["fits"]:
        click.echo(
            f"FITS: {b(d['headroom_per_gpu_bytes'])} free {where}"
            f" ({d['per_gpu_bytes'] / d['capacity_per_gpu_bytes']:.0%} of the GPU used)"
        )
    else:
        short = []
        if d["shortfall_per_gpu_bytes"]:
            short.append(f"{b(d['shortfall_per_gpu_bytes'])} short {where}")
        if (d.get("host_headroom_bytes") or 0) < 0:
            short.append(f"{b(-d['host_headroom_bytes'])} of system RAM short")
        click.echo("DOES NOT FIT: " + "; ".join(short))
    if d.get("host_ram_bytes") is not None and (d.get("host_headroom_bytes") or 0) >= 0:
        click.echo(
            f"system RAM: {b(d['host_ram_bytes'] - d['host_headroom_bytes'])} of"
            f" {b(d['host_ram_bytes'])} used"
        )
    if d["max_ctx_tokens"] >= 1:
        click.echo(f"largest context at {d['seqs']} sequence(s): {d['max_ctx_tokens']:,} tokens")
    else:
        click.echo("no context fits: the weights alone do not fit")
    if d["max_seqs"] >= 1:
        click.echo(f"most sequences at {d['ctx_tokens']:,} tokens: {d['max_seqs']:,}")
    if d["suggestions"]:
        click.echo("would fit with:")
        for s in d["suggestions"]:
            click.echo(
                f"  - {s['change']}: {b(s['per_gpu_bytes'])} per GPU,"
                f" {b(s['headroom_per_gpu_bytes'])} free; costs {s['cost']}"
            )
    if d.get("speed") is not None or d.get("speed_note"):
        click.echo("")
        _render_speed(d)
    if d.get("command"):
        click.echo("")
        click.echo("command:")
        click.echo(f"  {d['command']}")


def _fit_table(report: GPUTableReport, unit: str, as_json: bool) -> None:
    data = dump(report)
    if as_json:
        _emit_json(data)
        return
    click.echo(
        f"{report.model}  {report.quant}, {report.kv_type} KV, {report.ctx_tokens:,} tokens"
        f" × {report.seqs}: accelerators that fit, each priced by the engine that runs it there"
    )
    out = []
    for r in data["rows"]:
        need = r["gpus_needed"]
        out.append(
            [
                r["gpu"],
                r["name"],
                r["engine"] or "-",
                "-" if need is None else str(need),
                fmt_bytes(r["capacity_per_gpu_bytes"], unit),
                "-" if r["per_gpu_bytes"] is None else fmt_bytes(r["per_gpu_bytes"], unit),
                "> 64 needed" if need is None else fmt_bytes(r["headroom_per_gpu_bytes"], unit),
                "-" if r["decode_tok_s"] is None else f"{r['decode_tok_s']:,.1f}",
            ]
        )
    click.echo(
        _table(
            ["id", "name", "engine", "GPUs", "capacity", "used/GPU", "free/GPU", "tok/s"],
            out,
            {3, 4, 5, 6, 7},
        )
    )
    click.echo(
        "tok/s: one user's decode speed on that many (a 1,024-token prompt; rigfit speed"
        " gives its range)"
    )
    if left := data["left_out"]:
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        click.echo(
            f"left out: {len(left)} accelerator(s) the engine does not run this request on"
            f" ({shown}; --gpu ID says why)"
        )


@main.command()
@click.argument("model")
@_JSON
def show(model: str, as_json: bool) -> None:
    """The spec sheet of MODEL, from its config.json, with sources.

    MODEL is a catalog id or alias, a config.json, a .gguf or .safetensors file, a folder of
    them, or a Hugging Face id.
    """
    m = resolve_model(model, files=True, progress=not as_json)
    d = model_dict(m)
    if as_json:
        _emit_json(d)
        return
    if not isinstance(m, Model):
        _render_file_model(d)
        return
    moe = (
        f"MoE: {d['experts']} routed experts + {d['shared_experts']} shared,"
        f" {d['experts_per_token']} per token"
        + (", beside a dense MLP in every layer" if d.get("dense_mlp_beside_experts") else "")
        + (
            f", experts in a {d['expert_latent_size']:,}-wide latent"
            if d.get("expert_latent_size")
            else ""
        )
        if d["moe"]
        else "dense"
    )
    rows = [
        ("organization", d["organization"]),
        ("family", d["family"]),
        ("lineage", d["lineage"] or "-"),
        ("base model", d["base_model"] or "-"),
        ("released", d["release_date"] or "not recorded (no primary source found)"),
        ("license", d["license"]),
        ("modality", d["modality"]),
        ("task", d["task"]),
        ("context length", f"{d['context_length']:,} tokens"),
        (
            "parameters",
            f"{d['params_total']:,} total, {d['params_active']:,} active"
            f" (official: {d['params_official_total']:,}"
            + (", language model" if d["params_official_scope"] == "language model" else "")
            + ")",
        ),
        ("kind", moe),
        ("layers", d["num_layers"]),
        ("hidden size", d["hidden_size"]),
        ("attention", f"{d['attention']}: {d['kv_note']}"),
        ("heads / KV heads / head dim", d["heads_note"]),
        ("KV cache per token (f16)", f"{d['kv_bytes_per_token_f16']:,} bytes"),
        ("vocabulary", f"{d['vocab_size']:,}"),
        ("activation", d["activation"]),
        ("normalization", d["normalization"]),
        ("position", d["position_embedding"]),
        ("checkpoint", f"{d['checkpoint_dtype']}, quantization {d['checkpoint_quantization']}"),
        ("config source", d["sources"]["config"]),
    ]
    click.echo(f"{d['name']} ({d['id']})")
    click.echo(d["description"])
    click.echo("")
    click.echo(_table(["field", "value"], rows, set()))
    ev = d.get("evidence")
    if ev:
        cutoff = ev["knowledge_cutoff"] or "not stated"
        click.echo(f"\nknowledge cutoff: {cutoff} ({ev['knowledge_cutoff_note']})")
    if ev and ev["benchmarks"]:
        click.echo(f"\npublished benchmarks ({ev['benchmark_source']}):")
        click.echo(
            _table(
                ["benchmark", "metric", "score"],
                [(b["benchmark"], b["metric"], f"{b['score']:g}") for b in ev["benchmarks"]],
                {2},
            )
        )
        click.echo(f"setting: {ev['benchmark_setting']}")
    if ev:
        click.echo(f"\ntransparency: {d['transparency_score']}/100 (yes 10, partly 5, no 0)")
        click.echo(
            _table(
                ["criterion", "answer", "source"],
                [(a["criterion"], a["answer"], a["link"]) for a in ev["transparency"]],
                set(),
            )
        )
    for dis in d["disagreements"]:
        click.echo(
            f"note: {dis['page']} ({dis['url']}) says {dis['field']} = {dis['page_value']};"
            f" the primary source says {dis['primary_value']}"
        )


def _render_file_model(d: dict[str, Any]) -> None:
    moe = (
        f"MoE: {d['experts']} experts, {d['experts_per_token']} per token" if d["moe"] else "dense"
    )
    rows: list[tuple[str, Any]] = [
        ("read from", f"{d['source']} ({d['kind']})"),
        ("architecture", d["architecture"]),
        ("context length", f"{d['context_length']:,} tokens"),
        ("parameters", f"{d['params_total']:,} total, {d['params_active']:,} active"),
        ("kind", moe),
        ("layers", d["num_layers"]),
        ("hidden size", d["hidden_size"]),
        ("attention", f"{d['attention']}: {d['kv_note']}"),
        ("KV cache per token (f16)", f"{d['kv_bytes_per_token_f16']:,} bytes"),
        ("vocabulary", f"{d['vocab_size']:,}"),
        ("position", d["position_embedding"]),
        ("weight format", d["native_format"] or "-"),
    ]
    if d["file_weights_bytes"] is not None:
        rows.append(
            (
                "tensor bytes (headers)",
                f"{d['file_weights_bytes']:,} in {d['file_tensors']:,} tensors",
            )
        )
        rows += [(f"  {k}", f"{v:,}") for k, v in d["by_dtype"].items()]
    click.echo(d["id"])
    click.echo("")
    click.echo(_table(["field", "value"], rows, set()))
    for note in d["notes"]:
        click.echo(f"note: {note}")


@main.command("gguf")
@click.argument("model")
@click.option(
    "--imatrix/--no-imatrix",
    default=None,
    help="Assume an importance matrix (most published quants) or not (plain llama-quantize);"
    " default: only where the type needs one.",
)
@_UNIT
@_JSON
def gguf_cmd(model: str, imatrix: bool | None, unit: str, as_json: bool) -> None:
    """Predicted GGUF file size of MODEL in every llama.cpp file type, without the file.

    Replays llama.cpp's per-tensor type choice over the model's tensors; MODEL is a catalog id,
    a config.json or a Hugging Face id.
    """
    m = resolve_model(model, files=True, progress=not as_json)
    from rigfit.formats.gguf.size import gguf_file_table

    d = gguf_files_dict(m, gguf_file_table(m.arch, imatrix=imatrix), m.arch.model_type)
    if as_json:
        _emit_json(d)
        return
    click.echo(f"{d['model']}: {d['params']:,} parameters; type choice replays {d['source']}")
    rows = [
        [
            r["ftype"],
            fmt_bytes(r["file_bytes"], unit),
            f"{r['bits_per_weight']:.2f}",
            "yes" if r["imatrix"] else "no",
            ", ".join(f"{k} {fmt_bytes(v, unit)}" for k, v in list(r["by_type"].items())[:3]),
        ]
        for r in d["rows"]
    ]
    click.echo(_table(["type", "file", "bits/weight", "imatrix", "largest parts"], rows, {1, 2}))
    click.echo("file = tensors + alignment + header; the tokenizer metadata is estimated")


@main.command()
@click.option(
    "--engine",
    help="Only rows, statistics and targets of this engine (llama.cpp, vllm, sglang...).",
)
@click.option("--rows/--no-rows", default=True, show_default=True, help="Print every row.")
@_JSON
def validate(engine: str | None, rows: bool, as_json: bool) -> None:
    """Score rigfit against the measurement set: error per row, median and p90 per engine and
    term, and whether each accuracy target holds (exit 1 if one does not)."""
    from rigfit.validation.report import render_validation, validation_dict
    from rigfit.validation.speed_report import render_speed_validation, speed_validation_dict
    from rigfit.validation.train_report import render_train_validation, train_validation_dict

    data = validation_dict(engine)
    speed = speed_validation_dict(engine)
    train = train_validation_dict()
    if as_json:
        _emit_json({**data, "speed": speed, "train": train})
    else:
        click.echo(render_validation(data, rows=rows))
        click.echo("")
        click.echo(render_speed_validation(speed, rows=rows))
        click.echo("")
        click.echo(render_train_validation(train, rows=rows))
    met = [t["holds"] for t in data["targets"]] + [t["met"] for t in speed["targets"]]
    met += [t["met"] for t in train["targets"]]
    if not all(met):
        sys.exit(1)


@main.command("models")
@click.option("--family", help="Substring of the family, e.g. qwen3, llama.")
@click.option("--org", help="Substring of the organization.")
@click.option("--moe/--dense", "moe", default=None, help="Only MoE or only dense models.")
@click.option("--min-params", type=float, help="At least this many billion parameters.")
@click.option("--max-params", type=float, help="At most this many billion parameters.")
@click.option("--search", help="Substring of the id, name or aliases.")
@click.option(
    "--fits",
    help="Only models that run on this accelerator (auto: this machine; custom:...), each in"
    " the most precise format that fits.",
)
@click.option(
    "--gpus",
    type=click.IntRange(1, MAX_GPUS),
    help="With --fits: how many (default 1; all detected with auto).",
)
@click.option(
    "--ctx",
    help=f"With --fits: the context each must hold (default {FITS_CTX_TOKENS:,}).",
)
@_JSON
def models_cmd(
    family: str | None,
    org: str | None,
    moe: bool | None,
    min_params: float | None,
    max_params: float | None,
    search: str | None,
    fits: str | None,
    gpus: int | None,
    ctx: str | None,
    as_json: bool,
) -> None:
    """List catalog models, filtered; with --fits, those that run on a system."""
    picked = find_models(
        family=family,
        org=org,
        moe=moe,
        min_params=None if min_params is None else min_params * 1e9,
        max_params=None if max_params is None else max_params * 1e9,
        search=search,
    )
    if fits is not None:
        _render_fits(fits, gpus, ctx, [m.id for m in picked], as_json)
        return
    if gpus is not None or ctx is not None:
        raise InvalidSpecError("--gpus and --ctx go with --fits (the system the models run on)")
    if as_json:
        _emit_json([model_dict(m) for m in picked])
        return
    rows = [
        [
            m.id,
            m.record.family,
            f"{m.arch.params_total / 1e9:.1f}B",
            f"{m.arch.params_active / 1e9:.1f}B" if m.arch.is_moe else "-",
            f"{m.arch.context_length:,}",
            m.arch.attention.kind.name,
        ]
        for m in picked
    ]
    click.echo(_table(["id", "family", "params", "active", "context", "attn"], rows, {2, 3, 4}))
    click.echo(f"{len(picked)} model(s)")


def _render_fits(
    gpu: str, gpus: int | None, ctx: str | None, names: list[str], as_json: bool
) -> None:
    from rigfit.planner import models_that_fit
    from rigfit.report import models_fit_report

    found = models_that_fit(gpu, gpus=gpus, ctx=ctx, models=names)
    fitting = [r for r in found.rows if r.quant is not None]
    if as_json:
        _emit_json(dump(models_fit_report(found)))
        return
    table = [
        [
            r.model,
            r.quant,
            r.engine,
            fmt_bytes(r.weights_bytes or 0),
            fmt_bytes(r.used_per_gpu_bytes or 0),
            fmt_rate(r.decode_tok_s) if r.decode_tok_s else "-",
        ]
        for r in fitting
    ]
    click.echo(f"on {found.system}, at {found.ctx_tokens:,} tokens:")
    heads = ["model", "format", "engine", "weights", "per GPU", "decode"]
    click.echo(_table(heads, table, {3, 4, 5}))
    click.echo(f"{len(fitting)} of {len(found.rows)} model(s) fit (most precise format that fits)")


@main.command("gpus")
@click.option("--vendor", type=click.Choice(["nvidia", "amd", "apple", "intel"]))
@click.option(
    "--segment", type=click.Choice(["datacenter", "workstation", "consumer", "apple-silicon"])
)
@click.option("--min-memory", type=float, help="At least this many GB of memory.")
@click.option("--search", help="Substring of the id, name or aliases.")
@_JSON
def gpus_cmd(
    vendor: str | None,
    segment: str | None,
    min_memory: float | None,
    search: str | None,
    as_json: bool,
) -> None:
    """List catalog accelerators, filtered."""
    picked = find_gpus(vendor=vendor, segment=segment, min_memory_gb=min_memory, search=search)
    if as_json:
        _emit_json([gpu_dict(g) for g in picked])
        return

    def opt(x: float | None) -> str:
        return "-" if x is None else f"{x:g}"

    rows = [
        [
            g.id,
            g.name,
            f"{g.memory_gb:g} GB",
            f"{g.bandwidth_gb_s:g}",
            opt(g.bf16_dense_tflops),
            opt(g.fp8_dense_tflops),
            opt(g.tdp_w),
        ]
        for g in picked
    ]
    click.echo(
        _table(
            ["id", "name", "memory", "GB/s", "BF16 TFLOPS", "FP8 TFLOPS", "W"],
            rows,
            {2, 3, 4, 5, 6},
        )
    )
    click.echo(f"{len(picked)} accelerator(s); throughput is dense (no sparsity)")


@main.command("plan")
@click.argument("model")
@click.option(
    "--ctx",
    help=f"Context length per user: 8192, 32k (default {DEFAULT_CTX_TOKENS:,}, or the model's"
    " maximum if shorter).",
)
@click.option(
    "--users",
    type=click.IntRange(1, MAX_SEQS),
    default=1,
    show_default=True,
    help="Concurrent users, each with --ctx tokens.",
)
@click.option(
    "--min-tok-s",
    type=float,
    help="Each user's decode speed, tokens/s, with --users decoding together.",
)
@click.option(
    "--engine",
    default="auto",
    show_default=True,
    help="auto (the engine each format implies), or llama.cpp, vllm, sglang, transformers, mlx.",
)
@click.option(
    "--gpu",
    "gpu",
    multiple=True,
    help="Plan on these accelerators only (repeatable); auto: this machine. Default: all.",
)
@click.option(
    "--max-gpus",
    type=click.IntRange(1, MAX_GPUS_SEARCHED),
    default=DEFAULT_MAX_GPUS,
    show_default=True,
    help="Most devices of one kind (8: one node).",
)
@click.option(
    "--minimize",
    type=click.Choice([m.value for m in Minimize]),
    default="gpus",
    show_default=True,
    help="Rank by devices, purchase price, hourly rent, board power, or joules per output"
    " token (board power over all users' tokens/s).",
)
@click.option("--budget", help="At most this to buy (5000, $5k) or to rent (12/h).")
@click.option("--quant", "quants", multiple=True, help="Formats to try (repeatable).")
@click.option("--kv-type", default="f16", show_default=True, help="KV cache type.")
@click.option("--vendor", help="Only this maker's accelerators: nvidia, amd, apple, intel.")
@click.option(
    "--segment", help="Only this segment: datacenter, workstation, consumer, apple-silicon."
)
@click.option("--limit", type=click.IntRange(1, 500), default=10, show_default=True)
@_JSON
def plan_cmd(
    model: str,
    ctx: str | None,
    users: int,
    min_tok_s: float | None,
    engine: str,
    gpu: tuple[str, ...],
    max_gpus: int,
    minimize: str,
    budget: str | None,
    quants: tuple[str, ...],
    kv_type: str,
    vendor: str | None,
    segment: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The least hardware that serves MODEL at --ctx for --users at --min-tok-s: formats ×
    engines × accelerator counts searched, ranked by --minimize, each with its command."""
    from rigfit.planner import PlanQuery, parse_budget, plan_hardware
    from rigfit.report import plan_report

    result = plan_hardware(
        PlanQuery(
            model,
            ctx=ctx,
            users=users,
            min_tok_s=min_tok_s,
            engine=engine,
            max_gpus=max_gpus,
            budget=None if budget is None else parse_budget(budget),
            minimize=Minimize(minimize),
            gpus=gpu or None,
            quants=quants or None,
            kv_type=kv_type,
            vendor=vendor,
            segment=segment,
            files=True,
            limit=limit,
        )
    )
    data = dump(plan_report(result))
    if as_json:
        _emit_json(data)
        return
    _render_plan(data)


def _render_plan(d: dict[str, Any]) -> None:
    w = d["workload"]
    speed = f", each at ≥ {d['min_tok_s']:g} tok/s" if d["min_tok_s"] else ""
    click.echo(
        f"{d['model']}: {d['users']} user(s) × {d['ctx_tokens']:,} tokens{speed};"
        f" searched {d['scope']}, ranked by {d['minimize']}"
    )
    for note in d["notes"]:
        click.echo(f"note: {note}")
    if not d["options"]:
        click.echo(f"\nNO OPTION: {d['binding']}")
        near = d["nearest"]
        if near:
            click.echo(f"nearest: {_plan_line(near)}")
            if near["command"]:
                click.echo(f"  {near['command']}")
        _render_rejected(d)
        return
    rows = []
    for i, o in enumerate(d["options"], 1):
        rows.append(
            [
                i,
                f"{o['count']} × {o['gpu']}",
                o["quant"],
                o["engine"],
                fmt_bytes(o["used_per_gpu_bytes"]),
                fmt_rate(o["per_user_tok_s"]) if o["per_user_tok_s"] else "-",
                f"${o['price_usd']:,.0f}" if o["price_usd"] else "-",
                f"${o['rent_usd_per_hour']:,.2f}" if o["rent_usd_per_hour"] else "-",
                f"{o['power_w']:,.0f} W" if o["power_w"] else "-",
                f"{o['joules_per_token']:,.1f}" if o["joules_per_token"] else "-",
            ]
        )
    heads = [
        "#",
        "hardware",
        "format",
        "engine",
        "per GPU",
        "tok/s/user",
        "buy",
        "rent/h",
        "power",
        "J/token",
    ]
    click.echo()
    click.echo(_table(heads, rows, {0, 4, 5, 6, 7, 8, 9}))
    click.echo(
        f"\ntok/s/user: each of {d['users']} user(s) decoding together"
        f" ({w['prompt_tokens']:,} tokens in, {w['output_tokens']:,} out)"
    )
    click.echo("\ncommands:")
    for i, o in enumerate(d["options"], 1):
        click.echo(f"  {i}. {o['command'] or '(no command line for this engine)'}")
    sources = {s for o in d["options"] for s in (o["price_source"], o["rent_source"]) if s}
    for s in sorted(sources):
        click.echo(f"price: {s}")
    _render_rejected(d)


def _plan_line(o: dict[str, Any]) -> str:
    speed = f", {fmt_rate(o['per_user_tok_s'])} per user" if o["per_user_tok_s"] else ""
    return f"{o['count']} × {o['gpu']}, {o['quant']} under {o['engine']}{speed}"


def _render_rejected(d: dict[str, Any]) -> None:
    if d["rejected"]:
        click.echo(f"\nleft out (of {d['considered']} accelerator × format pairs):")
        for r in d["rejected"][:6]:
            click.echo(f"  {r['count']:>4} × {r['reason']}")


@main.command("train")
@click.argument("model")
@click.option("--gpu", required=True, help="Accelerator id or alias, auto, or custom:memory=...")
@click.option(
    "--gpus",
    type=click.IntRange(1, MAX_GPUS),
    help="How many (default 1; with --gpu auto, all detected).",
)
@click.option(
    "--method",
    type=click.Choice([m.value for m in Method]),
    default="lora",
    show_default=True,
    help="full fine-tuning, LoRA on a 16-bit base, or QLoRA on a 4-bit NF4 base.",
)
@click.option("--seq", default="4096", show_default=True, help="Sequence length: 4096, 8k.")
@click.option("--micro-batch", type=int, default=1, show_default=True, help="Sequences per GPU.")
@click.option("--grad-accum", type=int, default=1, show_default=True)
@click.option(
    "--grad-ckpt/--no-grad-ckpt",
    default=True,
    show_default=True,
    help="Gradient checkpointing (recompute each layer in the backward pass).",
)
@click.option(
    "--optimizer",
    type=click.Choice([o.value for o in Optimizer]),
    default="adamw",
    show_default=True,
)
@click.option("--zero", type=int, help="DeepSpeed ZeRO stage 0-3 over --gpus.")
@click.option(
    "--sharding",
    type=click.Choice([x.value for x in Sharding]),
    help="single, ddp, zero1-3 or fsdp (default: single, or ddp over several GPUs).",
)
@click.option("--offload", is_flag=True, help="ZeRO/FSDP: optimizer states on host RAM.")
@click.option("--lora-rank", type=int, default=16, show_default=True)
@click.option(
    "--lora-targets",
    default="all-linear",
    show_default=True,
    help="all-linear, attention, mlp, or modules: q_proj,k_proj,v_proj,o_proj,gate_proj,...",
)
@click.option(
    "--loss",
    type=click.Choice([x.value for x in LossKind]),
    default="standard",
    show_default=True,
    help="chunked: a fused cross-entropy (Liger) that never holds the full logits.",
)
@click.option("--eager", is_flag=True, help="Eager attention instead of flash attention.")
@click.option("--dataset-tokens", help="Tokens in the dataset, for the wall time: 50M, 2B.")
@click.option("--epochs", type=float, default=1.0, show_default=True)
@_UNIT
@_JSON
def train_cmd(
    model: str,
    gpu: str,
    gpus: int | None,
    method: str,
    seq: str,
    micro_batch: int,
    grad_accum: int,
    grad_ckpt: bool,
    optimizer: str,
    zero: int | None,
    sharding: str | None,
    offload: bool,
    lora_rank: int,
    lora_targets: str,
    loss: str,
    eager: bool,
    dataset_tokens: str | None,
    epochs: float,
    unit: str,
    as_json: bool,
) -> None:
    """Can MODEL be fine-tuned on --gpus × --gpu? Memory per GPU, term by term, the largest
    micro-batch and sequence that fit, what would make it fit, the speed, and the command."""
    from rigfit.report import train_report
    from rigfit.train import TrainQuery, train_answer

    target: str | GPURecord = gpu
    if is_auto(gpu):
        resolved, _ = resolve_auto(Query(model, gpu="auto"))
        assert isinstance(resolved.gpu, GPURecord)
        target = resolved.gpu
        if gpus is not None and gpus > (resolved.gpus or 1):
            raise InvalidSpecError(
                f"--gpus {gpus} with --gpu auto: this machine has {resolved.gpus or 1}"
            )
        gpus = gpus or resolved.gpus or 1
    report = train_report(
        train_answer(
            TrainQuery(
                model,
                target,
                gpus=gpus or 1,
                method=method,
                seq=seq,
                micro_batch=micro_batch,
                grad_accum=grad_accum,
                grad_ckpt=grad_ckpt,
                optimizer=optimizer,
                zero=zero,
                sharding=sharding,
                offload=offload,
                lora_rank=lora_rank,
                lora_targets=lora_targets,
                loss=loss,
                flash_attn=not eager,
                dataset_tokens=None
                if dataset_tokens is None
                else parse_count(dataset_tokens, "token count"),
                epochs=epochs,
                files=True,
            )
        )
    )
    d = dump(report)
    if as_json:
        _emit_json(d)
        return
    _render_train(d, unit)


def _render_train(d: dict[str, Any], unit: str) -> None:
    def b(x: int) -> str:
        return fmt_bytes(x, unit)

    adapters = f", rank {d['lora_rank']} on {d['lora_targets']}" if d["lora_rank"] else ""
    click.echo(
        f"{d['model']}  {d['method']}{adapters}, {d['seq_len']:,} tokens × {d['micro_batch']}"
        f" per GPU (× {d['grad_accum']} accumulated), {d['optimizer']},"
        f" {'gradient checkpointing' if d['grad_ckpt'] else 'no checkpointing'}"
    )
    click.echo(
        f"on {d['gpus']} × {d['gpu']} ({d['sharding']}{', offload' if d['offload'] else ''}):"
        f" {b(d['capacity_per_gpu_bytes'])} each; {d['trainable_params']:,} of"
        f" {d['total_params']:,} parameters train"
    )
    click.echo()
    when = {"both": "", "backward": " [backward]", "step": " [step]"}
    rows = [
        [
            t["label"] + (" (host RAM)" if t["on_host"] else "") + when[t["phase"]],
            b(t["bytes"]),
            t["formula"],
        ]
        for t in d["terms"]
    ]
    rows.append(["runtime (CUDA context, allocator)", b(d["runtime_bytes"]), "calibrated"])
    rows.append([f"total per GPU, at the {d['peak_phase']} peak", b(d["per_gpu_bytes"]), ""])
    click.echo(_table(["term", "per GPU", "how"], rows, {1}))
    click.echo(
        "[backward]: held at the start of the backward pass only; [step]: during the"
        " optimizer step only; the peak is the larger of the two"
    )
    click.echo()
    if d["fits"]:
        click.echo(f"FITS: {b(d['headroom_per_gpu_bytes'])} free per GPU")
    else:
        click.echo(f"DOES NOT FIT: {b(d['shortfall_per_gpu_bytes'])} short per GPU")
    if d["host_bytes"]:
        click.echo(
            f"host RAM: {b(d['host_bytes'])} per GPU, {b(d['host_bytes'] * d['gpus'])} in all"
        )
    click.echo(f"largest micro-batch at {d['seq_len']:,} tokens: {d['max_micro_batch']}")
    click.echo(f"longest sequence at micro-batch {d['micro_batch']}: {d['max_seq_len']:,} tokens")
    for x in d["suggestions"]:
        verdict = "fits" if x["fits"] else "still short"
        click.echo(f"  {x['change']} ({x['flag']}): {b(x['per_gpu_bytes'])} per GPU, {verdict}")
    sp = d["speed"]
    if sp:
        click.echo(
            f"\nspeed: {fmt_rate(sp['tokens_per_s'])} trained over all GPUs, a step of"
            f" {fmt_seconds(sp['step_s'])} (MFU {sp['mfu']:.0%}, calibrated;"
            f" {sp['flops_per_token'] / 1e9:,.1f} GFLOP per token)"
        )
        if sp["wall_s"] is not None:
            click.echo(f"wall time for the dataset: {fmt_seconds(sp['wall_s'])}")
    elif d["speed_note"]:
        click.echo(f"\n{d['speed_note']}")
    for n in d["notes"]:
        click.echo(f"note: {n}")
    click.echo(f"\ncommand:\n  {d['command']}")


@main.command("mcp")
def mcp_cmd() -> None:
    """Serve rigfit's fit, speed, plan, train and show tools to agents over MCP (stdio)."""
    try:
        from rigfit.mcp_server import serve_stdio
    except ImportError:
        raise InvalidSpecError(
            "rigfit mcp needs the mcp package: pip install 'rigfit[mcp]'"
        ) from None
    serve_stdio()


@main.command()
@_JSON
def doctor(as_json: bool) -> None:
    """What --gpu auto finds on this machine, how, and how rigfit prices it."""
    from rigfit.detect import DetectionError, detect
    from rigfit.hardware import capacity_basis, capacity_bytes

    machine = detect()
    try:
        flags: tuple[str, ...] | None = machine.flags()
    except DetectionError:
        flags = None
    devices = [
        {
            "name": f.seen.name,
            "via": f.seen.via,
            "pci_id": f.seen.pci_id,
            "driver_total_bytes": f.seen.memory_bytes,
            "catalog_id": f.catalog_id,
            "capacity_bytes": capacity_bytes(f.record),
            "capacity_basis": capacity_basis(f.record),
        }
        for f in machine.devices
    ]
    if as_json:
        _emit_json(
            {
                "looked": list(machine.said),
                "devices": devices,
                "host_ram_bytes": machine.host.total_bytes,
                "ram_bandwidth": machine.host.bandwidth,
                "flags": list(flags) if flags is not None else None,
            }
        )
        return
    click.echo("looked for:")
    for line in machine.said:
        click.echo(f"  {line}")
    if not devices:
        click.echo("\nno accelerator found: name one with --gpu, or --gpu custom:memory=...")
        return
    click.echo()
    rows = [
        [
            i,
            f.seen.name,
            f.seen.via,
            f.seen.pci_id or "-",
            f"{f.seen.memory_bytes // 2**20:,} MiB" if f.seen.memory_bytes else "-",
            f.catalog_id or "not in the catalog",
            fmt_bytes(capacity_bytes(f.record)),
        ]
        for i, f in enumerate(machine.devices)
    ]
    heads = ["#", "device", "via", "pci id", "driver total", "catalog", "capacity"]
    click.echo(_table(heads, rows, {0, 4, 6}))
    click.echo(f"\n--gpu auto means: {' '.join(flags or ())}")
    if any(f.catalog_id is None for f in machine.devices):
        click.echo(
            "a device not in the catalog is priced on its driver total; its speed is not"
            " estimated (describe it in accelerators.toml, or use --gpu custom:...)"
        )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Processes."
)
def serve(host: str, port: int, workers: int) -> None:
    """Start the web app: calculator, model and GPU pages, compare, and the /api/v1 REST API."""
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - the web extra is missing
        raise RigfitError(
            "the web app needs its extra dependencies: pip install 'rigfit[web]'"
        ) from exc
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(
        f"rigfit: serving on http://{shown}:{port}/ (another port: --port N;"
        " make run ARGS='serve --port N'; Ctrl-C stops)"
    )
    uvicorn.run(
        "rigfit.web:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    click.echo("rigfit serve: stopped")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
