"""The REST API under ``/api/v1``: the library's answers as JSON, one envelope for errors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from rigfit.errors import UnknownNameError
from rigfit.report import (
    CompareReport,
    CurveReport,
    FitReport,
    FormatTableReport,
    GPUReport,
    GPUTableReport,
    ModelReport,
    ModelsOnGPUReport,
    PlanReport,
    TrainReport,
)
from rigfit.web import service
from rigfit.web.errors import ErrorEnvelope
from rigfit.web.inputs import (
    CompareQuery,
    EstimateQuery,
    GPUFilter,
    ModelFilter,
    ModelsOnGPUQuery,
    PlanIn,
    TableQuery,
    TrainIn,
)

__all__ = ["NotFoundError", "router"]

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorEnvelope, "description": "bad input: what was wrong, what is allowed"},
    404: {"model": ErrorEnvelope, "description": "unknown id, with the closest matches"},
    422: {"model": ErrorEnvelope, "description": "a field out of range or of the wrong type"},
}

router = APIRouter(prefix="/api/v1", responses=_ERRORS)

PathId = Annotated[str, Path(min_length=1, max_length=200)]


class NotFoundError(Exception):
    """An unknown id in the path: answered 404 with the closest matches."""

    def __init__(self, error: UnknownNameError) -> None:
        super().__init__(str(error))
        self.error = error


def _json(data: bytes) -> Response:
    return Response(content=data, media_type="application/json")


@router.get("/models", response_model=list[ModelReport], tags=["catalog"])
def list_models(f: Annotated[ModelFilter, Query()]) -> list[ModelReport]:
    """Catalog models matching every filter, each as its spec sheet."""
    return [service.model(m.id) for m in service.models(f)]


@router.get("/models/{model_id:path}", response_model=ModelReport, tags=["catalog"])
def get_model(model_id: PathId) -> ModelReport:
    """One model's spec sheet, each value with its source (ids contain a slash)."""
    try:
        return service.model(model_id)
    except UnknownNameError as exc:
        raise NotFoundError(exc) from exc


@router.get("/gpus", response_model=list[GPUReport], tags=["catalog"])
def list_gpus(f: Annotated[GPUFilter, Query()]) -> list[GPUReport]:
    """Catalog accelerators matching every filter."""
    return service.gpus(f)


@router.get("/gpus/{gpu_id}", response_model=GPUReport, tags=["catalog"])
def get_gpu(gpu_id: PathId) -> GPUReport:
    """One accelerator, with the capacity rigfit uses and its source."""
    try:
        return service.gpu(gpu_id)
    except UnknownNameError as exc:
        raise NotFoundError(exc) from exc


@router.get("/estimate", response_model=FitReport, tags=["estimate"])
def estimate(q: Annotated[EstimateQuery, Query()]) -> Response:
    """Will it fit, and how fast: every term with its formula, per GPU and in total, headroom
    or shortfall, the largest context and concurrency that fit, what would make it fit, and
    the speed (decode, prefill, time to first token, output against users, with bands)."""
    return _json(service.estimate_json(q))


@router.get("/curve", response_model=CurveReport, tags=["estimate"])
def curve(q: Annotated[EstimateQuery, Query()]) -> CurveReport:
    """Memory per GPU from 512 tokens to the model's maximum context."""
    return service.curve(q)


@router.get("/gpu-table", response_model=GPUTableReport, tags=["estimate"])
def gpu_table(q: Annotated[TableQuery, Query()]) -> GPUTableReport:
    """For every catalog accelerator: how many of it the model needs, and the headroom."""
    return service.which_gpus(q)


@router.get("/formats", response_model=FormatTableReport, tags=["estimate"])
def formats(
    model: Annotated[str, Query(min_length=1, max_length=200)],
    kv_type: Annotated[str, Query(min_length=1, max_length=40)] = "f16",
) -> FormatTableReport:
    """A model in every weight format: weights, and totals at 4k, 32k and its maximum."""
    return service.formats(model, kv_type)


@router.get("/models-on-gpu", response_model=ModelsOnGPUReport, tags=["estimate"])
def models_on_gpu(q: Annotated[ModelsOnGPUQuery, Query()]) -> ModelsOnGPUReport:
    """Every catalog model on one system: which fit, at which memory."""
    return service.models_on(q)


@router.get("/compare", response_model=CompareReport, tags=["estimate"])
def compare(q: Annotated[CompareQuery, Query()]) -> CompareReport:
    """Two to four models on one system (``models``), or one model on two to four
    accelerators (``gpus_compared``)."""
    return service.compare(q)


@router.get("/plan", response_model=PlanReport, tags=["estimate"])
def plan(q: Annotated[PlanIn, Query()]) -> PlanReport:
    """The least hardware that serves a model at a context, a concurrency and a speed:
    formats × engines × accelerator counts, ranked by devices, price, rent or power, each
    option with its memory, speed and command line."""
    return service.hardware_plan(q)


@router.get("/train", response_model=TrainReport, tags=["estimate"])
def train(q: Annotated[TrainIn, Query()]) -> TrainReport:
    """Can a model be fine-tuned on these GPUs: memory per GPU term by term (weights at the
    training precision, adapters, gradients, optimizer states, activations, logits), the
    verdict, the largest micro-batch and sequence that fit, changes that would make it fit,
    the speed and the TRL command."""
    return service.train(q)
