"""Build a request from the names and strings users type; the CLI and the web app call this."""

from __future__ import annotations

from rigfit.catalog.lookup import Model, get_gpu, get_model
from rigfit.catalog.schema import ModelRecord
from rigfit.estimate.memory import Request
from rigfit.hardware import System
from rigfit.quant import WeightFormat, parse_kv_type, parse_quant
from rigfit.units import parse_tokens

__all__ = ["DEFAULT_CTX_TOKENS", "make_request", "native_format"]

# The context used when none is given: 8,192 tokens, or the model's maximum if smaller.
DEFAULT_CTX_TOKENS = 8192

_NATIVE = {
    "none": None,
    "fp8-block-128x128": WeightFormat.FP8_BLOCK,
    "fp8": WeightFormat.FP8,
    "mxfp4": WeightFormat.MXFP4_EXPERTS,
}


def native_format(record: ModelRecord) -> WeightFormat:
    """The weight format of the checkpoint as published (BF16 unless it ships quantized)."""
    fmt = _NATIVE.get(record.checkpoint.quantization)
    if fmt is not None:
        return fmt
    return WeightFormat.F16 if record.checkpoint.dtype in ("f16", "fp16") else WeightFormat.BF16


def make_request(
    model: str | Model,
    gpu: str,
    *,
    gpus: int = 1,
    quant: str | WeightFormat | None = None,
    ctx: int | str | None = None,
    kv_type: str = "f16",
    seqs: int = 1,
    force_ctx: bool = False,
) -> tuple[Model, Request]:
    """Resolve names and strings into a :class:`Request` (``quant`` None: the native format)."""
    m = get_model(model) if isinstance(model, str) else model
    g = get_gpu(gpu)
    if isinstance(quant, WeightFormat):
        fmt = quant
    else:
        fmt = native_format(m.record) if quant is None else parse_quant(quant)
    ctx_tokens = (
        min(DEFAULT_CTX_TOKENS, m.arch.context_length) if ctx is None else parse_tokens(ctx)
    )
    req = Request(
        arch=m.arch,
        weight_format=fmt,
        kv_type=parse_kv_type(kv_type),
        ctx_tokens=ctx_tokens,
        seqs=seqs,
        system=System(g, gpus),
        allow_ctx_over_max=force_ctx,
    )
    return m, req
