"""rigfit: exact memory estimates for open-weight LLMs on real accelerators.

>>> import rigfit
>>> model, req = rigfit.make_request("meta-llama/Llama-3.3-70B-Instruct", "h100-sxm",
...                                  quant="Q4_K_M", ctx="32k")
>>> rigfit.estimate(req).fits
True
"""

from rigfit import _gc  # the rigfit command pauses garbage collection until these are done

try:
    from rigfit.api import make_request, native_format
    from rigfit.arch import (
        Architecture,
        AttentionKind,
        LayerKind,
        Tensor,
        from_config,
    )
    from rigfit.catalog.lookup import Model, get_gpu, get_model, list_gpus, list_models
    from rigfit.errors import (
        CatalogError,
        InvalidSpecError,
        RigfitError,
        UnknownFormatError,
        UnknownGPUError,
        UnknownKVTypeError,
        UnknownModelError,
        UnknownNameError,
        UnsupportedArchitectureError,
    )
    from rigfit.estimate import (
        EngineProfile,
        Estimate,
        FitResult,
        Request,
        Term,
        estimate,
        fit,
        gpu_table,
        max_context,
        max_seqs,
        min_gpus,
        weight_breakdown,
    )
    from rigfit.hardware import System
    from rigfit.quant import GGMLType, KVCacheType, WeightFormat, parse_kv_type, parse_quant
finally:
    _gc.resume()

__all__ = [
    "Architecture",
    "AttentionKind",
    "CatalogError",
    "EngineProfile",
    "Estimate",
    "FitResult",
    "GGMLType",
    "InvalidSpecError",
    "KVCacheType",
    "LayerKind",
    "Model",
    "Request",
    "RigfitError",
    "System",
    "Tensor",
    "Term",
    "UnknownFormatError",
    "UnknownGPUError",
    "UnknownKVTypeError",
    "UnknownModelError",
    "UnknownNameError",
    "UnsupportedArchitectureError",
    "WeightFormat",
    "estimate",
    "fit",
    "from_config",
    "get_gpu",
    "get_model",
    "gpu_table",
    "list_gpus",
    "list_models",
    "make_request",
    "max_context",
    "max_seqs",
    "min_gpus",
    "native_format",
    "parse_kv_type",
    "parse_quant",
    "weight_breakdown",
]
