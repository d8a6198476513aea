"""``rigfit mcp``: fit, speed, plan, train and show as Model Context Protocol tools (stdio).

Each tool calls the one answer path and returns the same JSON the CLI's ``--json`` prints
(docs/json.md); a bad input is a tool error whose text is rigfit's one-line message. The server
runs on the user's machine, so ``gpu="auto"`` detects it, as on the command line.

Needs the ``mcp`` package (``pip install 'rigfit[mcp]'``).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from rigfit.answer import Query, answer
from rigfit.errors import RigfitError
from rigfit.plan_settings import DEFAULT_MAX_GPUS, Minimize
from rigfit.strict import dump
from rigfit.train.setup import Method, Optimizer

__all__ = ["build_server", "serve_stdio"]

INSTRUCTIONS = (
    "rigfit answers whether an open-weight LLM fits on given GPUs, how fast it runs, and the"
    " least hardware that serves it, engine by engine (llama.cpp, vLLM, SGLang, transformers,"
    " MLX, Ollama), with every memory term's formula. Models are catalog ids or aliases"
    " (deepseek-r1, meta-llama/Llama-3.3-70B-Instruct); GPUs are catalog ids (rtx-4090, h100),"
    " 'auto' for this machine, or custom:memory=24GiB,bandwidth=1008GB/s."
)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """rigfit's own errors as tool errors: one line, what was wrong and what is allowed."""
    try:
        return fn(*args, **kwargs)
    except RigfitError as exc:
        raise ToolError(str(exc)) from None


def _query(
    model: str,
    gpu: str,
    gpus: int | None,
    quant: str | None,
    ctx: str | None,
    seqs: int,
    engine: str,
    kv_type: str,
    prompt_tokens: int | None = None,
    output_tokens: int | None = None,
    users: int | None = None,
) -> Query:
    return Query(
        model,
        gpu=gpu,
        gpus=gpus,
        quant=quant,
        ctx=ctx,
        kv_type=kv_type,
        seqs=seqs,
        engine=engine,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        users=users,
    )


def build_server() -> MCPServer:
    """The server with its tools (tested in-process with the SDK's client)."""
    server = MCPServer("rigfit", instructions=INSTRUCTIONS)

    @server.tool()
    def fit(
        model: str,
        gpu: str,
        gpus: int | None = None,
        quant: str | None = None,
        ctx: str | None = None,
        seqs: int = 1,
        engine: str = "auto",
        kv_type: str = "f16",
    ) -> dict[str, Any]:
        """Will MODEL fit on GPUS × GPU? Every memory term per GPU with its formula, the verdict
        with headroom or shortfall, the largest context and concurrency that fit, suggestions
        that make it fit, the engine's command line and the speed. quant: Q4_K_M, BF16, FP8,
        AWQ...; ctx: 8192 or 32k (default: the engine's own)."""
        q = _query(model, gpu, gpus, quant, ctx, seqs, engine, kv_type)
        report = _call(answer, q)
        data: dict[str, Any] = dump(report)
        return data

    @server.tool()
    def speed(
        model: str,
        gpu: str,
        gpus: int | None = None,
        quant: str | None = None,
        ctx: str | None = None,
        prompt_tokens: int | None = None,
        output_tokens: int | None = None,
        users: int | None = None,
        engine: str = "auto",
    ) -> dict[str, Any]:
        """How fast MODEL runs on GPUS × GPU: decode and prefill tokens/s, time to first
        token, output against concurrent users, each with the band measured runs give."""
        q = _query(
            model, gpu, gpus, quant, ctx, 1, engine, "f16", prompt_tokens, output_tokens, users
        )
        report = _call(answer, q)
        return {
            "model": report.model,
            "gpu": report.gpu,
            "gpus": report.gpus,
            "quant": report.quant,
            "ctx_tokens": report.ctx_tokens,
            "speed": dump(report.speed) if report.speed else None,
            "speed_note": report.speed_note,
        }

    @server.tool()
    def plan(
        model: str,
        ctx: str | None = None,
        users: int = 1,
        min_tok_s: float | None = None,
        engine: str = "auto",
        gpus: list[str] | None = None,
        max_gpus: int = DEFAULT_MAX_GPUS,
        minimize: Minimize = Minimize.GPUS,
        budget: str | None = None,
        quants: list[str] | None = None,
        limit: int = 10,
    ) -> dict[str, Any]:
        """The least hardware that serves MODEL at CTX for USERS, each decoding at MIN_TOK_S:
        formats × engines × accelerator counts searched (the whole catalog, GPUS only, or
        ['auto'] for this machine), ranked by devices, purchase price, hourly rent, power or
        energy per token; each option with its memory, speed and command line. budget: 5000
        (to buy) or 12/h."""
        from rigfit.planner import PlanQuery, parse_budget, plan_hardware
        from rigfit.report import plan_report

        query = PlanQuery(
            model,
            ctx=ctx,
            users=users,
            min_tok_s=min_tok_s,
            engine=engine,
            max_gpus=max_gpus,
            budget=None if budget is None else _call(parse_budget, budget),
            minimize=minimize,
            gpus=tuple(gpus) if gpus else None,
            quants=tuple(quants) if quants else None,
            limit=limit,
        )
        result = _call(plan_hardware, query)
        data: dict[str, Any] = dump(plan_report(result))
        return data

    @server.tool()
    def train(
        model: str,
        gpu: str,
        gpus: int = 1,
        method: Method = Method.LORA,
        seq: str = "4096",
        micro_batch: int = 1,
        grad_accum: int = 1,
        grad_ckpt: bool = True,
        optimizer: Optimizer = Optimizer.ADAMW,
        zero: int | None = None,
        offload: bool = False,
        lora_rank: int = 16,
        lora_targets: str = "all-linear",
    ) -> dict[str, Any]:
        """Can MODEL be fine-tuned on GPUS × GPU (full, LoRA or QLoRA, with ZeRO, gradient
        checkpointing and 8-bit optimizers)? Memory per GPU term by term, the verdict, the
        largest micro-batch and sequence, changes that would make it fit, speed and the TRL
        command."""
        from rigfit.report import train_report
        from rigfit.train import TrainQuery, train_answer

        query = TrainQuery(
            model,
            gpu,
            gpus=gpus,
            method=method.value,
            seq=seq,
            micro_batch=micro_batch,
            grad_accum=grad_accum,
            grad_ckpt=grad_ckpt,
            optimizer=optimizer.value,
            zero=zero,
            offload=offload,
            lora_rank=lora_rank,
            lora_targets=lora_targets,
        )
        data: dict[str, Any] = dump(train_report(_call(train_answer, query)))
        return data

    @server.tool()
    def show(model: str) -> dict[str, Any]:
        """A catalog model's spec sheet: architecture, parameters, context, attention layout
        and license, each value with its source."""
        from rigfit.api import resolve_model
        from rigfit.report import model_dict

        return model_dict(_call(resolve_model, model))

    return server


def serve_stdio() -> None:
    build_server().run("stdio")
