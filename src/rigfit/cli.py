"""The ``rigfit`` command line: parse, call the library, render. No formula lives here."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from rigfit.api import make_request
from rigfit.catalog.lookup import find_gpus, find_models, get_model, list_gpus
from rigfit.errors import RigfitError
from rigfit.estimate.plan import fit as fit_request
from rigfit.estimate.plan import gpu_table
from rigfit.hardware import MAX_GPUS
from rigfit.report import fit_dict, gpu_dict, gpu_table_dict, model_dict
from rigfit.units import fmt_bytes

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


@main.command()
@click.argument("model")
@click.option("--gpu", help="Accelerator id or alias (e.g. rtx-4090, h200). Omit to compare all.")
@click.option(
    "--gpus",
    type=click.IntRange(1, MAX_GPUS),
    default=1,
    show_default=True,
    help="Number of identical accelerators.",
)
@click.option(
    "--quant",
    help="Weight format, e.g. Q4_K_M, Q8_0, BF16, FP8, AWQ, NVFP4 (default: the checkpoint's own).",
)
@click.option("--ctx", help="Context length per sequence: 4096, 32k, 128K (default 8k).")
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
@_UNIT
@_JSON
def fit(
    model: str,
    gpu: str | None,
    gpus: int,
    quant: str | None,
    ctx: str | None,
    kv_type: str,
    seqs: int,
    force_ctx: bool,
    unit: str,
    as_json: bool,
) -> None:
    """Will MODEL fit? Memory per term, per GPU and in total, headroom or shortfall."""
    if gpu is None:
        _fit_table(model, quant, ctx, kv_type, seqs, force_ctx, unit, as_json)
        return
    m, req = make_request(
        model, gpu, gpus=gpus, quant=quant, ctx=ctx, kv_type=kv_type, seqs=seqs, force_ctx=force_ctx
    )
    data = fit_dict(m, fit_request(req))
    if as_json:
        _emit_json(data)
        return
    _render_fit(data, req.system.gpu.name, unit)


def _render_fit(d: dict[str, Any], gpu_name: str, unit: str) -> None:
    def b(x: int) -> str:
        return fmt_bytes(x, unit)

    n = d["gpus"]
    click.echo(
        f"{d['model']}  {d['quant']} weights, {d['kv_type']} KV cache,"
        f" {d['ctx_tokens']:,} tokens × {d['seqs']} sequence(s)"
    )
    click.echo(
        f"on {n} × {gpu_name}: {b(d['capacity_per_gpu_bytes'])} each"
        f" ({d['capacity_basis']}); profile: {d['profile']}"
    )
    click.echo("")
    rows = [
        [t["label"], b(t["total_bytes"]), b(t["per_gpu_bytes"]), t["formula"]] for t in d["terms"]
    ]
    rows.append(["total", b(d["total_bytes"]), b(d["per_gpu_bytes"]), ""])
    click.echo(_table(["term", "total", "per GPU", "how"], rows, {1, 2}))
    click.echo("")
    if d["fits"]:
        click.echo(
            f"FITS: {b(d['headroom_per_gpu_bytes'])} free per GPU"
            f" ({d['per_gpu_bytes'] / d['capacity_per_gpu_bytes']:.0%} used)"
        )
    else:
        click.echo(f"DOES NOT FIT: {b(d['shortfall_per_gpu_bytes'])} short per GPU")
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
                f" {b(s['headroom_per_gpu_bytes'])} free"
            )


def _fit_table(
    model: str,
    quant: str | None,
    ctx: str | None,
    kv_type: str,
    seqs: int,
    force_ctx: bool,
    unit: str,
    as_json: bool,
) -> None:
    gpus = list_gpus()
    m, req = make_request(
        model, gpus[0].id, quant=quant, ctx=ctx, kv_type=kv_type, seqs=seqs, force_ctx=force_ctx
    )
    rows = gpu_table(req, gpus)
    base = {
        "quant": req.weight_format.label,
        "kv_type": req.kv_type.flag,
        "ctx_tokens": req.ctx_tokens,
        "seqs": req.seqs,
    }
    data = gpu_table_dict(m, rows, base)
    if as_json:
        _emit_json(data)
        return
    click.echo(
        f"{m.id}  {base['quant']}, {base['kv_type']} KV, {req.ctx_tokens:,} tokens"
        f" × {req.seqs}: accelerators that fit"
    )
    out = []
    for r in data["rows"]:
        need = r["gpus_needed"]
        out.append(
            [
                r["gpu"],
                r["name"],
                "-" if need is None else str(need),
                fmt_bytes(r["capacity_per_gpu_bytes"], unit),
                "-" if r["per_gpu_bytes"] is None else fmt_bytes(r["per_gpu_bytes"], unit),
                "> 64 needed" if need is None else fmt_bytes(r["headroom_per_gpu_bytes"], unit),
            ]
        )
    click.echo(
        _table(["id", "name", "GPUs", "capacity", "used/GPU", "free/GPU"], out, {2, 3, 4, 5})
    )


@main.command()
@click.argument("model")
@_JSON
def show(model: str, as_json: bool) -> None:
    """The spec sheet of MODEL, from its config.json, with sources."""
    d = model_dict(get_model(model))
    if as_json:
        _emit_json(d)
        return
    moe = (
        f"MoE: {d['experts']} routed experts + {d['shared_experts']} shared,"
        f" {d['experts_per_token']} per token"
        if d["moe"]
        else "dense"
    )
    rows = [
        ("organization", d["organization"]),
        ("family", d["family"]),
        ("lineage", d["lineage"] or "-"),
        ("base model", d["base_model"] or "-"),
        ("released", d["release_date"]),
        ("license", d["license"]),
        ("modality", d["modality"]),
        ("context length", f"{d['context_length']:,} tokens"),
        (
            "parameters",
            f"{d['params_total']:,} total, {d['params_active']:,} active"
            f" (official: {d['params_official_total']:,})",
        ),
        ("kind", moe),
        ("layers", d["num_layers"]),
        ("hidden size", d["hidden_size"]),
        ("attention", f"{d['attention']}: {d['kv_note']}"),
        (
            "heads / KV heads / head dim",
            f"{d['num_attention_heads']} / {d['num_kv_heads']} / {d['head_dim']}",
        ),
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
    for dis in d["disagreements"]:
        click.echo(
            f"note: {dis['page']} says {dis['field']} = {dis['page_value']};"
            f" the primary source says {dis['primary_value']}"
        )


@main.command("models")
@click.option("--family", help="Substring of the family, e.g. qwen3, llama.")
@click.option("--org", help="Substring of the organization.")
@click.option("--moe/--dense", "moe", default=None, help="Only MoE or only dense models.")
@click.option("--min-params", type=float, help="At least this many billion parameters.")
@click.option("--max-params", type=float, help="At most this many billion parameters.")
@click.option("--search", help="Substring of the id, name or aliases.")
@_JSON
def models_cmd(
    family: str | None,
    org: str | None,
    moe: bool | None,
    min_params: float | None,
    max_params: float | None,
    search: str | None,
    as_json: bool,
) -> None:
    """List catalog models, filtered."""
    picked = find_models(
        family=family,
        org=org,
        moe=moe,
        min_params=None if min_params is None else min_params * 1e9,
        max_params=None if max_params is None else max_params * 1e9,
        search=search,
    )
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
