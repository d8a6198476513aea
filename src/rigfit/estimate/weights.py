"""Bytes of a model's weights in a weight format, tensor by tensor.

Each tensor of :meth:`rigfit.arch.Architecture.tensors` is priced in the storage type the format
gives it; the result keeps the per-type and per-role totals so every number can be explained.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property

from rigfit.arch import Architecture, Role, Tensor
from rigfit.errors import InvalidSpecError
from rigfit.quant import Family, GGMLType, GGUFRecipe, GPUScheme, WeightFormat, gpu_tensor_bytes

__all__ = ["WeightBreakdown", "tensor_storage", "use_more_bits", "weight_breakdown"]

# llama.cpp keeps these 2-D tensors unquantized (F32) in GGUF files: convert_hf_to_gguf.py
# writes them as F32 and llama-quant.cpp skips ffn_gate_inp and ssm_conv1d.
_GGUF_F32_ROLES = {
    Role.ROUTER,
    Role.SHEXP_ROUTER,
    Role.SSM_CONV,
    Role.SSM_OTHER,
    Role.ATTN_SINKS,
    Role.NORM,
    Role.BIAS,
}

# llama-quant.cpp: when a row length is not a multiple of a k-quant's 256-element block,
# llama.cpp falls back to a 32-element type of similar size.
_FALLBACK = {
    GGMLType.Q2_K: GGMLType.IQ4_NL,
    GGMLType.Q3_K: GGMLType.IQ4_NL,
    GGMLType.IQ4_XS: GGMLType.IQ4_NL,
    GGMLType.IQ3_S: GGMLType.IQ4_NL,
    GGMLType.IQ3_XXS: GGMLType.IQ4_NL,
    GGMLType.IQ2_S: GGMLType.IQ4_NL,
    GGMLType.IQ2_XS: GGMLType.IQ4_NL,
    GGMLType.IQ2_XXS: GGMLType.IQ4_NL,
    GGMLType.IQ1_S: GGMLType.IQ4_NL,
    GGMLType.IQ1_M: GGMLType.IQ4_NL,
    GGMLType.Q4_K: GGMLType.Q5_0,
    GGMLType.Q5_K: GGMLType.Q5_1,
    GGMLType.Q6_K: GGMLType.Q8_0,
}


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's layer choice for extra precision: first and last eighth, every third between.

    >>> sum(use_more_bits(i, 80) for i in range(80))
    40
    """
    eighth = n_layers // 8
    return i_layer < eighth or i_layer >= 7 * n_layers // 8 or (i_layer - eighth) % 3 == 2


def _select(rule: str, i: int, n: int) -> bool:
    if rule == "all":
        return True
    if rule == "more_bits":
        return use_more_bits(i, n)
    if rule == "first_eighth":
        return i < n // 8
    if rule.startswith("first:"):
        return i < int(rule.split(":", 1)[1])
    raise AssertionError(rule)  # pragma: no cover


def _gguf_type(t: Tensor, r: GGUFRecipe, arch: Architecture) -> GGMLType:
    if t.rows == 1 or t.role in _GGUF_F32_ROLES:
        return GGMLType.F32
    n, i = arch.num_layers, t.layer if t.layer is not None else 0
    chosen = r.default
    if t.role is Role.OUTPUT or (t.role is Role.TOKEN_EMBD and arch.tie_word_embeddings):
        chosen = r.output
    elif t.role is Role.TOKEN_EMBD:
        chosen = r.token_embd or r.default
    elif t.role.is_expert and r.experts is not None:
        chosen = r.experts
    elif t.role is Role.ATTN_V and r.attn_v is not None:
        gqa = arch.attention.num_heads // arch.attention.num_kv_heads
        if gqa >= r.attn_v_gqa_min and _select(r.attn_v_layers, i, n):
            chosen = r.attn_v
    elif t.role in (Role.FFN_DOWN, Role.EXP_DOWN, Role.SHEXP_DOWN) and r.ffn_down is not None:
        if _select(r.ffn_down_layers, i, n):
            chosen = r.ffn_down
    elif t.role is Role.ATTN_OUTPUT and r.attn_output is not None:
        chosen = r.attn_output
    if not chosen.fits_row(t.cols):
        chosen = _FALLBACK.get(chosen, chosen)
        if not chosen.fits_row(t.cols):
            chosen = GGMLType.F16
    return chosen


def tensor_storage(t: Tensor, fmt: WeightFormat, arch: Architecture) -> tuple[str, int]:
    """The storage type's name and the bytes of tensor ``t`` under ``fmt``."""
    layout = fmt.layout
    if isinstance(layout, GGMLType):
        return layout.name, t.numel * layout.block_bytes // layout.block_elems
    if isinstance(layout, GGUFRecipe):
        g = _gguf_type(t, layout, arch)
        return g.name, g.row_bytes(t.cols) * t.rows * t.count
    if _gpu_quantized(t, layout):
        return layout.name, gpu_tensor_bytes(layout, t.rows, t.cols) * t.count
    return "BF16", 2 * t.numel  # embeddings, head, norms, routers stay 16-bit


def _gpu_quantized(t: Tensor, scheme: GPUScheme) -> bool:
    """Whether a GPU scheme stores this tensor (the rest stays 16-bit)."""
    return t.role.is_expert if scheme.experts_only else t.role.quantizable


@dataclass(frozen=True)
class WeightBreakdown:
    """Weight bytes of one model in one format."""

    format: WeightFormat
    total_bytes: int
    by_type: tuple[tuple[str, int], ...]  # storage type -> bytes, largest first
    by_role: tuple[tuple[str, int], ...]
    expert_bytes: int  # routed experts, for offload planning
    params: int  # parameters priced (excludes what ``excluded`` names)
    excluded: str = ""  # what is not in these bytes, in words

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
    for t in arch.tensors():
        if t.role is Role.VISION and fmt.family is Family.GGUF:
            excluded = "vision tower (llama.cpp loads it from a separate mmproj file)"
            continue
        group = scheme.group_elems if scheme else None
        if scheme and group and _gpu_quantized(t, scheme) and t.cols % group:
            raise InvalidSpecError(
                f"{fmt.label} quantizes in groups of {group} along each row, but {t.name} has"
                f" rows of {t.cols}; this model cannot use {fmt.label} (try FP8, INT8 or a GGUF"
                " type)"
            )
        name, nbytes = tensor_storage(t, fmt, arch)
        by_type[name] += nbytes
        by_role[t.role.gguf_name] += nbytes
        params += t.numel
        if t.role.is_expert:
            experts += nbytes
    out = WeightBreakdown(
        format=fmt,
        total_bytes=sum(by_type.values()),
        by_type=tuple(by_type.most_common()),
        by_role=tuple(by_role.most_common()),
        expert_bytes=experts,
        excluded=excluded,
        params=params,
    )
    arch.cache[("weights", fmt)] = out
    return out
