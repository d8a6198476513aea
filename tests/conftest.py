"""Shared fixtures: catalog models and GPUs, parametrized by id."""

from __future__ import annotations

import pytest

import rigfit

MODELS = rigfit.list_models()
GPUS = rigfit.list_gpus()


@pytest.fixture(params=MODELS, ids=[m.id for m in MODELS])
def catalog_model(request: pytest.FixtureRequest) -> rigfit.Model:
    return request.param  # type: ignore[no-any-return]
