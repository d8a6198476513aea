"""Estimates and the questions built on them (see memory.py and plan.py)."""

from rigfit.estimate.memory import (
    EngineProfile,
    Estimate,
    Request,
    Term,
    estimate,
)
from rigfit.estimate.plan import (
    FitResult,
    GPURow,
    Suggestion,
    fit,
    gpu_table,
    max_context,
    max_seqs,
    min_gpus,
    suggestions,
)
from rigfit.estimate.weights import WeightBreakdown, weight_breakdown

__all__ = [
    "EngineProfile",
    "Estimate",
    "FitResult",
    "GPURow",
    "Request",
    "Suggestion",
    "Term",
    "WeightBreakdown",
    "estimate",
    "fit",
    "gpu_table",
    "max_context",
    "max_seqs",
    "min_gpus",
    "suggestions",
    "weight_breakdown",
]
