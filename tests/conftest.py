"""Shared fixtures: catalog models and GPUs, parametrized by id."""

from __future__ import annotations

import os
import tempfile

import pytest

# The suite never reads the developer's own accelerators or prices files, nor a recorded
# machine: rigfit's user folder is an empty one for the whole run.
os.environ["RIGFIT_CONFIG_DIR"] = tempfile.mkdtemp(prefix="rigfit-test-config-")
os.environ.pop("RIGFIT_MACHINE", None)

import rigfit

MODELS = rigfit.list_models()
GPUS = rigfit.list_gpus()


@pytest.fixture(params=MODELS, ids=[m.id for m in MODELS])
def catalog_model(request: pytest.FixtureRequest) -> rigfit.Model:
    return request.param  # type: ignore[no-any-return]
