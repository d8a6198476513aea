"""The engine options a plan depends on: every option once, and the settings they make.

:data:`OPTIONS` is the one table of engine options: each one's flag, type, bounds, help, the
engines that act on it and the engine source it mirrors. It feeds the checks of
:class:`EngineSettings`, the CLI's options, the REST API's parameters, the refusal of options an
engine does not have, and the automatic engine choice (an option given without ``--engine``
picks the engine that has it), as datasette's SETTINGS table feeds its CLI and docs.

Every EngineSettings field is the value of one option; ``None`` means "the engine's default",
which each engine profile fills in from its own versioned constants.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from rigfit.errors import InvalidSpecError
from rigfit.frozen import frozen

__all__ = [
    "DEFAULT_SETTINGS",
    "MAX_BATCH_TOKENS",
    "OPTIONS",
    "EngineSettings",
    "Option",
    "option",
    "settings_from",
    "uses_by_engine",
]

# Bound on token-count options, as for contexts (units.MAX_TOKENS = 2^30): far above any engine's
# real batch sizes, and it keeps every product of tokens × bytes inside exact integer ranges.
MAX_BATCH_TOKENS = 1 << 30

# Bound on token-count options, as for contexts (units.MAX_TOKENS = 2^30)
LLAMA_CPP = frozenset({"llama.cpp"})
LAYER_SPLIT = frozenset({"llama.cpp", "ollama"})
TP_SERVERS = frozenset({"vllm", "sglang"})


@frozen
class Option:
    """One engine option: an EngineSettings field and the flag that sets it."""

    field: str  # the EngineSettings field
    flag: str  # the rigfit CLI flag (and, without dashes, the API parameter)
    kind: str  # int, float, bool, choice, split (proportions), text
    help: str
    engines: frozenset[str]  # the engines that act on it
    source: str  # the engine's own flag or setting it mirrors
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    # the settings value each choice stands for (empty: the choice itself)
    values: tuple[object, ...] = ()

    def parse(self, given: object) -> object:
        """The settings value of an option as the CLI or the API gives it."""
        if self.kind == "split":
            return _split(str(given))
        if self.values:
            return dict(zip(self.choices, self.values, strict=True))[str(given)]
        return given

    def given(self, value: object) -> object:
        """A settings value as the option is given (the inverse of :meth:`parse`)."""
        if value is None or not self.values:
            return value
        return dict(zip(self.values, self.choices, strict=True)).get(value, str(value))

    @property
    def param(self) -> str:
        """The API parameter: the flag without its dashes, in snake case."""
        return self.flag.lstrip("-").replace("-", "_")

    def check(self, value: object) -> None:
        """Refuse a value outside the option's bounds, in one line."""
        if value is None or self.kind in ("bool", "text", "split"):
            return
        if self.kind == "choice":
            if str(value) not in self.choices:
                raise InvalidSpecError(
                    f"{self.flag} must be one of {', '.join(self.choices)}, got {value!r}"
                )
            return
        assert isinstance(value, int | float)
        lo, hi = self.lo, self.hi
        if self.kind == "float":
            ok = math.isfinite(value) and (lo is None or value > lo) and (hi is None or value <= hi)
            if not ok:
                raise InvalidSpecError(f"{self.flag} must be in ({lo:g}, {hi:g}], got {value}")
            return
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise InvalidSpecError(
                f"{self.flag} must be between {int(lo or 0):,} and {int(hi or 0):,}, got {value:,}"
            )


OPTIONS: tuple[Option, ...] = (
    Option(
        "version",
        "--engine-version",
        "text",
        "Engine version whose accounting applies (b5331, 0.8.5).",
        frozenset({"llama.cpp", "ollama", "vllm", "sglang", "transformers"}),
        "each engine's release tag",
    ),
    Option(
        "tp",
        "--tp",
        "int",
        "vLLM/SGLang tensor parallel size (default: every GPU of a pipeline stage).",
        TP_SERVERS,
        "vLLM --tensor-parallel-size, SGLang --tp",
        1,
        1024,
    ),
    Option(
        "pp",
        "--pp",
        "int",
        "vLLM/SGLang pipeline stages.",
        TP_SERVERS,
        "vLLM --pipeline-parallel-size, SGLang --pp-size",
        1,
        1024,
    ),
    Option(
        "ngl",
        "--ngl",
        "int",
        "llama.cpp -ngl: layers on the GPUs (default all).",
        LAYER_SPLIT,
        "llama.cpp -ngl / --n-gpu-layers; Ollama num_gpu",
        0,
        100_000,
    ),
    Option(
        "cpu_moe",
        "--cpu-moe",
        "bool",
        "llama.cpp --cpu-moe: every routed expert in system RAM.",
        LLAMA_CPP,
        "llama.cpp --cpu-moe",
    ),
    Option(
        "n_cpu_moe",
        "--n-cpu-moe",
        "int",
        "llama.cpp: the experts of the first N layers in system RAM.",
        LLAMA_CPP,
        "llama.cpp --n-cpu-moe",
        0,
        100_000,
    ),
    Option(
        "tensor_split",
        "--tensor-split",
        "split",
        "llama.cpp --tensor-split, one proportion per GPU: 3,1.",
        LLAMA_CPP,
        "llama.cpp --tensor-split",
    ),
    Option(
        "flash_attn",
        "--flash-attn",
        "choice",
        "llama.cpp -fa (default: auto).",
        LAYER_SPLIT,
        "llama.cpp -fa on|off; Ollama OLLAMA_FLASH_ATTENTION",
        choices=("on", "off"),
        values=(True, False),
    ),
    Option(
        "backend",
        "--backend",
        "choice",
        "llama.cpp's GPU backend, for speed (default: the vendor's own: cuda, rocm, metal, sycl).",
        LLAMA_CPP,
        "the llama.cpp build: GGML_CUDA, GGML_HIP, GGML_VULKAN, GGML_METAL or GGML_SYCL"
        " (ggml/src has one backend each)",
        choices=("cuda", "rocm", "vulkan", "metal", "sycl"),
    ),
    Option(
        "swa_full",
        "--swa-full",
        "bool",
        "llama.cpp --swa-full: full-size cache for sliding-window layers.",
        LLAMA_CPP,
        "llama.cpp --swa-full (common/arg.cpp; llama_context_params.swa_full)",
    ),
    Option(
        "n_ubatch",
        "--ubatch",
        "int",
        "llama.cpp -ub, the physical batch (default 512).",
        LLAMA_CPP,
        "llama.cpp -ub / --ubatch-size",
        1,
        MAX_BATCH_TOKENS,
    ),
    Option(
        "gpu_memory_utilization",
        "--gpu-memory-utilization",
        "float",
        "vLLM's share of each GPU (default 0.9).",
        frozenset({"vllm"}),
        "vLLM --gpu-memory-utilization",
        0.0,
        1.0,
    ),
    Option(
        "mem_fraction_static",
        "--mem-fraction-static",
        "float",
        "SGLang's static share of each GPU (default: by GPU size).",
        frozenset({"sglang"}),
        "SGLang --mem-fraction-static",
        0.0,
        1.0,
    ),
    Option(
        "max_num_batched_tokens",
        "--max-num-batched-tokens",
        "int",
        "vLLM tokens per scheduler step, the profiling batch.",
        frozenset({"vllm"}),
        "vLLM --max-num-batched-tokens",
        1,
        MAX_BATCH_TOKENS,
    ),
    Option(
        "max_num_seqs",
        "--max-num-seqs",
        "int",
        "vLLM --max-num-seqs.",
        frozenset({"vllm"}),
        "vLLM --max-num-seqs",
        1,
        1 << 20,
    ),
    Option(
        "block_size",
        "--block-size",
        "int",
        "vLLM tokens per KV block (default 16; MLA 64 on Hopper, 128 on Blackwell).",
        frozenset({"vllm"}),
        "vLLM --block-size",
        1,
        1 << 16,
    ),
    Option(
        "mamba_ssm_cache_dtype",
        "--mamba-ssm-cache-dtype",
        "choice",
        "vLLM: the dtype of Mamba layers' SSM state (auto: the model dtype; NVIDIA's Nemotron"
        " cards ask for float32).",
        frozenset({"vllm"}),
        "vLLM --mamba-ssm-cache-dtype",
        choices=("auto", "float32"),
    ),
    Option(
        "enforce_eager",
        "--enforce-eager",
        "bool",
        "vLLM --enforce-eager: no CUDA graphs.",
        frozenset({"vllm"}),
        "vLLM --enforce-eager",
    ),
    Option(
        "attn_implementation",
        "--attn-implementation",
        "choice",
        "transformers attn_implementation (default sdpa).",
        frozenset({"transformers"}),
        "transformers from_pretrained(attn_implementation=...)",
        choices=("sdpa", "eager", "flash_attention_2"),
    ),
    Option(
        "mlx_bits",
        "--q-bits",
        "choice",
        "MLX: quantize the F16/BF16 checkpoint with mlx_lm.convert -q --q-bits N.",
        frozenset({"mlx"}),
        "mlx_lm.convert --q-bits",
        choices=("2", "3", "4", "5", "6", "8"),
        values=(2, 3, 4, 5, 6, 8),
    ),
)


@frozen
class EngineSettings:
    """Options of the engine a request runs under (the generic profile ignores them)."""

    version: str | None = None  # engine version whose constants apply; None: the reference
    tp: int | None = None  # vLLM/SGLang --tensor-parallel-size; None: every GPU (over pp)
    pp: int = 1  # vLLM --pipeline-parallel-size, SGLang --pp-size
    ngl: int | None = None  # llama.cpp -ngl: repeating layers on GPU; None: all (-ngl 999)
    cpu_moe: bool = False  # llama.cpp --cpu-moe: every routed expert tensor in system RAM
    n_cpu_moe: int = 0  # llama.cpp --n-cpu-moe N: the experts of the first N layers in RAM
    tensor_split: tuple[float, ...] | None = None  # llama.cpp --tensor-split, one per device
    flash_attn: bool | None = None  # llama.cpp -fa on/off; None: auto
    backend: str | None = None  # llama.cpp's GPU backend (its build); None: the vendor's own
    swa_full: bool = False  # llama.cpp --swa-full: sliding layers keep the whole context
    n_ubatch: int | None = None  # llama.cpp -ub (physical batch)
    gpu_memory_utilization: float | None = None  # vLLM --gpu-memory-utilization
    mem_fraction_static: float | None = None  # SGLang --mem-fraction-static
    max_num_batched_tokens: int | None = None  # vLLM --max-num-batched-tokens
    max_num_seqs: int | None = None  # vLLM --max-num-seqs
    block_size: int | None = None  # vLLM --block-size (tokens per KV block)
    mamba_ssm_cache_dtype: str | None = None  # vLLM --mamba-ssm-cache-dtype; None: auto
    enforce_eager: bool = False  # vLLM --enforce-eager: no CUDA graphs
    attn_implementation: str | None = None  # transformers attn_implementation; None: sdpa
    mlx_bits: int | None = None  # mlx_lm.convert -q --q-bits N; None: unquantized F16/BF16

    def __post_init__(self) -> None:
        for f in fields(self):
            o = option(f.name)
            o.check(o.given(getattr(self, f.name)))
        if self.tensor_split is not None:
            if not self.tensor_split or any(
                not math.isfinite(x) or x < 0 for x in self.tensor_split
            ):
                raise InvalidSpecError(
                    "--tensor-split takes one finite, non-negative proportion per GPU, e.g. 3,1"
                )
            total = sum(self.tensor_split)
            if not 0 < total < math.inf:
                raise InvalidSpecError(
                    "--tensor-split needs at least one positive proportion, and a finite sum"
                )


_BY_FIELD = {o.field: o for o in OPTIONS}
assert list(_BY_FIELD) == [f.name for f in fields(EngineSettings)], "one option per field"


def option(field_name: str) -> Option:
    """The option of an EngineSettings field."""
    return _BY_FIELD[field_name]


# The engine defaults every request starts from (one shared, immutable instance)
DEFAULT_SETTINGS = EngineSettings()


def uses_by_engine(engines: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """For each engine, the EngineSettings fields it acts on."""
    return {e: frozenset(o.field for o in OPTIONS if e in o.engines) for e in engines}


def settings_from(values: Mapping[str, Any]) -> dict[str, Any]:
    """EngineSettings keyword arguments from option values as the CLI or the API give them
    (keyed by field; None or False: not given): ``--flash-attn on`` -> True, ``--q-bits 4``
    -> 4, ``--tensor-split 3,1`` -> (3.0, 1.0)."""
    out: dict[str, Any] = {}
    for o in OPTIONS:
        value = values.get(o.field)
        if value is None or value is False:
            continue
        out[o.field] = o.parse(value)
    return out


def _split(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.replace("/", ",").split(","))
    except ValueError:
        raise InvalidSpecError(
            f"--tensor-split takes proportions separated by commas, e.g. 3,1; got {text!r}"
        ) from None
