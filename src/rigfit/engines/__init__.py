"""Engine profiles: how llama.cpp, Ollama, vLLM, SGLang, transformers and MLX spend memory.

Each engine is one module with its versioned constants, the flags they correspond to and the
command line that runs the plan. :func:`get_engine` finds one by name; ``auto`` (the default
everywhere) is the engine the weight format and device imply (:mod:`rigfit.engines.choice`),
and ``generic`` a profile no program runs, kept for comparison.
"""

from __future__ import annotations

import importlib
from dataclasses import fields
from typing import Protocol, cast

from rigfit.errors import InvalidSpecError, UnknownNameError, closest
from rigfit.estimate.memory import EngineProfile, Request
from rigfit.estimate.settings import DEFAULT_SETTINGS, EngineSettings, option, uses_by_engine

__all__ = [
    "AUTO_ENGINE",
    "ENGINES",
    "Engine",
    "UnknownEngineError",
    "check_settings",
    "command_line",
    "flag",
    "get_engine",
    "uses",
]


class Engine(EngineProfile, Protocol):
    """An engine profile that can also print the command matching a plan."""

    reference_version: str

    def command(self, req: Request, model_ref: str) -> str: ...


class UnknownEngineError(UnknownNameError):
    """An --engine that rigfit does not know."""

    kind = "engine"


# Each engine's module and profile, imported when first asked for: `rigfit fit` without
# --engine (and the catalog pages) never pay for the modules they do not use.
_MODULES: dict[str, tuple[str, str]] = {
    "auto": ("rigfit.engines.choice", "AUTO"),
    "llama.cpp": ("rigfit.engines.llamacpp", "LLAMACPP"),
    "ollama": ("rigfit.engines.ollama", "OLLAMA"),
    "vllm": ("rigfit.engines.vllm", "VLLM"),
    "sglang": ("rigfit.engines.sglang", "SGLANG"),
    "transformers": ("rigfit.engines.transformers", "TRANSFORMERS"),
    "mlx": ("rigfit.engines.mlx", "MLX"),
    "generic": ("rigfit.engines.generic", "GENERIC"),
}
# Every engine name, in the order menus list them; the first is the default
ENGINES: tuple[str, ...] = tuple(_MODULES)
AUTO_ENGINE = "auto"


def _load(name: str) -> EngineProfile:
    module, attr = _MODULES[name]
    profile = getattr(importlib.import_module(module), attr)
    assert profile.name == name
    return cast(EngineProfile, profile)


_ALIASES = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "llama-server": "llama.cpp"}


def get_engine(name: str) -> EngineProfile:
    """An engine profile by name (case-insensitive; ``llamacpp`` works for llama.cpp)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in ENGINES:
        return _load(key)
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


def uses() -> dict[str, frozenset[str]]:
    """The EngineSettings fields each engine acts on (from the one option table)."""
    return uses_by_engine(tuple(e for e in ENGINES if e != AUTO_ENGINE))


def flag(field_name: str) -> str:
    """The command-line flag of an EngineSettings field (``ngl`` -> ``--ngl``)."""
    return option(field_name).flag


def check_settings(profile: EngineProfile, settings: EngineSettings) -> None:
    """Refuse options that ``profile`` would silently ignore (``--ubatch`` under vLLM, say)."""
    if profile.name == AUTO_ENGINE:
        return  # the options given pick the engine (rigfit.engines.choice)
    used = uses().get(profile.name, frozenset())
    ignored = [
        flag(f.name)
        for f in fields(EngineSettings)
        if f.name not in used and getattr(settings, f.name) != getattr(DEFAULT_SETTINGS, f.name)
    ]
    if ignored:
        raise InvalidSpecError(
            f"{', '.join(ignored)}: not {'an option' if len(ignored) == 1 else 'options'} of"
            f" --engine {profile.name}, which would ignore {'it' if len(ignored) == 1 else 'them'}"
        )
