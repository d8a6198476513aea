"""Build a request from the names and strings users type; the CLI and the web app call this."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

from rigfit.catalog.lookup import Model, get_gpu, get_model, list_models
from rigfit.catalog.schema import GPURecord, ModelRecord
from rigfit.engines.checks import makes_at_load
from rigfit.errors import InvalidSpecError, UnknownModelError, UnsupportedArchitectureError
from rigfit.estimate.memory import Estimate, Request, estimate
from rigfit.estimate.settings import EngineSettings
from rigfit.estimate.weights import Kind, PlacedTensor, WeightBreakdown, kind_of_name
from rigfit.frozen import frozen
from rigfit.hardware import System
from rigfit.quant import Family, WeightFormat, parse_kv_type, parse_quant
from rigfit.units import parse_bytes, parse_tokens

if TYPE_CHECKING:
    from rigfit.formats import FileModel

__all__ = [
    "DEFAULT_CTX_TOKENS",
    "AnyModel",
    "ModelOnGPU",
    "make_request",
    "models_on_gpu",
    "native_format",
    "resolve_model",
]

AnyModel = Union[Model, "FileModel"]

# A Hugging Face repository id: org/name (huggingface_hub's own repo-id rules, simplified)
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FILE_SUFFIXES = (".gguf", ".json", ".safetensors")


def resolve_model(name: str, *, files: bool = False, progress: bool = False) -> AnyModel:
    """A catalog model; with ``files``, else a path or a Hugging Face id read by
    :mod:`rigfit.formats` (configs and headers only).

    The web app never passes ``files``: its inputs name catalog entries only.
    """
    try:
        return get_model(name)
    except UnknownModelError as exc:
        if not files:
            raise
        path = Path(name).expanduser()
        if path.exists() or name.endswith(_FILE_SUFFIXES):
            from rigfit.formats import open_model

            return open_model(str(path), progress=progress)
        if _HUB_ID.match(name):
            from rigfit.formats import open_model

            return open_model(name, progress=progress)
        raise UnknownModelError(
            name,
            exc.suggestions,
            "not in the catalog, not a file, and not a Hugging Face id org/name",
        ) from None


def _file_weights(fm: FileModel, fmt: WeightFormat) -> WeightBreakdown:
    """The file's own tensor bytes, and its tensors for engines to place, as one value."""
    assert fm.weights is not None
    placed = []
    experts = 0
    for t in fm.weights.tensors:
        kind, layer = kind_of_name(t.name)
        placed.append(PlacedTensor(t.name, kind, layer, t.nbytes))
        if kind is Kind.EXPERT:
            experts += t.nbytes
    params = fm.weights.params or fm.arch.params_total
    return WeightBreakdown(
        format=fmt,
        total_bytes=fm.weights.total_bytes,
        by_type=fm.weights.by_dtype,
        by_role=(),
        expert_bytes=experts,
        params=params,
        excluded="" if fm.weights.params else "parameter count from the config (packed tensors)",
        tensors=tuple(placed),
    )


def checkpoint_ref(model: AnyModel, req: Request, engine: str) -> tuple[str, str | None]:
    """What an engine's command line names for this model, and a note when the user has to
    supply that file or checkpoint.

    A file or Hub id is named as given. A catalog model in its published format, or in one the
    engine makes as it loads (vLLM's ``--quantization fp8``, transformers' bitsandbytes), is its
    Hugging Face id. A GGUF engine names the file a GGUF repository calls
    ``<name>-<TYPE>.gguf``. Any other format needs a quantized checkpoint that rigfit cannot
    name: the command holds a placeholder, never a repository that may not exist.

    >>> from rigfit.catalog.lookup import get_model
    >>> m, req = make_request("Qwen/Qwen2.5-72B-Instruct", "h100-sxm", quant="FP8")
    >>> checkpoint_ref(m, req, "vllm")[0]
    'Qwen/Qwen2.5-72B-Instruct'
    >>> m, req = make_request("Qwen/Qwen2.5-72B-Instruct", "h100-sxm", quant="AWQ")
    >>> checkpoint_ref(m, req, "vllm")[0]
    '<AWQ checkpoint of Qwen/Qwen2.5-72B-Instruct>'
    >>> m, req = make_request("Qwen/Qwen2.5-72B-Instruct", "h100-sxm", quant="Q4_K_M")
    >>> checkpoint_ref(m, req, "llama.cpp")[0]
    'Qwen2.5-72B-Instruct-Q4_K_M.gguf'
    """
    if not isinstance(model, Model):
        return model.source, None
    fmt = req.weight_format
    if engine in GGUF_ENGINES:
        name = f"{model.id.split('/', 1)[1]}-{fmt.label}.gguf"
        return name, (
            f"the command names {name}: a {fmt.label} GGUF of {model.id} (a GGUF repository's"
            " file, or one made with convert_hf_to_gguf.py and llama-quantize)"
        )
    if not req.quantized_at_load():
        return model.id, None
    source = req.source_format.label if req.source_format else fmt.label
    if makes_at_load(engine, fmt):
        verb = "casts" if fmt.family is Family.FLOAT else "quantizes"
        return model.id, f"{engine} {verb} the {source} weights to {fmt.label} as they load"
    return f"<{fmt.label} checkpoint of {model.id}>", (
        f"{engine} cannot make {fmt.label} weights from the {source} checkpoint as it loads:"
        f" put the repository or path of a {fmt.label} checkpoint of {model.id} in the command"
    )


# A format name a user gives, and the variant a checkpoint may be published in
_PUBLISHED_VARIANTS = {
    WeightFormat.FP8: (WeightFormat.FP8_BLOCK, WeightFormat.FP8_CHANNEL),
    WeightFormat.MXFP4: (WeightFormat.MXFP4_EXPERTS,),
}
# Engines that load GGUF files only: a catalog model is named by its GGUF file
GGUF_ENGINES = frozenset({"llama.cpp", "ollama"})

# The context used when none is given: 8,192 tokens, or the model's maximum if smaller.
DEFAULT_CTX_TOKENS = 8192

_NATIVE = {
    "none": None,
    "fp8-block-128x128": WeightFormat.FP8_BLOCK,
    "fp8-channel": WeightFormat.FP8_CHANNEL,
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
    model: str | AnyModel,
    gpu: str | GPURecord,
    *,
    gpus: int = 1,
    quant: str | WeightFormat | None = None,
    ctx: int | str | None = None,
    kv_type: str = "f16",
    seqs: int = 1,
    force_ctx: bool = False,
    engine: EngineSettings | None = None,
    mix: Sequence[str | GPURecord] = (),
    files: bool = False,
    ram: str | int | None = None,
    wired_limit_mb: int | None = None,
) -> tuple[AnyModel, Request]:
    """Resolve names and strings into a :class:`Request` (``quant`` None: the native format).

    ``mix`` names further accelerators in the same host (a mixed system); ``files`` lets
    ``model`` be a path or a Hugging Face id (see :func:`resolve_model`); ``ram`` is the host's
    system RAM (``64GB``), checked against what the plan puts there; ``wired_limit_mb`` is
    macOS's GPU memory limit on Apple silicon (``iogpu.wired_limit_mb``).
    """
    m = resolve_model(model, files=files) if isinstance(model, str) else model
    g = gpu if isinstance(gpu, GPURecord) else get_gpu(gpu)
    file_weights: WeightBreakdown | None = None
    if isinstance(quant, WeightFormat):
        fmt = quant
    elif quant is not None:
        fmt = parse_quant(quant)
    elif isinstance(m, Model):
        fmt = native_format(m.record)
    else:
        if m.native_format is None:
            raise InvalidSpecError(
                f"{m.id}: rigfit has no weight format for what these files hold; name one"
                " with --quant"
            )
        fmt = m.native_format
    source: WeightFormat | None = native_format(m.record) if isinstance(m, Model) else None
    # the checkpoint's own format: a catalog record's, or what files read from the Hub or a
    # path hold (a RedHatAI "-FP8-dynamic" config.json)
    published = source if isinstance(m, Model) else m.native_format
    if published is not None and published in _PUBLISHED_VARIANTS.get(fmt, ()):
        # FP8 of DeepSeek-V3/R1 is their block-scaled checkpoint (of GLM-4.5-FP8, its
        # per-channel one); MXFP4 of gpt-oss is its own, experts only: the tensors a format
        # leaves alone keep their precision
        fmt = published
    if not isinstance(m, Model) and m.weights is not None and fmt is m.native_format:
        file_weights = _file_weights(m, fmt)
    ctx_tokens = (
        min(DEFAULT_CTX_TOKENS, m.arch.context_length) if ctx is None else parse_tokens(ctx)
    )
    req = Request(
        arch=m.arch,
        weight_format=fmt,
        kv_type=parse_kv_type(kv_type),
        ctx_tokens=ctx_tokens,
        seqs=seqs,
        system=System(
            g,
            gpus,
            tuple(x if isinstance(x, GPURecord) else get_gpu(x) for x in mix),
            None if ram is None else parse_bytes(ram),
            wired_limit_mb,
        ),
        allow_ctx_over_max=force_ctx,
        engine=engine or EngineSettings(),
        file_weights=file_weights,
        source_format=source,
        pooling=not m.generates,
    )
    return m, req


@frozen
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
        except (InvalidSpecError, UnsupportedArchitectureError) as exc:
            # a format the engine cannot run, or a family it is not priced under: the row
            # says why rather than dropping the model
            out.append(ModelOnGPU(m, mf, None, str(exc)))
    out.sort(
        key=lambda r: (
            not r.fits,
            r.estimate is None,
            r.estimate.per_gpu_bytes if r.estimate else 0,
        )
    )
    return out
