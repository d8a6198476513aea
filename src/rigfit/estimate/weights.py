"""Bytes of a model's weights in a weight format, tensor by tensor.

Each tensor of :meth:`rigfit.arch.Architecture.tensors` is priced in the storage type the format
gives it; the result keeps the per-type and per-role totals so every number can be explained.
GGUF file types take each tensor's type from the replay of llama.cpp's quantizer
(:mod:`rigfit.formats.gguf.quantize`, :data:`rigfit.quant.LLAMA_QUANT_SOURCE`); the bytes are
the tensor data llama.cpp loads, without the file's header and alignment padding
(:mod:`rigfit.formats.gguf.size` has those).
"""

from __future__ import annotations

import re
from collections import Counter
from enum import Enum
from functools import cached_property

from rigfit.arch import TOWER_ROLES, Architecture, Role, Tensor
from rigfit.errors import InvalidSpecError
from rigfit.formats.gguf.quantize import replay, use_more_bits
from rigfit.frozen import frozen
from rigfit.quant import Family, GGMLType, GGUFRecipe, GPUScheme, WeightFormat, gpu_tensor_bytes

__all__ = [
    "ROLE_KIND",
    "Kind",
    "PlacedTensor",
    "WeightBreakdown",
    "kind_of_name",
    "tensor_storage",
    "use_more_bits",
    "weight_breakdown",
]


def _gguf_parts(arch: Architecture, fmt: WeightFormat) -> dict[str, list[tuple[str, int]]]:
    """Per inventory tensor, the (type name, bytes) of the GGUF tensors that hold it.

    From the replay of llama.cpp's per-tensor choice (:mod:`rigfit.formats.gguf.quantize`). A
    tensor the converter splits (DeepSeek's kv_b, fused biases) has several parts; one it
    fuses with others (Phi-3's q/k/v) gets its share, exact since rows are whole blocks.
    """
    key = ("gguf_parts", fmt)
    cached = arch.cache.get(key)
    if isinstance(cached, dict):
        return cached
    layout = fmt.layout
    assert isinstance(layout, GGUFRecipe)
    parts: dict[str, list[tuple[str, int]]] = {}
    for c in replay(arch, layout.ftype):
        nbytes, numel = c.nbytes, c.tensor.numel
        for source, elems in c.tensor.parts:
            parts.setdefault(source, []).append((c.type.name, nbytes * elems // numel))
    arch.cache[key] = parts
    return parts


def tensor_storage(t: Tensor, fmt: WeightFormat, arch: Architecture) -> tuple[str, int]:
    """The storage type's name and the bytes of tensor ``t`` under ``fmt``."""
    layout = fmt.layout
    if isinstance(layout, GGMLType):
        return layout.name, t.numel * layout.block_bytes // layout.block_elems
    if isinstance(layout, GGUFRecipe):
        parts = _gguf_parts(arch, fmt).get(t.name)
        if parts is None:
            raise InvalidSpecError(f"{t.name} is not stored in a GGUF file of this model")
        names = sorted({name for name, _ in parts})
        return "+".join(names), sum(nbytes for _, nbytes in parts)
    if _gpu_quantized(t, layout):
        return layout.name, gpu_tensor_bytes(layout, t.rows, t.cols) * t.count
    return "BF16", 2 * t.numel  # embeddings, head, norms, routers stay 16-bit


def _gpu_quantized(t: Tensor, scheme: GPUScheme) -> bool:
    """Whether a GPU scheme stores this tensor (the rest stays 16-bit)."""
    return t.role.is_expert if scheme.experts_only else t.role.quantizable


class Kind(Enum):
    """Where an engine puts a tensor: with its layer, or one of the special places."""

    EMBEDDING = "token embedding"
    OUTPUT = "output head and final norm"
    LAYER = "a repeating layer's tensor"
    EXPERT = "a routed expert stack"
    VISION = "vision tower"


@frozen(slots=True)
class PlacedTensor:
    name: str
    kind: Kind
    layer: int | None
    nbytes: int
    role: Role | None = None  # known for priced inventories; None for a file's tensors


# where a tensor of each role is placed (the rest go with their layer): one table, read by the
# memory estimate and the speed model
ROLE_KIND = {
    Role.TOKEN_EMBD: Kind.EMBEDDING,
    Role.PER_LAYER_EMBD: Kind.EMBEDDING,
    Role.OUTPUT: Kind.OUTPUT,
    Role.VISION: Kind.VISION,
    Role.AUDIO: Kind.VISION,
}

# GGUF names blocks "blk.N."; Hugging Face checkpoints "model.layers.N." (or "layers.N.").
_LAYER = re.compile(r"(?:^|\.)(?:blk|layers|h)\.(\d+)\.")
# llama.cpp's expert stacks end in _exps (common.h LLM_FFN_EXPS_REGEX); HF checkpoints keep
# per-expert matrices under ".experts." (Mixtral: block_sparse_moe.experts.N).
_EXPERT = re.compile(r"_(?:ch)?exps\.|\.experts\.\d+\.|\.experts\.(?:gate_up|down)_proj")


def _kind_of_name(name: str) -> tuple[Kind, int | None]:
    m = _LAYER.search(name)
    if m is not None:
        layer = int(m.group(1))
        return (Kind.EXPERT if _EXPERT.search(name) else Kind.LAYER), layer
    low = name.lower()
    if low.startswith(("v.", "a.", "mm.", "vision", "visual", "multi_modal", "audio")):
        return Kind.VISION, None
    if "embed_tokens" in low or low.startswith(("token_embd", "per_layer_token_embd")):
        return Kind.EMBEDDING, None
    if low.startswith(("per_layer_model_proj", "per_layer_proj_norm")):
        return Kind.LAYER, 0  # llama.cpp creates Gemma 4's PLE projection with layer 0
    return Kind.OUTPUT, None  # output.weight, output_norm, lm_head, model.norm


def kind_of_name(name: str) -> tuple[Kind, int | None]:
    """Kind and layer of a tensor known only by its name (GGUF or Hugging Face naming).

    >>> kind_of_name("blk.3.ffn_up_exps.weight")
    (<Kind.EXPERT: 'a routed expert stack'>, 3)
    >>> kind_of_name("model.layers.10.self_attn.q_proj.weight")
    (<Kind.LAYER: "a repeating layer's tensor">, 10)
    >>> kind_of_name("token_embd.weight")[0]
    <Kind.EMBEDDING: 'token embedding'>
    """
    return _kind_of_name(name)


@frozen
class WeightBreakdown:
    """Weight bytes of one model in one format."""

    format: WeightFormat
    total_bytes: int
    by_type: tuple[tuple[str, int], ...]  # storage type -> bytes, largest first
    by_role: tuple[tuple[str, int], ...]
    expert_bytes: int  # routed experts, for offload planning
    params: int  # parameters priced (excludes what ``excluded`` names)
    excluded: str = ""  # what is not in these bytes, in words
    # every tensor with its bytes, for engines that place or shard them: one weights value
    tensors: tuple[PlacedTensor, ...] = ()

    @property
    def bits_per_weight_avg(self) -> float:
        """Average stored bits per parameter, all tensors included."""
        return 8 * self.total_bytes / self.params

    @cached_property
    def inputs(self) -> dict[str, int | str | float]:
        """The figures shown beside the weights term."""
        return {
            "params": self.params,
            "avg_bits_per_weight": round(self.bits_per_weight_avg, 4),
            "by_type": ", ".join(f"{k}={v}" for k, v in self.by_type),
            **({"excluded": self.excluded} if self.excluded else {}),
        }


def weight_breakdown(arch: Architecture, fmt: WeightFormat) -> WeightBreakdown:
    """Price every tensor of ``arch`` in ``fmt`` (cached per architecture and format)."""
    cached = arch.cache.get(("weights", fmt))
    if isinstance(cached, WeightBreakdown):
        return cached
    if fmt in (WeightFormat.MXFP4_MOE, WeightFormat.MXFP4_EXPERTS) and arch.moe is None:
        raise InvalidSpecError(
            f"{fmt.label} quantizes expert tensors only and this model is dense"
            " (allowed for dense models: MXFP4, NVFP4, Q4_K_M and the other formats)"
        )
    layout = fmt.layout
    scheme = layout if isinstance(layout, GPUScheme) else None
    by_type: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    experts = params = 0
    excluded = ""
    placed: list[PlacedTensor] = []
    # outside a GGUF recipe a tensor's bytes depend on its shape and role alone, and a model
    # repeats a handful of those over its layers: each is priced once
    by_shape: dict[tuple[int, int, int, Role], list[tuple[str, int]]] = {}
    roles: dict[Role, tuple[str, bool, Kind]] = {}  # gguf name, expert, kind per role
    for t in arch.tensors():
        if t.role in TOWER_ROLES and fmt.family is Family.GGUF:
            excluded = "vision tower (llama.cpp loads it from a separate mmproj file)"
            continue
        if isinstance(layout, GGUFRecipe):
            # per storage type: a split tensor's parts may differ (DeepSeek's k_b and v_b)
            pieces = _gguf_parts(arch, fmt)[t.name]
        else:
            shape = (t.rows, t.cols, t.count, t.role)
            hit = by_shape.get(shape)
            if hit is None:
                group = scheme.group_elems if scheme else None
                if scheme and group and _gpu_quantized(t, scheme) and t.cols % group:
                    raise InvalidSpecError(
                        f"{fmt.label} quantizes in groups of {group} along each row, but"
                        f" {t.name} has rows of {t.cols}; this model cannot use {fmt.label} (try"
                        " FP8, INT8 or a GGUF type)"
                    )
                hit = by_shape[shape] = [tensor_storage(t, fmt, arch)]
            pieces = hit
        nbytes = 0
        for name, n in pieces:
            by_type[name] += n
            nbytes += n
        role = roles.get(t.role)
        if role is None:
            expert = t.role.is_expert
            kind = Kind.EXPERT if expert else ROLE_KIND.get(t.role, Kind.LAYER)
            role = roles[t.role] = (t.role.gguf_name, expert, kind)
        gguf_name, expert, kind = role
        by_role[gguf_name] += nbytes
        if t.layer is None and kind is Kind.LAYER:
            kind = Kind.OUTPUT  # output_norm
        placed.append(PlacedTensor(t.name, kind, t.layer, nbytes, t.role))
        params += t.numel
        if expert:
            experts += nbytes
    out = WeightBreakdown(
        format=fmt,
        total_bytes=sum(by_type.values()),
        by_type=tuple(by_type.most_common()),
        by_role=tuple(by_role.most_common()),
        expert_bytes=experts,
        excluded=excluded,
        params=params,
        tensors=tuple(placed),
    )
    arch.cache[("weights", fmt)] = out
    return out
