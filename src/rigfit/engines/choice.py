"""The default engine: the one a weight format and a device imply.

With no ``--engine``, rigfit prices the program a person would run for that file on that
machine, and says which and why:

* GGUF file types are llama.cpp's format, on every device (Metal on Apple silicon);
* bitsandbytes formats are loaded by transformers (``BitsAndBytesConfig``); vLLM and SGLang
  load them only in a slower compatibility path, and Apple silicon has no bitsandbytes kernels;
* safetensors checkpoints (BF16, FP8, AWQ, GPTQ, NVFP4, MXFP4) on NVIDIA, AMD and Intel Gaudi
  accelerators are served by vLLM, the most deployed of the tensor-parallel servers;
* 16-bit checkpoints on Apple silicon run under MLX (``mlx_lm``); other GPU formats have no
  Apple kernels, and a GGUF type is the way there.

Where the first engine cannot run the request (mixed GPUs, an architecture whose cache rigfit
does not replay for it, options that belong to another engine), the next one that can is
taken, and the reason says so. Engine options pin the choice: ``--ngl`` means llama.cpp,
``--gpu-memory-utilization`` vLLM, ``--mem-fraction-static`` SGLang.
"""

from __future__ import annotations

from dataclasses import fields

from rigfit.catalog.schema import GPURecord
from rigfit.engines import flag, get_engine, uses
from rigfit.engines.llamacpp import GGUF_GPU_FORMATS
from rigfit.errors import InvalidSpecError, RigfitError
from rigfit.estimate.memory import EngineProfile, KVPool, ProfileBase, Request, Term
from rigfit.estimate.settings import DEFAULT_SETTINGS
from rigfit.frozen import frozen
from rigfit.quant import Family, WeightFormat

__all__ = ["AUTO", "AutoProfile", "EngineChoice", "candidates", "choose_engine"]

_BNB = frozenset(
    {WeightFormat.BNB_NF4, WeightFormat.BNB_NF4_DQ, WeightFormat.BNB_FP4, WeightFormat.BNB_INT8}
)
_MLX_NATIVE = frozenset({WeightFormat.F16, WeightFormat.BF16})


@frozen
class EngineChoice:
    """The engine rigfit picked for a request, and why."""

    engine: str
    reason: str


def _candidates(req: Request) -> list[tuple[str, str]]:
    """Engines in order of preference for the request's format and device, with reasons."""
    return candidates(req.weights().format, req.system.gpu)


def candidates(fmt: WeightFormat, gpu: GPURecord) -> list[tuple[str, str]]:
    """Engines in order of preference for weights in ``fmt`` on ``gpu``, with reasons (the
    first is the one the format implies; a later one runs where it refuses the request)."""
    if fmt.family is Family.GGUF:
        return [("llama.cpp", f"{fmt.label} is a GGUF file type: llama.cpp runs it")]
    if fmt in _BNB:
        return [("transformers", f"{fmt.label} is loaded by transformers with bitsandbytes")]
    if gpu.unified_memory:
        out = []
        if fmt in _MLX_NATIVE:
            out.append(("mlx", f"{fmt.label} weights on Apple silicon run under MLX"))
        out.append(("llama.cpp", f"{fmt.label} on Apple silicon runs as a GGUF under llama.cpp"))
        return out
    where = _VENDOR_NAMES.get(gpu.vendor.value, gpu.vendor.value)
    return [
        ("vllm", f"{fmt.label} safetensors weights on {where} GPUs are served by vLLM"),
        ("sglang", f"{fmt.label} weights served by SGLang"),
        ("llama.cpp", f"{fmt.label} as a GGUF under llama.cpp"),
        ("transformers", f"{fmt.label} under transformers"),
    ]


_VENDOR_NAMES = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel"}


def _pinned(req: Request) -> tuple[set[str], list[str]] | None:
    """The engines that act on every engine option the request sets, and those options'
    flags (None: no engine option is set)."""
    given = [
        f.name
        for f in fields(req.engine)
        if getattr(req.engine, f.name) != getattr(DEFAULT_SETTINGS, f.name) and f.name != "version"
    ]
    if not given:
        return None
    return {name for name, u in uses().items() if set(given) <= u}, [flag(g) for g in given]


def choose_engine(req: Request) -> EngineChoice:
    """The engine that prices ``req`` by default; one line when none can run it."""
    pinned = _pinned(req)
    first_error: RigfitError | None = None
    tried: list[str] = []
    for name, reason in _candidates(req):
        if pinned is not None and name not in pinned[0]:
            continue
        try:
            get_engine(name).check(req)
        except RigfitError as exc:
            first_error = first_error or exc
            tried.append(name)
            continue
        if pinned is not None:
            reason += f" ({', '.join(pinned[1])} given)"
        elif tried:
            reason += f" ({', '.join(tried)} cannot: {first_error})"
        return EngineChoice(name, reason)
    fmt, gpu = req.weights().format, req.system.gpu
    if (
        gpu.unified_memory
        and fmt.family is Family.GPU
        and fmt not in GGUF_GPU_FORMATS
        and pinned is None
    ):
        raise InvalidSpecError(
            f"{fmt.label} weights have no Apple silicon kernels in the engines rigfit prices:"
            " use a GGUF type with llama.cpp (--quant Q4_K_M) or 16-bit weights with MLX"
            " (--quant BF16, --q-bits 4 to quantize them)"
        )
    if first_error is not None:
        raise first_error
    if pinned is not None:
        raise InvalidSpecError(
            f"no engine runs {req.weights().format.label} on {req.system.gpu.name} with"
            f" {', '.join(pinned[1])}: name one with --engine"
        )
    raise InvalidSpecError(
        f"no engine runs {req.weights().format.label} on {req.system.gpu.name}; name one with"
        " --engine"
    )


class AutoProfile(ProfileBase):
    """Prices each request as the engine :func:`choose_engine` picks for it (so a table over
    every accelerator takes vLLM on NVIDIA GPUs and MLX on Apple silicon)."""

    name = "auto"
    description = "the engine the weight format and the device imply"

    def resolve(self, req: Request) -> EngineProfile:
        return get_engine(choose_engine(req).engine)

    def check(self, req: Request) -> None:
        choose_engine(req)

    def terms(self, req: Request) -> list[Term]:
        return self.resolve(req).terms(req)

    def capacities(self, req: Request) -> tuple[int, ...]:
        return self.resolve(req).capacities(req)

    def kv_pool(self, req: Request) -> KVPool | None:
        return self.resolve(req).kv_pool(req)

    def notes(self, req: Request) -> tuple[str, ...]:
        return self.resolve(req).notes(req)

    def backend(self, req: Request) -> str | None:
        return self.resolve(req).backend(req)

    def kernels(self, req: Request) -> str:
        return self.resolve(req).kernels(req)


AUTO = AutoProfile()
