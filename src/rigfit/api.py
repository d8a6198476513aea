"""Build a request from the names and strings users type; the CLI and the web app call this."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rigfit.catalog.lookup import Model, get_gpu, get_model, list_models
from rigfit.catalog.schema import ModelRecord
from rigfit.errors import InvalidSpecError
from rigfit.estimate.memory import Estimate, Request, estimate
from rigfit.hardware import System
from rigfit.quant import WeightFormat, parse_kv_type, parse_quant
from rigfit.units import parse_tokens

__all__ = ["DEFAULT_CTX_TOKENS", "ModelOnGPU", "make_request", "models_on_gpu", "native_format"]

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


@dataclass(frozen=True)
class ModelOnGPU:
    """One catalog model on one system: its estimate, or why none could be made."""

    model: Model
    weight_format: WeightFormat
    estimate: Estimate | None
    error: str = ""

    @property
    def fits(self) -> bool:
        return self.estimate is not None and self.estimate.fits


def models_on_gpu(
    gpu: str,
    *,
    gpus: int = 1,
    quant: str | None = None,
    ctx: int | str | None = None,
    kv_type: str = "f16",
    seqs: int = 1,
    models: Iterable[Model] | None = None,
) -> list[ModelOnGPU]:
    """Estimate each catalog model (or ``models``) on ``gpus`` × ``gpu``; models that fit come
    first, then by memory. A context above a model's maximum is reported, not forced."""
    fmt = None if quant is None else parse_quant(quant)
    kv = parse_kv_type(kv_type)
    ctx_tokens = None if ctx is None else parse_tokens(ctx)
    out: list[ModelOnGPU] = []
    for m in list_models() if models is None else models:
        mf = fmt or native_format(m.record)
        try:
            _, req = make_request(
                m, gpu, gpus=gpus, quant=mf, ctx=ctx_tokens, kv_type=kv.flag, seqs=seqs
            )
            out.append(ModelOnGPU(m, mf, estimate(req)))
        except InvalidSpecError as exc:
            out.append(ModelOnGPU(m, mf, None, str(exc)))
    out.sort(
        key=lambda r: (
            not r.fits,
            r.estimate is None,
            r.estimate.per_gpu_bytes if r.estimate else 0,
        )
    )
    return out
