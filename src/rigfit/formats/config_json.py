"""Read a real Hugging Face ``config.json`` into :class:`rigfit.catalog.schema.HFConfig`.

Real configs carry many keys rigfit does not read (token ids, dropout, ...); they are dropped,
never an error. Multimodal configs keep their language model in ``text_config``: its keys are
lifted to the top level. Gemma 3 keeps its ``vision_config`` (rigfit accounts for its
SigLIP tower exactly), and so does Llama 4 (its own vision model); for the other multimodal
families rigfit prices the language model alone, under the text model's own ``model_type``, and
says so in a note. A family rigfit does not support still fails closed later, in
:func:`rigfit.arch.from_config`.

Keys that real configs omit because transformers fills them from its config class defaults are
filled here with those defaults, each cited, and only where rigfit needs them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from rigfit.catalog.schema import HFConfig, VisionConfig
from rigfit.formats.errors import ReaderError, UnsupportedQuantizationError
from rigfit.frozen import frozen
from rigfit.quant import WeightFormat
from rigfit.strict import RecordError, read

__all__ = [
    "CONFIG_MAX_BYTES",
    "ParsedConfig",
    "config_from_dict",
    "dtype_format",
    "load_config",
    "native_format",
    "parse_config",
    "quant_format",
    "validation_message",
]

# The largest config.json rigfit reads. Real ones are a few KiB (the largest, with per-layer
# lists such as layer_types or rope factors, stay under 100 KiB); anything near this is not a
# model config, and reading it whole would only waste memory.
CONFIG_MAX_BYTES = 4 << 20

# Gemma3TextConfig.__init__ defaults (transformers src/transformers/models/gemma3/
# configuration_gemma3.py, commit 008f5c8c): Gemma 3 multimodal configs (gemma-3-4b/12b/27b)
# omit these from text_config and rely on them.
_GEMMA3_TEXT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 262_208,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "max_position_embeddings": 131_072,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "rope_theta": 1_000_000.0,
    "attention_bias": False,
    "query_pre_attn_scalar": 256,
    "sliding_window": 4096,
    "sliding_window_pattern": 6,
}

_HF_KEYS = frozenset(f.name for f in fields(HFConfig))
# multimodal families whose vision tower rigfit counts exactly (rigfit.arch): Gemma 3's SigLIP
# tower, Llama 4's, Qwen3-VL's, Gemma 4's and Mistral 3's Pixtral; the others are priced as
# their language model alone
_VISION_TYPES = (
    *("gemma3", "gemma4", "llama4", "qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe"),
    *("mistral3", "ministral3"),
)
# wrappers that carry more than one kind of language model: the family each known text
# model_type is priced as, its tower kept. Mistral3ForConditionalGeneration wraps Mistral's
# dense model as Mistral Small 3.1/3.2 ("mistral", priced as the "mistral3" family) and as
# Ministral 3 / Devstral Small 2 ("ministral3", which keeps its own family: transformers runs
# it from 5.0 only); around Mistral Small 4's MoE ("mistral4") the text model_type stays and
# fails closed
_WRAPPED_TEXT = {"mistral3": {"mistral": "mistral3", "ministral3": "ministral3"}}
_VISION_KEYS = frozenset(f.name for f in fields(VisionConfig))


@frozen
class ParsedConfig:
    """A config read from a file: the keys rigfit reads, and what was done to get them."""

    config: HFConfig
    notes: tuple[str, ...] = ()


def validation_message(exc: RecordError) -> str:
    """One line for a config's problems: the first, with its key, and how many more."""
    loc, text, value = exc.problems[0]
    where = exc.where
    if text == "Field required":
        msg = f"missing required key {where!r}"
    else:
        text = text.removeprefix("Value error, ")
        msg = f"{where}: {text} (got {value!r})" if loc else text
    if exc.count > 1:
        msg += f" (and {exc.count - 1} more problems)"
    return msg


def _keep(raw: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    # None means "unset" in configs; dropping it lets the schema's default apply
    return {k: v for k, v in raw.items() if k in known and v is not None}


def parse_config(raw: object, source: str = "config.json") -> ParsedConfig:
    """Read the parsed JSON of a ``config.json``; ``source`` names it in messages and notes."""
    if not isinstance(raw, dict):
        raise ReaderError(f"{source}: not a JSON object (got {type(raw).__name__})")
    notes: list[str] = []
    data = dict(raw)
    top_type = data.get("model_type")
    text = data.pop("text_config", None)
    vision = data.pop("vision_config", None)
    if "torch_dtype" not in data and isinstance(data.get("dtype"), str):
        data["torch_dtype"] = data["dtype"]  # transformers >= 4.56 writes "dtype"
    if isinstance(text, dict):
        merged = {k: v for k, v in data.items() if k != "model_type"}
        merged.update(text)
        if "torch_dtype" not in merged and isinstance(text.get("dtype"), str):
            merged["torch_dtype"] = text["dtype"]
        text_type = text.get("model_type")
        wrapped = _WRAPPED_TEXT.get(top_type) if isinstance(top_type, str) else None
        if wrapped is not None and isinstance(text_type, str) and text_type in wrapped:
            merged["model_type"] = wrapped[text_type]
            if vision is None:
                # Mistral3Config builds a default Pixtral tower when vision_config is absent
                # (configuration_mistral3.py), and the model loads it
                notes.append(
                    f"{top_type} without a vision_config: transformers builds its default"
                    " Pixtral tower, which rigfit does not count"
                )
        elif top_type in _VISION_TYPES and wrapped is None:
            merged["model_type"] = top_type
        elif isinstance(text_type, str):
            merged["model_type"] = text_type
            if vision is not None:
                notes.append(
                    f"{top_type} is multimodal: rigfit prices its {text_type} language model;"
                    " the vision tower is not counted"
                )
                vision = None
        else:
            merged["model_type"] = top_type
        data = merged
    if data.get("model_type") in ("gemma3", "gemma3_text"):
        filled = [k for k in _GEMMA3_TEXT_DEFAULTS if data.get(k) is None]
        for k in filled:
            data[k] = _GEMMA3_TEXT_DEFAULTS[k]
        if filled:
            notes.append("Gemma3TextConfig defaults filled in: " + ", ".join(filled))
    letters = data.get("sliding_window_pattern")
    if isinstance(letters, str):
        # EXAONE 4 writes its pattern as letters ("LLLG": L local, G global); layer_types
        # spells it per layer, else layer i follows letter i mod len (mlx-lm exaone4.py)
        data.pop("sliding_window_pattern")
        n = data.get("num_hidden_layers")
        if not data.get("layer_types") and isinstance(n, int) and letters.strip("LG") == "":
            if letters and data.get("sliding_window"):
                data["layer_types"] = [
                    "sliding_attention" if letters[i % len(letters)] == "L" else "full_attention"
                    for i in range(n)
                ]
        elif not data.get("layer_types"):
            raise ReaderError(
                f"{source}: sliding_window_pattern {letters!r} is not a pattern of L (local)"
                " and G (global) letters"
            )
        notes.append(f"sliding_window_pattern {letters!r} read as layer_types")
    blocks = data.get("layers_block_type")
    if data.get("num_hidden_layers") is None and isinstance(blocks, list) and blocks:
        # Nemotron 3 Ultra writes only the per-layer list; transformers' NemotronHConfig
        # counts the layers from it (configuration_nemotron_h.py, huggingface/transformers
        # @13923c63: num_hidden_layers = len(layers_block_type))
        data["num_hidden_layers"] = len(blocks)
        notes.append(f"num_hidden_layers read as the {len(blocks)} entries of layers_block_type")
    kept = _keep(data, _HF_KEYS)
    kept.pop("vision_config", None)
    if isinstance(vision, dict):
        if data.get("model_type") in _VISION_TYPES:
            kept["vision_config"] = _keep(vision, _VISION_KEYS)
        else:
            notes.append(f"vision_config of {data.get('model_type')} not counted")
    try:
        config = read(HFConfig, kept)
    except RecordError as exc:
        raise ReaderError(f"{source}: {validation_message(exc)}") from None
    return ParsedConfig(config, tuple(notes))


def config_from_dict(raw: dict[str, Any]) -> HFConfig:
    """The keys of a real ``config.json`` that rigfit reads, as an :class:`HFConfig`.

    >>> config_from_dict({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    ...     "num_attention_heads": 4, "vocab_size": 100, "max_position_embeddings": 128,
    ...     "bos_token_id": 1}).hidden_size
    64
    """
    return parse_config(raw).config


def read_json(path: Path, max_bytes: int, what: str) -> object:
    """Parse a JSON file of at most ``max_bytes``, with one-line errors naming it."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ReaderError(
                f"{path}: {size:,} bytes is too large for a {what} (rigfit reads at most"
                f" {max_bytes:,})"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ReaderError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_json(data, str(path))


def parse_json(data: bytes, source: str) -> object:
    """Parse JSON bytes; a syntax error becomes one line with its position."""
    try:
        text = data.decode("utf-8-sig")  # JSON is UTF-8 (RFC 8259); tolerate a byte-order mark
    except UnicodeDecodeError:
        raise ReaderError(f"{source}: not UTF-8 text, so not JSON") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReaderError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


def load_config(path: str | os.PathLike[str]) -> ParsedConfig:
    """Read a ``config.json`` file (at most :data:`CONFIG_MAX_BYTES`)."""
    p = Path(path)
    return parse_config(read_json(p, CONFIG_MAX_BYTES, "config.json"), str(p))


# --------------------------------------------------------------------------------------------
# native formats: torch_dtype and quantization_config
# --------------------------------------------------------------------------------------------

_DTYPES = {
    "float16": WeightFormat.F16,
    "fp16": WeightFormat.F16,
    "half": WeightFormat.F16,
    "bfloat16": WeightFormat.BF16,
    "bf16": WeightFormat.BF16,
    "float32": WeightFormat.F32,
    "fp32": WeightFormat.F32,
    "float": WeightFormat.F32,
}

_SUPPORTED_QUANT = (
    "fp8 (per tensor, or 128x128 blocks), mxfp4, awq (4-bit, group 128), gptq (4 or 8 bits,"
    " group 128), bitsandbytes (nf4, fp4, 8-bit), compressed-tensors (fp8 per tensor, per"
    " channel or in 128x128 blocks, int8 per channel, symmetric int4 in groups of 128, nvfp4),"
    " modelopt (FP8,"
    " FP8_PER_CHANNEL_PER_TOKEN, NVFP4)"
)


def dtype_format(dtype: str) -> WeightFormat | None:
    """The float format of a ``torch_dtype``/``dtype`` string, None when it names none.

    >>> [f and f.label for f in map(dtype_format, ("bfloat16", "torch.float16", "int8"))]
    ['BF16', 'F16', None]
    """
    return _DTYPES.get(dtype.strip().lower().removeprefix("torch."))


def _unsupported(qc: Mapping[str, Any], what: str) -> UnsupportedQuantizationError:
    method = qc.get("quant_method")
    return UnsupportedQuantizationError(
        f"quantization_config {method!r} with {what} is not a format rigfit prices"
        f" (supported: {_SUPPORTED_QUANT})"
    )


def _group_128(qc: Mapping[str, Any]) -> bool:
    return bool(qc.get("group_size", qc.get("q_group_size", 128)) == 128)


def _compressed_tensors(qc: Mapping[str, Any]) -> WeightFormat:
    fmt = str(qc.get("format", ""))
    if fmt == "nvfp4-pack-quantized":
        return WeightFormat.NVFP4
    groups = qc.get("config_groups") or {}
    schemes = [g.get("weights") or {} for g in groups.values() if isinstance(g, dict)]
    if not schemes:
        raise _unsupported(qc, "no config_groups weights")
    w = schemes[0]
    if any(s != w for s in schemes[1:]):
        raise _unsupported(qc, "several different weight schemes")
    bits, kind, strategy = w.get("num_bits"), w.get("type"), w.get("strategy")
    if bits == 8 and kind == "float":
        if strategy == "tensor":
            return WeightFormat.FP8
        if strategy == "channel":
            return WeightFormat.FP8_CHANNEL
        if strategy == "block" and list(w.get("block_structure") or ()) == [128, 128]:
            return WeightFormat.FP8_BLOCK
    if bits == 8 and kind == "int" and strategy == "channel":
        return WeightFormat.INT8
    if bits == 4 and kind == "int" and strategy == "group":
        # llm-compressor's W4A16 (pack-quantized): symmetric, scales only, in groups of 128;
        # zero points (asymmetric) or a stored g_idx (actorder "group") change the layout
        group, sym, order = w.get("group_size"), w.get("symmetric", True), w.get("actorder")
        packed = fmt in ("", "pack-quantized")  # marlin-24, int-/naive-quantized differ
        if packed and group == 128 and sym and order != "group":
            return WeightFormat.W4A16
        raise _unsupported(
            qc,
            f"4-bit int weights in groups of {group}, symmetric {sym}, actorder {order!r},"
            f" format {fmt or None!r}",
        )
    raise _unsupported(qc, f"{bits}-bit {kind} weights, strategy {strategy!r}")


def _modelopt_algo(qc: Mapping[str, Any]) -> str:
    """ModelOpt's ``quant_algo``, upper-cased: at the top level of the config or under its
    ``quantization`` key (hf_quant_config.json's layout); "" when the config is not ModelOpt's.
    """
    nested = qc.get("quantization")
    algo = nested.get("quant_algo") if isinstance(nested, Mapping) else qc.get("quant_algo")
    producer = qc.get("producer")
    name = producer.get("name") if isinstance(producer, Mapping) else None
    if str(qc.get("quant_method", "")).lower() != "modelopt" and name != "modelopt":
        return ""
    return str(algo or "").upper()


def quant_format(qc: Mapping[str, Any]) -> WeightFormat:
    """The :class:`WeightFormat` a ``quantization_config`` stores its weights in.

    >>> quant_format({"quant_method": "fp8", "weight_block_size": [128, 128]}).label
    'FP8-BLOCK'
    >>> quant_format({"quant_method": "gptq", "bits": 4, "group_size": 128}).label
    'GPTQ-INT4'
    """
    method = str(qc.get("quant_method", "")).lower()
    if not method and _modelopt_algo(qc):
        # ModelOpt exports may leave quant_method out and name their producer instead
        # (nvidia/Nemotron-H-47B-Reasoning-128K-FP8): the producer and quant_algo say what the
        # weights are (vLLM's _normalize_quantization_config sets "modelopt" from them when
        # quant_algo sits under "quantization"; whether it reads the flat form is not checked)
        method = "modelopt"
    if method == "fp8":
        block = qc.get("weight_block_size")
        if block is None:
            return WeightFormat.FP8
        if list(block) == [128, 128]:
            return WeightFormat.FP8_BLOCK
        raise _unsupported(qc, f"weight_block_size {block}")
    if method == "mxfp4":
        # gpt-oss: routed experts in MXFP4, attention/router/embeddings left in BF16
        return WeightFormat.MXFP4_EXPERTS
    if method == "awq":
        bits = qc.get("bits", qc.get("w_bit"))
        if bits == 4 and _group_128(qc):
            return WeightFormat.AWQ
        raise _unsupported(qc, f"{bits} bits, group size {qc.get('group_size')}")
    if method == "gptq":
        bits = qc.get("bits")
        if _group_128(qc) and bits in (4, 8):
            return WeightFormat.GPTQ_INT4 if bits == 4 else WeightFormat.GPTQ_INT8
        raise _unsupported(qc, f"{bits} bits, group size {qc.get('group_size')}")
    if method == "bitsandbytes":
        if qc.get("load_in_4bit"):
            kind = str(qc.get("bnb_4bit_quant_type", "fp4")).lower()  # bitsandbytes default
            if kind == "nf4":
                double = qc.get("bnb_4bit_use_double_quant")
                return WeightFormat.BNB_NF4_DQ if double else WeightFormat.BNB_NF4
            if kind == "fp4":
                return WeightFormat.BNB_FP4
            raise _unsupported(qc, f"bnb_4bit_quant_type {kind!r}")
        if qc.get("load_in_8bit"):
            return WeightFormat.BNB_INT8
        raise _unsupported(qc, "neither load_in_4bit nor load_in_8bit")
    if method == "compressed-tensors":
        return _compressed_tensors(qc)
    if method == "modelopt":
        algo = _modelopt_algo(qc)
        if algo == "FP8":
            return WeightFormat.FP8
        if algo == "FP8_PER_CHANNEL_PER_TOKEN":
            return WeightFormat.FP8_CHANNEL
        if algo == "NVFP4":
            return WeightFormat.NVFP4
        raise _unsupported(qc, f"quant_algo {algo!r}")
    raise UnsupportedQuantizationError(
        f"quantization method {method or None!r} is not supported (supported: {_SUPPORTED_QUANT})"
    )


def native_format(config: HFConfig) -> WeightFormat | None:
    """What the checkpoint stores: its quantization, else its ``torch_dtype``, else None."""
    if config.quantization_config:
        return quant_format(config.quantization_config)
    if config.torch_dtype:
        return dtype_format(config.torch_dtype)
    return None
