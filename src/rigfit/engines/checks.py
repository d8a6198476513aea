"""Requests the tensor-parallel GPU servers (vLLM, SGLang) refuse, with one message each.

Both shard every layer evenly over identical CUDA/ROCm GPUs, load safetensors checkpoints and
keep their KV cache in the model dtype or FP8; rigfit does not replay either yet for
Qwen3-Next's linear-attention layers, and llama.cpp's placement options mean nothing to them.
Each engine passes its name, the formats and KV types it allows, and how to say them. Their
``--engine-version`` strings are read, and refused, the same way.
"""

from __future__ import annotations

import re

from rigfit.catalog.schema import GPURecord, Vendor
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import Request
from rigfit.quant import FP8_FORMATS, Family, KVCacheType, WeightFormat

__all__ = [
    "BNB_FORMATS",
    "LOAD_CAST",
    "LOAD_QUANTIZED",
    "NVIDIA_ARCHITECTURES",
    "cuda_capability",
    "emulation_note",
    "makes_at_load",
    "parse_engine_version",
    "refuse_for_tp_engine",
    "refuse_format_on_device",
    "refuse_mixed_attention",
    "refuse_transformers_fp8",
    "release_floor",
]


# Formats vLLM and SGLang make from a 16-bit checkpoint as it loads, with `--quantization fp8`
# (vLLM fp8.py Fp8Config with is_checkpoint_fp8_serialized false: per-tensor dynamic scales;
# SGLang quantization/fp8.py the same): the command names the 16-bit repository
LOAD_QUANTIZED = frozenset({WeightFormat.FP8})
# Float formats vLLM and SGLang cast a 16- or 32-bit checkpoint to as it loads, with `--dtype`
# (vLLM config/model.py _get_and_verify_dtype: "float16", "bfloat16", "float32"; SGLang
# server_args.py --dtype, the same names): the command names the published repository
LOAD_CAST = {
    WeightFormat.F16: "float16",
    WeightFormat.BF16: "bfloat16",
    WeightFormat.F32: "float32",
}
# transformers quantizes a 16-bit checkpoint to these with BitsAndBytesConfig as it loads
BNB_FORMATS = frozenset(
    {WeightFormat.BNB_NF4, WeightFormat.BNB_NF4_DQ, WeightFormat.BNB_FP4, WeightFormat.BNB_INT8}
)


def makes_at_load(engine: str, fmt: WeightFormat) -> bool:
    """Whether ``engine`` quantizes (or casts) a 16-bit checkpoint to ``fmt`` while loading
    it, so the published checkpoint serves (vLLM/SGLang ``--quantization fp8`` and
    ``--dtype``, transformers' bitsandbytes)."""
    if engine in ("vllm", "sglang"):
        return fmt in LOAD_QUANTIZED or fmt in LOAD_CAST
    return engine == "transformers" and fmt in BNB_FORMATS


def parse_engine_version(
    version: str | None, engine: str, reference: tuple[int, int, int]
) -> tuple[int, int, int]:
    """``0.5.3.post1`` or ``v0.11.0`` -> (major, minor, patch); None -> ``reference``; any
    other string is refused, with the reference as the example."""
    if version is None:
        return reference
    m = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if m is None:
        example = ".".join(map(str, reference))
        raise InvalidSpecError(f"{engine} version {version!r} is not like {example}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def refuse_for_tp_engine(
    req: Request,
    engine: str,
    *,
    formats: str,
    kv_types: tuple[KVCacheType, ...],
    kv_allowed: str,
    linear_attention: str | None,
) -> None:
    """Refuse mixed GPUs, Apple silicon, GGUF weights, other KV types, llama.cpp options and
    the linear-attention models rigfit does not replay for ``engine``.

    ``formats`` lists the weight formats for the message ("BF16, FP8, AWQ ..."), ``kv_types``
    the KV cache types ``engine`` has and ``kv_allowed`` how its flags name them;
    ``linear_attention`` names the state cache not yet replayed and the engines to use instead
    (None: the engine's recurrent state is replayed).
    """
    gpu = req.system.gpu
    if req.system.is_mixed:
        raise InvalidSpecError(
            f"{engine} shards every layer evenly over identical GPUs; for mixed GPUs use"
            " --engine llama.cpp"
        )
    if gpu.unified_memory:
        raise InvalidSpecError(
            f"{engine} does not run on {gpu.name} (Apple silicon); use --engine mlx"
            " or --engine llama.cpp"
        )
    # the format alone decides these two refusals: pricing the weights first (a GGUF replay
    # per candidate format in the suggestions) cost the CLI most of its cold start
    fmt = req.loaded_format
    if fmt.family is Family.GGUF and req.file_weights is None:
        raise InvalidSpecError(
            f"rigfit prices {engine} with safetensors checkpoints, not GGUF"
            f" {req.weight_format.label} (allowed: {formats} ...); use --engine llama.cpp for"
            " GGUF"
        )
    if req.kv_type not in kv_types:
        raise InvalidSpecError(
            f"{engine} has no {req.kv_type.flag} KV cache (allowed: {kv_allowed})"
        )
    refuse_format_on_device(fmt, gpu, engine)
    s = req.engine
    if s.ngl is not None or s.cpu_moe or s.n_cpu_moe or s.tensor_split is not None:
        raise InvalidSpecError(
            f"-ngl, --cpu-moe and --tensor-split are llama.cpp options, not {engine}'s"
        )
    if req.arch.has_state and linear_attention is not None:
        raise UnsupportedArchitectureError(
            f"rigfit does not yet replay {engine}'s {linear_attention}"
        )
    refuse_mixed_attention(req, engine, "its KV groups of different page sizes")


def without_ggml_backend(gpu: GPURecord) -> bool:
    """Whether llama.cpp cannot run on ``gpu``: ggml's backends (ggml/src: CUDA, HIP, Metal,
    Vulkan, SYCL for Intel GPUs, CANN, MUSA, OpenCL, CPU) have none for Intel Gaudi's HPUs,
    which run vLLM's plugin."""
    return gpu.vendor is Vendor.INTEL and gpu.architecture.lower().startswith("gaudi")


def refuse_mixed_attention(req: Request, engine: str, what: str) -> None:
    """Refuse layers of different attention geometry (Gemma 4's full layers: their own head
    size and KV heads), whose cache rigfit replays for llama.cpp only; ``what`` names the
    part of ``engine`` not replayed."""
    if req.arch.mixed_attention:
        gaudi = next((g for g in req.system.devices if without_ggml_backend(g)), None)
        instead = (
            f"and llama.cpp, the engine rigfit prices it under, has no backend for {gaudi.name}:"
            f" rigfit cannot price {req.arch.model_type} on this system yet"
            if gaudi is not None
            else "use --engine llama.cpp"
        )
        raise UnsupportedArchitectureError(
            f"rigfit does not yet replay {engine}'s cache for layers of different head sizes or"
            f" KV heads ({req.arch.model_type}): {what}; {instead}"
        )


# ---- formats a device can run --------------------------------------------------------------

# NVIDIA compute capability (major × 10 + minor) of each catalog architecture, from NVIDIA's
# CUDA GPUs table (developer.nvidia.com/cuda-gpus): Volta 7.0, Turing 7.5, Ampere 8.0/8.6
# (8.0 counted: the kernels below test >= 80), Ada Lovelace 8.9, Hopper 9.0, Blackwell 10.0
# (B200/GB200) and 12.0 (RTX 50 / RTX PRO; 10 counted: both have FP4 tensor cores).
_CUDA_CAPABILITY = {
    "volta": 70,
    "turing": 75,
    "ampere": 80,
    "ada lovelace": 89,
    "hopper": 90,
    "blackwell": 100,
}
NVIDIA_ARCHITECTURES = tuple(_CUDA_CAPABILITY)

# AMD Instinct generations with FP8 matrix cores: CDNA 3 (MI300) and CDNA 4 (MI350/MI355);
# CDNA 2 (MI250X) and RDNA 3 have none (AMD CDNA 3 / CDNA 4 whitepapers). vLLM's ROCm FP8
# and MXFP4 paths need them (vllm/platforms/rocm.py supports_fp8: gfx94x/gfx95x).
_AMD_FP8 = frozenset({"cdna 3", "cdna 4"})


def cuda_capability(gpu: GPURecord) -> int | None:
    """The compute capability ×10 of an NVIDIA accelerator, from its architecture's first
    words ("Blackwell Ultra" is a Blackwell); None for other vendors and unknown ones."""
    if gpu.vendor is not Vendor.NVIDIA:
        return None
    arch = gpu.architecture.lower().strip()
    if len(arch) < 3:
        return None
    return next(
        (
            cc
            for name, cc in _CUDA_CAPABILITY.items()
            if arch.startswith(name) or name.startswith(arch)
        ),
        None,
    )


# Minimum compute capability of each quantized format's kernels in vLLM 0.11.0, from each
# QuantizationConfig.get_min_capability: fp8.py and modelopt.py (FP8: 80, Marlin weight-only
# below 89), awq_marlin.py / gptq_marlin.py (75 / 60 for the non-Marlin GPTQ kernel; 75 taken),
# modelopt.py ModelOptNvFp4Config (80: Marlin FP4 weight-only below 100), mxfp4.py (80).
_VLLM_MIN_CAPABILITY = {
    WeightFormat.FP8: 80,
    WeightFormat.FP8_BLOCK: 80,
    WeightFormat.FP8_CHANNEL: 80,
    WeightFormat.INT8: 75,
    WeightFormat.AWQ: 75,
    WeightFormat.W4A16: 75,  # CompressedTensorsWNA16.get_min_capability: "Turing and up"
    WeightFormat.GPTQ_INT4: 60,
    WeightFormat.GPTQ_INT8: 60,
    WeightFormat.NVFP4: 80,
    WeightFormat.MXFP4: 80,
    WeightFormat.MXFP4_EXPERTS: 80,
}
# Where the format has no native tensor cores, vLLM falls back to weight-only Marlin kernels:
# FP8 below 8.9 ("FP8 Marlin", fp8.py), NVFP4 below 10.0 ("Your GPU does not have native
# support for FP4 computation ... Weight-only FP4 compression will be used leveraging the
# Marlin kernel", marlin_utils_fp4.py), MXFP4 below 9.0 (mxfp4.py get_mxfp4_backend).
_NATIVE_FROM = {
    WeightFormat.FP8: 89,
    WeightFormat.FP8_BLOCK: 89,
    WeightFormat.FP8_CHANNEL: 89,
    WeightFormat.NVFP4: 100,
    WeightFormat.MXFP4: 90,
    WeightFormat.MXFP4_EXPERTS: 90,
}
# SGLang 0.5.3 has no Marlin fallback for NVFP4: ModelOptFp4Config.get_min_capability is 100
# (python/sglang/srt/layers/quantization/modelopt_quant.py)
SGLANG_NVFP4_MIN_CAPABILITY = 100
_NVIDIA_ONLY = frozenset({WeightFormat.NVFP4})
_FP8_CORES = FP8_FORMATS
_MXFP4 = frozenset({WeightFormat.MXFP4, WeightFormat.MXFP4_EXPERTS})


def refuse_format_on_device(fmt: WeightFormat, gpu: GPURecord, engine: str) -> None:
    """Refuse a weight format whose kernels ``engine`` (vLLM, SGLang) lacks on ``gpu``."""
    if fmt in _NVIDIA_ONLY and gpu.vendor is not Vendor.NVIDIA:
        raise InvalidSpecError(
            f"{fmt.label} is NVIDIA's format: {engine} has no kernels for it on {gpu.name}"
            " (allowed there: BF16, FP8 on CDNA 3 and later, AWQ, GPTQ)"
        )
    if gpu.vendor is Vendor.AMD and fmt in (_FP8_CORES | _MXFP4):
        if gpu.architecture.lower() not in _AMD_FP8:
            raise InvalidSpecError(
                f"{gpu.name} ({gpu.architecture}) has no FP8 matrix cores, which {engine}'s"
                f" {fmt.label} kernels need on ROCm (MI300 and later); use BF16, AWQ or GPTQ"
            )
        return
    cap = cuda_capability(gpu)
    need = _VLLM_MIN_CAPABILITY.get(fmt)
    if cap is None:
        if gpu.vendor is Vendor.NVIDIA and need is not None:
            # a custom or unrecognised card: whether its kernels exist is not guessed
            raise InvalidSpecError(
                f"{engine}'s {fmt.label} kernels depend on the compute capability, which is"
                f" not known for {gpu.name}: give its architecture (custom:...,arch=ada;"
                f" allowed: {', '.join(_CUDA_CAPABILITY)}), or use BF16 or a GGUF type"
            )
        return
    if engine == "SGLang" and fmt is WeightFormat.NVFP4:
        need = SGLANG_NVFP4_MIN_CAPABILITY
    if need is not None and cap < need:
        raise InvalidSpecError(
            f"{engine} has no {fmt.label} kernels for {gpu.name} ({gpu.architecture}, compute"
            f" capability {cap / 10:.1f}; they need {need / 10:.1f} or later): use BF16"
            + (", AWQ or GPTQ" if need > 75 else "")
            + " there, or a GGUF type with --engine llama.cpp"
        )


# transformers' FineGrainedFP8 quantizer (quantizers/quantizer_finegrained_fp8.py, 4.57):
# "FP8 quantized models is only supported on GPUs with compute capability >= 8.9 (e.g
# 4090/H100) ... We will default to dequantizing the model to bf16"
TRANSFORMERS_FP8_MIN_CAPABILITY = 89


def refuse_transformers_fp8(fmt: WeightFormat, gpu: GPURecord) -> None:
    """Refuse pricing FP8 weights under transformers where it would load them as BF16."""
    if fmt not in _FP8_CORES:
        return
    cap = cuda_capability(gpu)
    amd_old = gpu.vendor is Vendor.AMD and gpu.architecture.lower() not in _AMD_FP8
    if gpu.vendor is Vendor.NVIDIA and cap is None:
        raise InvalidSpecError(
            f"transformers runs {fmt.label} weights as FP8 only from compute capability 8.9,"
            f" which is not known for {gpu.name}: give its architecture (custom:...,arch=ada)"
        )
    if amd_old or (cap is not None and cap < TRANSFORMERS_FP8_MIN_CAPABILITY):
        raise InvalidSpecError(
            f"transformers dequantizes {fmt.label} weights to BF16 on {gpu.name} (no FP8"
            " compute below compute capability 8.9): price --quant BF16 for --engine"
            " transformers"
        )


def emulation_note(fmt: WeightFormat, gpu: GPURecord) -> str | None:
    """A note when vLLM runs ``fmt`` weight-only (Marlin) because ``gpu`` lacks its cores."""
    cap = cuda_capability(gpu)
    native = _NATIVE_FROM.get(fmt)
    if cap is None or native is None or cap >= native:
        return None
    return (
        f"{gpu.architecture} has no {fmt.label} tensor cores: vLLM runs these weights through"
        " its weight-only Marlin kernel (the memory is the same; compute is 16-bit)"
    )


def release_floor(
    req: Request, engine: str, since: tuple[int, int, int], version: tuple[int, int, int]
) -> str:
    """Refuse an --engine-version older than ``since``, the first release of ``engine`` that
    loads the model's family; for the default (the release rigfit replays) return a note when
    that release predates it, else ""."""
    if since == (0, 0, 0) or version >= since:
        return ""
    first = ".".join(map(str, since))
    if req.engine.version is not None:
        raise InvalidSpecError(
            f"{engine} {req.engine.version} cannot load {req.arch.model_type} (allowed: {first}"
            " or later)"
        )
    return (
        f"{req.arch.model_type} loads in {engine} from {first}; rigfit prices it with"
        f" {'.'.join(map(str, version))}'s memory rules, which it replays"
    )
