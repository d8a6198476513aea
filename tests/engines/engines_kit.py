"""Helpers the engine tests share; conftest.py beside this file puts it on sys.path."""

from __future__ import annotations

import dataclasses

from rigfit.api import make_request
from rigfit.estimate.memory import Request
from rigfit.estimate.settings import EngineSettings


def req_for(model: str, gpu: str, *, gpus: int = 1, **kw: object) -> Request:
    """A request for ``model`` on ``gpus`` × ``gpu``; ``engine=EngineSettings(...)`` sets
    the engine options, the other keywords go to :func:`rigfit.api.make_request`."""
    settings = kw.pop("engine", EngineSettings())
    _, req = make_request(model, gpu, gpus=gpus, **kw)  # type: ignore[arg-type]
    assert isinstance(settings, EngineSettings)
    return dataclasses.replace(req, engine=settings)
