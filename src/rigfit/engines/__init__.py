"""Engine profiles: how llama.cpp, Ollama, vLLM, SGLang, transformers and MLX spend memory.

Each engine is one module with its versioned constants, the flags they correspond to and the
command line that runs the plan. :func:`get_engine` finds one by name.
"""

from __future__ import annotations

from typing import Protocol

from rigfit.errors import UnknownNameError, closest
from rigfit.estimate.memory import GENERIC, EngineProfile, Request

__all__ = ["ENGINES", "Engine", "UnknownEngineError", "command_line", "get_engine"]


class Engine(EngineProfile, Protocol):
    """An engine profile that can also print the command matching a plan."""

    reference_version: str

    def command(self, req: Request, model_ref: str) -> str: ...


class UnknownEngineError(UnknownNameError):
    """An --engine that rigfit does not know."""

    kind = "engine"


def _registry() -> dict[str, EngineProfile]:
    from rigfit.engines.llamacpp import LLAMACPP
    from rigfit.engines.mlx import MLX
    from rigfit.engines.ollama import OLLAMA
    from rigfit.engines.sglang import SGLANG
    from rigfit.engines.transformers import TRANSFORMERS
    from rigfit.engines.vllm import VLLM

    engines: dict[str, EngineProfile] = {GENERIC.name: GENERIC, LLAMACPP.name: LLAMACPP}
    engines[VLLM.name] = VLLM
    engines[SGLANG.name] = SGLANG
    engines[TRANSFORMERS.name] = TRANSFORMERS
    engines[MLX.name] = MLX
    engines[OLLAMA.name] = OLLAMA
    return engines


ENGINES: dict[str, EngineProfile] = _registry()
_ALIASES = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "llama-server": "llama.cpp"}


def get_engine(name: str) -> EngineProfile:
    """An engine profile by name (case-insensitive; ``llamacpp`` works for llama.cpp)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in ENGINES:
        return ENGINES[key]
    names = list(ENGINES)
    raise UnknownEngineError(name, closest(name, names), "allowed: " + ", ".join(names))


def command_line(profile: EngineProfile, req: Request, model_ref: str) -> str | None:
    """The engine's command for this plan, or None for the generic profile."""
    command = getattr(profile, "command", None)
    if command is None:
        return None
    out = command(req, model_ref)
    assert isinstance(out, str)
    return out
