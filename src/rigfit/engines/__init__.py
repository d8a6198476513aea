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
from rigfit.estimate.settings import EngineSettings

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


# The command-line flag of each EngineSettings field, for error messages.
_FLAGS = {
    "version": "--engine-version",
    "tp": "--tp",
    "pp": "--pp",
    "ngl": "--ngl",
    "cpu_moe": "--cpu-moe",
    "n_cpu_moe": "--n-cpu-moe",
    "tensor_split": "--tensor-split",
    "flash_attn": "--flash-attn",
    "n_ubatch": "--ubatch",
    "gpu_memory_utilization": "--gpu-memory-utilization",
    "mem_fraction_static": "--mem-fraction-static",
    "max_num_batched_tokens": "--max-num-batched-tokens",
    "max_num_seqs": "--max-num-seqs",
    "block_size": "--block-size",
    "enforce_eager": "--enforce-eager",
    "attn_implementation": "--attn-implementation",
    "mlx_bits": "--q-bits",
}
_LLAMA_SPLIT = {"version", "tp", "pp", "ngl", "cpu_moe", "n_cpu_moe", "tensor_split"}
# The fields each engine's profile reads, whether to use them or to refuse them with its own
# message; any other field set away from its default would be ignored, so it is refused.
_READS: dict[str, frozenset[str]] = {
    "generic": frozenset(),
    "llama.cpp": frozenset(_LLAMA_SPLIT | {"flash_attn", "n_ubatch"}),
    "ollama": frozenset(_LLAMA_SPLIT | {"flash_attn"}),  # its runner sets -ub itself
    "vllm": frozenset(
        {"version", "tp", "pp", "ngl", "cpu_moe", "n_cpu_moe", "gpu_memory_utilization"}
        | {"max_num_batched_tokens", "max_num_seqs", "block_size", "enforce_eager"}
    ),
    "sglang": frozenset(_LLAMA_SPLIT | {"mem_fraction_static"}),
    "transformers": frozenset(_LLAMA_SPLIT | {"attn_implementation"}),
    "mlx": frozenset({"tp", "pp", "ngl", "cpu_moe", "n_cpu_moe", "mlx_bits"}),
}


# The fields each engine acts on (the rest of what it reads, it reads to refuse): an option
# given without --engine picks the engine that has it (rigfit.engines.choice)
_LAYER_SPLIT = frozenset({"ngl", "cpu_moe", "n_cpu_moe", "tensor_split", "flash_attn"})
_USES: dict[str, frozenset[str]] = {
    "llama.cpp": _LAYER_SPLIT | {"version", "n_ubatch"},
    "ollama": frozenset({"version", "ngl", "flash_attn"}),
    "vllm": frozenset(
        {"version", "tp", "pp", "gpu_memory_utilization", "max_num_batched_tokens"}
        | {"max_num_seqs", "block_size", "enforce_eager"}
    ),
    "sglang": frozenset({"version", "tp", "pp", "mem_fraction_static"}),
    "transformers": frozenset({"version", "attn_implementation"}),
    "mlx": frozenset({"mlx_bits"}),
}


def uses() -> dict[str, frozenset[str]]:
    """The EngineSettings fields each engine acts on."""
    return dict(_USES)


def flag(field_name: str) -> str:
    """The command-line flag of an EngineSettings field (``ngl`` -> ``--ngl``)."""
    return _FLAGS[field_name]


def check_settings(profile: EngineProfile, settings: EngineSettings) -> None:
    """Refuse options that ``profile`` would silently ignore (``--ubatch`` under vLLM, say)."""
    reads = _READS.get(profile.name)
    if reads is None:
        return
    default = EngineSettings()
    ignored = [
        _FLAGS[f.name]
        for f in fields(EngineSettings)
        if f.name not in reads and getattr(settings, f.name) != getattr(default, f.name)
    ]
    if ignored:
        raise InvalidSpecError(
            f"{', '.join(ignored)}: not {'an option' if len(ignored) == 1 else 'options'} of"
            f" --engine {profile.name}, which would ignore {'it' if len(ignored) == 1 else 'them'}"
        )
