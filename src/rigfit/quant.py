"""Quantization formats with their exact storage layouts.

Three closed sets live here:

* :class:`GGMLType`: every GGML tensor type, each carrying its block layout (elements per block,
  bytes per block). Bits per weight are derived from the layout, never typed in. The layouts
  mirror ``ggml/src/ggml-common.h`` (the ``block_*`` structs) and ``GGML_QUANT_SIZES`` in
  gguf-py's ``gguf/constants.py``; the test suite checks them against the installed ``gguf``
  package entry by entry.
* :class:`KVCacheType`: the element types a KV cache can be stored in.
* :class:`WeightFormat`: what a user picks with ``--quant``: float dtypes, GGUF file types
  (llama.cpp's ``LLAMA_FTYPE_*``) and the GPU serving formats (FP8, INT8, AWQ, GPTQ,
  bitsandbytes, MXFP4, NVFP4). Each one prices a tensor in bytes from its shape.
"""

from __future__ import annotations

import math
from enum import Enum
from fractions import Fraction

from rigfit.errors import UnknownFormatError, UnknownKVTypeError, closest
from rigfit.frozen import frozen

__all__ = [
    "FP8_FORMATS",
    "LLAMA_QUANT_BUILD",
    "LLAMA_QUANT_SOURCE",
    "GGMLType",
    "GGUFRecipe",
    "KVCacheType",
    "LlamaFtype",
    "WeightFormat",
    "parse_kv_type",
    "parse_quant",
]


class GGMLType(Enum):
    """A GGML tensor type: ``(type id, elements per block, bytes per block)``.

    Sources: ``enum ggml_type`` in ggml/include/ggml.h for the ids, the ``block_*`` structs in
    ggml/src/ggml-common.h for the sizes (e.g. ``block_q4_K`` = 2 f16 scales + 12 bytes of
    6-bit sub-block scales + 128 bytes of 4-bit quants = 144 bytes per 256 weights).

    >>> GGMLType.Q4_K.bits_per_weight, GGMLType.Q6_K.bits_per_weight, GGMLType.Q8_0.bits_per_weight
    (Fraction(9, 2), Fraction(105, 16), Fraction(17, 2))
    """

    F32 = (0, 1, 4)
    F16 = (1, 1, 2)
    Q4_0 = (2, 32, 2 + 16)  # f16 d + 32 nibbles
    Q4_1 = (3, 32, 2 + 2 + 16)  # f16 d, f16 m + 32 nibbles
    Q5_0 = (6, 32, 2 + 4 + 16)  # f16 d + 32 high bits + 32 nibbles
    Q5_1 = (7, 32, 2 + 2 + 4 + 16)
    Q8_0 = (8, 32, 2 + 32)  # f16 d + 32 int8
    # f16 d, f16 s + 32 int8: static_assert(sizeof(block_q8_1) == 2*sizeof(ggml_half) + QK8_1)
    # in ggml-common.h. gguf-py's GGML_QUANT_SIZES still says 40 (f32 d and s, pre-2023).
    Q8_1 = (9, 32, 2 + 2 + 32)
    Q2_K = (10, 256, 16 + 64 + 2 + 2)  # scales, 2-bit quants, f16 d, f16 dmin
    Q3_K = (11, 256, 32 + 64 + 12 + 2)  # hmask, 2-bit low quants, 6-bit scales, f16 d
    Q4_K = (12, 256, 2 + 2 + 12 + 128)  # f16 d, f16 dmin, 6-bit scales+mins, nibbles
    Q5_K = (13, 256, 2 + 2 + 12 + 32 + 128)  # as Q4_K + 256 high bits
    Q6_K = (14, 256, 128 + 64 + 16 + 2)  # low 4 bits, high 2 bits, int8 scales, f16 d
    Q8_K = (15, 256, 4 + 256 + 32)  # f32 d, int8 quants, 16 int16 block sums
    IQ2_XXS = (16, 256, 2 + 64)  # f16 d + 32 uint16 grid indices/signs
    IQ2_XS = (17, 256, 2 + 64 + 8)  # + 4-bit scales per 32
    IQ3_XXS = (18, 256, 2 + 96)  # f16 d + 3*QK_K/8 bytes
    IQ1_S = (19, 256, 2 + 32 + 16)  # f16 d + QK_K/8 qs + QK_K/32 uint16 qh
    IQ4_NL = (20, 32, 2 + 16)  # f16 d + 32 nibbles into a non-linear grid
    IQ3_S = (21, 256, 2 + 64 + 8 + 32 + 4)  # d, qs, qh, signs, scales: 3.4375 bpw
    IQ2_S = (22, 256, 2 + 64 + 8 + 8)  # d, qs, qh, scales
    IQ4_XS = (23, 256, 2 + 2 + 4 + 128)  # d, scales_h, scales_l, nibbles
    I8 = (24, 1, 1)
    I16 = (25, 1, 2)
    I32 = (26, 1, 4)
    I64 = (27, 1, 8)
    F64 = (28, 1, 8)
    IQ1_M = (29, 256, 32 + 16 + 8)  # qs, qh, scales (no separate d)
    BF16 = (30, 1, 2)
    TQ1_0 = (34, 256, 2 + 4 * 13)  # ternary: 51 bytes of base-3 packed trits + f16 d
    TQ2_0 = (35, 256, 2 + 64)  # ternary, 2 bits each + f16 d
    MXFP4 = (39, 32, 1 + 16)  # E8M0 shared exponent + 32 FP4 (e2m1) nibbles
    NVFP4 = (40, 64, 4 + 32)  # 4 UE4M3 scales (one per 16) + 64 FP4 nibbles
    Q1_0 = (41, 128, 2 + 16)  # f16 d + 128 sign bits

    def __init__(self, type_id: int, block_elems: int, block_bytes: int) -> None:
        # plain attributes: reading an Enum's .value goes through a descriptor, and the GGUF
        # replay reads these a few hundred thousand times per catalog sweep
        self._type_id = type_id
        self._block_elems = block_elems
        self._block_bytes = block_bytes

    @property
    def type_id(self) -> int:
        return self._type_id

    @property
    def block_elems(self) -> int:
        return self._block_elems

    @property
    def block_bytes(self) -> int:
        return self._block_bytes

    @property
    def bits_per_weight(self) -> Fraction:
        """Exact bits per weight, ``8 * block_bytes / block_elems``."""
        return Fraction(8 * self.block_bytes, self.block_elems)

    def row_bytes(self, n_elems: int) -> int:
        """Bytes of one row of ``n_elems`` (a row must be a whole number of blocks)."""
        if n_elems % self.block_elems:
            raise ValueError(
                f"{self.name} needs rows of a multiple of {self.block_elems} elements,"
                f" got {n_elems}"
            )
        return n_elems // self.block_elems * self.block_bytes

    def fits_row(self, n_elems: int) -> bool:
        return n_elems % self.block_elems == 0


class KVCacheType(Enum):
    """Element types a KV cache can be stored in: ``(flag name, elements per block, bytes)``.

    The GGML ones follow :class:`GGMLType`; ``fp8`` is one byte per element (vLLM's
    ``--kv-cache-dtype fp8``, e4m3 or e5m2; the per-tensor scales are negligible).
    """

    F32 = ("f32", 1, 4)
    F16 = ("f16", 1, 2)
    BF16 = ("bf16", 1, 2)
    FP8 = ("fp8", 1, 1)
    Q8_0 = ("q8_0", GGMLType.Q8_0.block_elems, GGMLType.Q8_0.block_bytes)
    Q5_1 = ("q5_1", GGMLType.Q5_1.block_elems, GGMLType.Q5_1.block_bytes)
    Q5_0 = ("q5_0", GGMLType.Q5_0.block_elems, GGMLType.Q5_0.block_bytes)
    Q4_1 = ("q4_1", GGMLType.Q4_1.block_elems, GGMLType.Q4_1.block_bytes)
    Q4_0 = ("q4_0", GGMLType.Q4_0.block_elems, GGMLType.Q4_0.block_bytes)
    IQ4_NL = ("iq4_nl", GGMLType.IQ4_NL.block_elems, GGMLType.IQ4_NL.block_bytes)

    def __init__(self, flag: str, block_elems: int, block_bytes: int) -> None:
        # plain attributes, read on every estimate (see GGMLType.__init__)
        self._flag = flag
        self._block_elems = block_elems
        self._block_bytes = block_bytes

    @property
    def flag(self) -> str:
        return self._flag

    @property
    def bits_per_element(self) -> Fraction:
        return Fraction(8 * self._block_bytes, self._block_elems)

    def row_bytes(self, n_elems: int) -> int:
        """Bytes for ``n_elems`` cached elements of one token (blocks run along the row)."""
        return -(-n_elems // self._block_elems) * self._block_bytes


# --------------------------------------------------------------------------------------------
# Weight formats
# --------------------------------------------------------------------------------------------


class Family(Enum):
    FLOAT = "float"
    GGUF = "gguf"
    GPU = "gpu"


# The llama.cpp revision whose quantization rules rigfit replays (rigfit.formats.gguf.quantize):
# ec98e2002, the 7,437th commit on master (`git rev-list --count ec98e2002` in ngxson/llama.cpp),
# so build b7437 (the one Ollama v0.24.0 vendors)
LLAMA_QUANT_SOURCE = "llama.cpp src/llama-quant.cpp @ ec98e2002 (Dec 2025)"
LLAMA_QUANT_BUILD = 7437


class LlamaFtype(Enum):
    """A llama.cpp file type: ``(LLAMA_FTYPE_* value, default GGML type of its tensors)``.

    Values from ``enum llama_ftype`` in include/llama.h; defaults from the ``switch`` at the top of
    ``llama_model_quantize_impl`` (src/llama-quant.cpp @ ec98e2002, l.537-575). Note the three
    whose default is not their namesake: IQ2_S stores IQ2_XS, IQ2_M stores IQ2_S and IQ3_XS
    stores IQ3_S. rigfit offers most of them as :class:`WeightFormat` members; all are replayed.
    """

    ALL_F32 = (0, GGMLType.F32)
    F16 = (1, GGMLType.F16)
    Q4_0 = (2, GGMLType.Q4_0)
    Q4_1 = (3, GGMLType.Q4_1)
    Q8_0 = (7, GGMLType.Q8_0)
    Q5_0 = (8, GGMLType.Q5_0)
    Q5_1 = (9, GGMLType.Q5_1)
    Q2_K = (10, GGMLType.Q2_K)
    Q3_K_S = (11, GGMLType.Q3_K)
    Q3_K_M = (12, GGMLType.Q3_K)
    Q3_K_L = (13, GGMLType.Q3_K)
    Q4_K_S = (14, GGMLType.Q4_K)
    Q4_K_M = (15, GGMLType.Q4_K)
    Q5_K_S = (16, GGMLType.Q5_K)
    Q5_K_M = (17, GGMLType.Q5_K)
    Q6_K = (18, GGMLType.Q6_K)
    IQ2_XXS = (19, GGMLType.IQ2_XXS)
    IQ2_XS = (20, GGMLType.IQ2_XS)
    Q2_K_S = (21, GGMLType.Q2_K)
    IQ3_XS = (22, GGMLType.IQ3_S)
    IQ3_XXS = (23, GGMLType.IQ3_XXS)
    IQ1_S = (24, GGMLType.IQ1_S)
    IQ4_NL = (25, GGMLType.IQ4_NL)
    IQ3_S = (26, GGMLType.IQ3_S)
    IQ3_M = (27, GGMLType.IQ3_S)
    IQ2_S = (28, GGMLType.IQ2_XS)
    IQ2_M = (29, GGMLType.IQ2_S)
    IQ4_XS = (30, GGMLType.IQ4_XS)
    IQ1_M = (31, GGMLType.IQ1_M)
    BF16 = (32, GGMLType.BF16)
    TQ1_0 = (36, GGMLType.TQ1_0)
    TQ2_0 = (37, GGMLType.TQ2_0)
    MXFP4_MOE = (38, GGMLType.MXFP4)

    @property
    def ftype_id(self) -> int:
        return self.value[0]

    @property
    def default_type(self) -> GGMLType:
        return self.value[1]

    @property
    def is_quantized(self) -> bool:
        """False for F32/F16/BF16, where llama-quantize applies no per-tensor rules."""
        return self.default_type.block_elems > 1


@frozen
class GGUFRecipe:
    """A GGUF file type: the llama.cpp ftype rigfit replays, and a summary of what it stores.

    Pricing never reads the summary fields: :mod:`rigfit.formats.gguf.quantize` replays
    llama.cpp's ``llama_tensor_get_type`` (see :data:`LLAMA_QUANT_SOURCE`) tensor by tensor for
    ``ftype``, over the model's own tensors. The summary says what that replay gives a dense
    grouped-query model (n_head / n_kv >= 4, not 70B, not MoE, untied head, no imatrix), for the
    format table in docs/formats.md; the test suite checks it against the replay. ``*_layers``
    words: "all", "more_bits" (llama.cpp's ``use_more_bits``: first and last eighth of the layers
    and every third one between), "first_eighth", "first:N", or a phrase.
    """

    ftype: LlamaFtype
    output: GGMLType
    token_embd: GGMLType | None = None  # None: the default type
    attn_v: GGMLType | None = None
    attn_v_layers: str = "all"
    ffn_down: GGMLType | None = None
    ffn_down_layers: str = "all"
    attn_output: GGMLType | None = None
    attn_v_gqa_min: int = 0  # the attn_v upgrade needs n_head / n_kv_head >= this
    experts: GGMLType | None = None  # MXFP4_MOE: stacked expert tensors only

    @property
    def default(self) -> GGMLType:
        """The type of a tensor no rule picks out: llama.cpp's default type of the ftype, except
        MXFP4_MOE, whose rule gives every tensor that is not a stack of experts Q8_0."""
        if self.ftype is LlamaFtype.MXFP4_MOE:
            return GGMLType.Q8_0
        return self.ftype.default_type


class GPUScheme(Enum):
    """Byte layouts of GPU serving formats, priced per tensor of ``rows x cols``."""

    FP8_TENSOR = "fp8 e4m3, one f32 scale per tensor"
    FP8_BLOCK = "fp8 e4m3, one f32 scale per 128x128 block (DeepSeek-V3)"
    FP8_CHANNEL = "fp8 e4m3, one f32 scale per output channel (compressed-tensors 'channel')"
    INT8_CHANNEL = "int8, one f32 scale per output channel (W8A8)"
    AWQ4 = "4-bit, group 128, f16 scale + 4-bit zero per group (AutoAWQ GEMM)"
    W4A16 = "4-bit, symmetric, group 128, 16-bit scale per group (compressed-tensors pack)"
    GPTQ4 = "4-bit, group 128, f16 scale + 4-bit zero per group, int32 g_idx"
    GPTQ8 = "8-bit, group 128, f16 scale + 8-bit zero per group, int32 g_idx"
    NF4 = "bitsandbytes NF4, f32 absmax per 64"
    NF4_DQ = "bitsandbytes NF4, absmax double-quantized to 8 bits per 256 blocks"
    FP4 = "bitsandbytes FP4, f32 absmax per 64"
    BNB_INT8 = "bitsandbytes LLM.int8, f32 scale per row"
    MXFP4 = "OCP MXFP4: 32 e2m1 values + one E8M0 scale"
    NVFP4 = "NVFP4: 16 e2m1 values + one fp8 e4m3 scale, one f32 per tensor"
    MXFP4_EXPERTS = "OCP MXFP4 on routed experts only, the rest 16-bit (gpt-oss checkpoints)"

    @property
    def group_elems(self) -> int | None:
        """Weights per scale group along a row; rows must divide into whole groups."""
        return _GROUP_ELEMS.get(self)

    @property
    def experts_only(self) -> bool:
        """True when only routed-expert tensors are stored in this scheme."""
        return self is GPUScheme.MXFP4_EXPERTS


# Group sizes: AWQ/GPTQ q_group_size 128 as published checkpoints use; MXFP4 32 and NVFP4 16
# elements per shared scale (OCP MX v1.0; NVIDIA's NVFP4 format).
_GROUP_ELEMS = {
    GPUScheme.AWQ4: 128,
    GPUScheme.W4A16: 128,
    GPUScheme.GPTQ4: 128,
    GPUScheme.GPTQ8: 128,
    GPUScheme.MXFP4: 32,
    GPUScheme.MXFP4_EXPERTS: 32,
    GPUScheme.NVFP4: 16,
}


def _awq_gptq_bytes(rows: int, cols: int, bits: int, group: int, g_idx: bool) -> int:
    # qweight packs 32/bits values per int32; qzeros packs zero points the same way;
    # scales are f16 per (group, output channel); GPTQ keeps an int32 g_idx per input column.
    # Source: AutoAWQ WQLinear_GEMM / AutoGPTQ QuantLinear buffer shapes.
    groups = math.ceil(cols / group)
    qweight = rows * cols * bits // 8
    qzeros = groups * rows * bits // 8
    scales = groups * rows * 2
    return qweight + qzeros + scales + (4 * cols if g_idx else 0)


def gpu_tensor_bytes(scheme: GPUScheme, rows: int, cols: int) -> int:
    """Bytes of a ``rows x cols`` weight (rows = output features) in a GPU format.

    >>> gpu_tensor_bytes(GPUScheme.FP8_BLOCK, 7168, 2048)  # 56 x 16 blocks of f32 scales
    14683648
    >>> # NF4: 4 bits + an f32 absmax per 64 weights = 4.5 bits, plus a 64-byte code book
    >>> round(gpu_tensor_bytes(GPUScheme.NF4, 4096, 4096) * 8 / (4096 * 4096), 4)
    4.5
    """
    n = rows * cols
    match scheme:
        case GPUScheme.FP8_TENSOR:
            return n + 4
        case GPUScheme.FP8_BLOCK:
            # weight_scale_inv: f32 per 128x128 block (DeepSeek-V3 config weight_block_size)
            return n + 4 * math.ceil(rows / 128) * math.ceil(cols / 128)
        case GPUScheme.INT8_CHANNEL:
            return n + 4 * rows
        case GPUScheme.FP8_CHANNEL:
            # vLLM holds the weight_scale of the 'channel' strategy as f32 (rows, 1), whatever
            # the checkpoint stores it in (fp8_utils.py create_fp8_scale_parameter,
            # ChannelQuantScaleParameter)
            return n + 4 * rows
        case GPUScheme.AWQ4:
            return _awq_gptq_bytes(rows, cols, 4, 128, g_idx=False)
        case GPUScheme.W4A16:
            # vLLM's CompressedTensorsWNA16.create_weights: weight_packed int32 (rows, cols/8),
            # weight_scale in the model dtype (rows, cols/group), weight_shape 2 x int64; no
            # zero points (symmetric) and no g_idx (actorder other than "group")
            return rows * cols // 2 + 2 * rows * math.ceil(cols / 128) + 16
        case GPUScheme.GPTQ4:
            return _awq_gptq_bytes(rows, cols, 4, 128, g_idx=True)
        case GPUScheme.GPTQ8:
            return _awq_gptq_bytes(rows, cols, 8, 128, g_idx=True)
        case GPUScheme.NF4 | GPUScheme.FP4:
            # bitsandbytes Params4bit: packed nibbles + f32 absmax per blocksize 64
            # + a 16-entry f32 code book per tensor (bitsandbytes functional.quantize_4bit)
            return math.ceil(n / 2) + 4 * math.ceil(n / 64) + 16 * 4
        case GPUScheme.NF4_DQ:
            # absmax quantized to uint8 (one per 64), second-level f32 absmax per 256 of those,
            # its 256-entry f32 code book and an f32 offset, plus the 16-entry NF4 code book
            blocks = math.ceil(n / 64)
            return math.ceil(n / 2) + blocks + 4 * math.ceil(blocks / 256) + 256 * 4 + 4 + 16 * 4
        case GPUScheme.BNB_INT8:
            return n + 4 * rows  # int8 weight + SCB (f32 per row)
        case GPUScheme.MXFP4 | GPUScheme.MXFP4_EXPERTS:
            return math.ceil(n / 2) + math.ceil(n / 32)  # OCP MX spec v1.0: block 32, E8M0
        case GPUScheme.NVFP4:
            return math.ceil(n / 2) + math.ceil(n / 16) + 4  # block 16, e4m3 scale, f32 global
    raise AssertionError(scheme)  # pragma: no cover


class WeightFormat(Enum):
    """What ``--quant`` accepts: ``(canonical name, family, layout)``.

    The layout is a :class:`GGMLType` for float dtypes, a :class:`GGUFRecipe` for GGUF file
    types and a :class:`GPUScheme` for GPU formats. Embeddings, the output head, norms and
    routers keep the checkpoint's 16-bit precision under GPU formats, as vLLM, AutoAWQ,
    AutoGPTQ and bitsandbytes leave them unquantized by default.
    """

    F32 = ("F32", Family.FLOAT, GGMLType.F32)
    F16 = ("F16", Family.FLOAT, GGMLType.F16)
    BF16 = ("BF16", Family.FLOAT, GGMLType.BF16)
    # GGUF file types (llama.cpp LLAMA_FTYPE_MOSTLY_*); the summaries follow the replay (see
    # GGUFRecipe) for a dense model with n_head / n_kv >= 4.
    Q8_0 = ("Q8_0", Family.GGUF, GGUFRecipe(LlamaFtype.Q8_0, output=GGMLType.Q8_0))
    Q6_K = ("Q6_K", Family.GGUF, GGUFRecipe(LlamaFtype.Q6_K, output=GGMLType.Q6_K))
    Q5_K_M = (
        "Q5_K_M",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.Q5_K_M,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q6_K,
            attn_v_layers="more_bits",
            ffn_down=GGMLType.Q6_K,
            ffn_down_layers="more_bits",
        ),
    )
    Q5_K_S = ("Q5_K_S", Family.GGUF, GGUFRecipe(LlamaFtype.Q5_K_S, output=GGMLType.Q6_K))
    Q5_0 = ("Q5_0", Family.GGUF, GGUFRecipe(LlamaFtype.Q5_0, output=GGMLType.Q6_K))
    Q5_1 = ("Q5_1", Family.GGUF, GGUFRecipe(LlamaFtype.Q5_1, output=GGMLType.Q6_K))
    Q4_K_M = (
        "Q4_K_M",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.Q4_K_M,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q6_K,
            attn_v_layers="more_bits",
            ffn_down=GGMLType.Q6_K,
            ffn_down_layers="more_bits",
        ),
    )
    Q4_K_S = (
        "Q4_K_S",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.Q4_K_S,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q5_K,
            attn_v_layers="first:4",
            ffn_down=GGMLType.Q5_K,
            ffn_down_layers="first_eighth",
        ),
    )
    Q4_0 = ("Q4_0", Family.GGUF, GGUFRecipe(LlamaFtype.Q4_0, output=GGMLType.Q6_K))
    Q4_1 = ("Q4_1", Family.GGUF, GGUFRecipe(LlamaFtype.Q4_1, output=GGMLType.Q6_K))
    Q3_K_L = (
        "Q3_K_L",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.Q3_K_L,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q5_K,
            ffn_down=GGMLType.Q5_K,
            attn_output=GGMLType.Q5_K,
        ),
    )
    Q3_K_M = (
        "Q3_K_M",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.Q3_K_M,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q5_K,
            attn_v_layers="first:2, Q4_K after",
            ffn_down=GGMLType.Q5_K,
            ffn_down_layers="first sixteenth, Q4_K after",
            attn_output=GGMLType.Q4_K,
        ),
    )
    Q3_K_S = ("Q3_K_S", Family.GGUF, GGUFRecipe(LlamaFtype.Q3_K_S, output=GGMLType.Q6_K))
    Q2_K = (
        "Q2_K",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.Q2_K,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q4_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.Q3_K,
            attn_output=GGMLType.Q3_K,
        ),
    )
    Q2_K_S = (
        "Q2_K_S",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.Q2_K_S,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q4_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.Q4_K,
            ffn_down_layers="first_eighth",
        ),
    )
    IQ4_XS = (
        "IQ4_XS",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ4_XS,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q5_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.Q5_K,
            ffn_down_layers="first_eighth, without an imatrix",
        ),
    )
    IQ4_NL = (
        "IQ4_NL",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ4_NL,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q5_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.Q5_K,
            ffn_down_layers="first_eighth, without an imatrix",
        ),
    )
    IQ3_M = (
        "IQ3_M",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ3_M,
            output=GGMLType.Q6_K,
            attn_v=GGMLType.Q4_K,
            attn_output=GGMLType.Q4_K,
            ffn_down=GGMLType.Q4_K,
            ffn_down_layers="first_eighth",
        ),
    )
    IQ3_S = (
        "IQ3_S",
        Family.GGUF,
        GGUFRecipe(LlamaFtype.IQ3_S, output=GGMLType.Q6_K, attn_v=GGMLType.Q4_K, attn_v_gqa_min=4),
    )
    IQ3_XS = (
        "IQ3_XS",
        Family.GGUF,
        GGUFRecipe(LlamaFtype.IQ3_XS, output=GGMLType.Q6_K, attn_v=GGMLType.Q4_K, attn_v_gqa_min=4),
    )
    IQ3_XXS = (
        "IQ3_XXS",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ3_XXS,
            output=GGMLType.Q5_K,
            token_embd=GGMLType.IQ3_S,
            attn_v=GGMLType.Q4_K,
            attn_v_gqa_min=4,
            attn_output=GGMLType.IQ3_S,
        ),
    )
    IQ2_M = (
        "IQ2_M",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ2_M,
            output=GGMLType.Q5_K,
            token_embd=GGMLType.IQ3_S,
            attn_v=GGMLType.Q4_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.IQ3_S,
            ffn_down_layers="first_eighth",
            attn_output=GGMLType.IQ3_S,
        ),
    )
    IQ2_S = (
        "IQ2_S",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ2_S,
            output=GGMLType.Q5_K,
            token_embd=GGMLType.IQ3_S,
            attn_v=GGMLType.Q4_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.IQ3_S,
            ffn_down_layers="first_eighth",
            attn_output=GGMLType.IQ3_S,
        ),
    )
    IQ2_XS = (
        "IQ2_XS",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ2_XS,
            output=GGMLType.Q5_K,
            token_embd=GGMLType.Q2_K,
            attn_v=GGMLType.Q4_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.Q2_K,
            ffn_down_layers="first_eighth",
        ),
    )
    IQ2_XXS = (
        "IQ2_XXS",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ2_XXS,
            output=GGMLType.Q5_K,
            token_embd=GGMLType.Q2_K,
            attn_v=GGMLType.Q4_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.Q2_K,
            ffn_down_layers="first_eighth",
        ),
    )
    IQ1_M = (
        "IQ1_M",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ1_M,
            output=GGMLType.Q5_K,
            token_embd=GGMLType.Q2_K,
            attn_v=GGMLType.Q4_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.Q2_K,
            ffn_down_layers="first_eighth",
            attn_output=GGMLType.IQ2_XXS,
        ),
    )
    IQ1_S = (
        "IQ1_S",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.IQ1_S,
            output=GGMLType.Q5_K,
            token_embd=GGMLType.Q2_K,
            attn_v=GGMLType.Q4_K,
            attn_v_gqa_min=4,
            ffn_down=GGMLType.Q2_K,
            ffn_down_layers="first_eighth",
            attn_output=GGMLType.IQ2_XXS,
        ),
    )
    # ternary types (BitNet-style): the default type everywhere but the Q6_K head and a Q4_K
    # token_embd
    TQ2_0 = (
        "TQ2_0",
        Family.GGUF,
        GGUFRecipe(LlamaFtype.TQ2_0, output=GGMLType.Q6_K, token_embd=GGMLType.Q4_K),
    )
    TQ1_0 = (
        "TQ1_0",
        Family.GGUF,
        GGUFRecipe(LlamaFtype.TQ1_0, output=GGMLType.Q6_K, token_embd=GGMLType.Q4_K),
    )
    MXFP4_MOE = (
        "MXFP4_MOE",
        Family.GGUF,
        GGUFRecipe(
            LlamaFtype.MXFP4_MOE,
            output=GGMLType.Q8_0,
            token_embd=GGMLType.Q8_0,
            experts=GGMLType.MXFP4,
        ),
    )
    # GPU serving formats
    FP8 = ("FP8", Family.GPU, GPUScheme.FP8_TENSOR)
    FP8_BLOCK = ("FP8-BLOCK", Family.GPU, GPUScheme.FP8_BLOCK)
    FP8_CHANNEL = ("FP8-CHANNEL", Family.GPU, GPUScheme.FP8_CHANNEL)
    INT8 = ("INT8", Family.GPU, GPUScheme.INT8_CHANNEL)
    AWQ = ("AWQ", Family.GPU, GPUScheme.AWQ4)
    W4A16 = ("W4A16", Family.GPU, GPUScheme.W4A16)
    GPTQ_INT4 = ("GPTQ-INT4", Family.GPU, GPUScheme.GPTQ4)
    GPTQ_INT8 = ("GPTQ-INT8", Family.GPU, GPUScheme.GPTQ8)
    BNB_NF4 = ("BNB-NF4", Family.GPU, GPUScheme.NF4)
    BNB_NF4_DQ = ("BNB-NF4-DQ", Family.GPU, GPUScheme.NF4_DQ)
    BNB_FP4 = ("BNB-FP4", Family.GPU, GPUScheme.FP4)
    BNB_INT8 = ("BNB-INT8", Family.GPU, GPUScheme.BNB_INT8)
    MXFP4 = ("MXFP4", Family.GPU, GPUScheme.MXFP4)
    NVFP4 = ("NVFP4", Family.GPU, GPUScheme.NVFP4)
    MXFP4_EXPERTS = ("MXFP4-EXPERTS", Family.GPU, GPUScheme.MXFP4_EXPERTS)

    _value_: tuple[str, Family, GGMLType | GGUFRecipe | GPUScheme]

    @property
    def label(self) -> str:
        return self._value_[0]

    @property
    def family(self) -> Family:
        return self._value_[1]

    @property
    def layout(self) -> GGMLType | GGUFRecipe | GPUScheme:
        return self._value_[2]

    @property
    def nominal_bits(self) -> Fraction:
        """Bits per weight of the format's main tensors (not the file average)."""
        layout = self.layout
        if isinstance(layout, GGMLType):
            return layout.bits_per_weight
        if isinstance(layout, GGUFRecipe):
            return (layout.experts or layout.default).bits_per_weight
        rows = cols = 4096  # a square 4096 matrix, big enough that per-tensor terms vanish
        return Fraction(8 * gpu_tensor_bytes(layout, rows, cols), rows * cols)


# The FP8 weight formats, however their scales are kept: they run on FP8 tensor cores where a
# device has them
FP8_FORMATS = frozenset({WeightFormat.FP8, WeightFormat.FP8_BLOCK, WeightFormat.FP8_CHANNEL})

_ALIASES: dict[str, WeightFormat] = {
    "FP16": WeightFormat.F16,
    "FLOAT16": WeightFormat.F16,
    "BFLOAT16": WeightFormat.BF16,
    "FP32": WeightFormat.F32,
    "FLOAT32": WeightFormat.F32,
    "Q4_K": WeightFormat.Q4_K_M,
    "Q5_K": WeightFormat.Q5_K_M,
    "Q3_K": WeightFormat.Q3_K_M,
    "FP8-E4M3": WeightFormat.FP8,
    # compressed-tensors' FP8_DYNAMIC preset scheme (quantization/quant_scheme.py): weights
    # with strategy CHANNEL, activations dynamic per TOKEN (the "-FP8-dynamic" checkpoints)
    "FP8-DYNAMIC": WeightFormat.FP8_CHANNEL,
    "FP8-PER-CHANNEL": WeightFormat.FP8_CHANNEL,
    "W8A8": WeightFormat.INT8,
    "INT4": WeightFormat.AWQ,
    "AWQ-INT4": WeightFormat.AWQ,
    "GPTQ": WeightFormat.GPTQ_INT4,
    "NF4": WeightFormat.BNB_NF4,
    "FP4": WeightFormat.BNB_FP4,
}


def _norm(text: str) -> str:
    return text.strip().upper().replace(" ", "").replace("_", "-")


def parse_quant(text: str) -> WeightFormat:
    """Resolve a ``--quant`` value, case-insensitively (``q4_k_m``, ``bf16``, ``awq``)."""
    key = _norm(text)
    for fmt in WeightFormat:
        if _norm(fmt.label) == key:
            return fmt
    for alias, fmt in _ALIASES.items():
        if _norm(alias) == key:
            return fmt
    names = [f.label for f in WeightFormat]
    raise UnknownFormatError(text, closest(text, names), allowed="allowed: " + ", ".join(names))


def parse_kv_type(text: str) -> KVCacheType:
    """Resolve a ``--kv-type`` value (``f16``, ``q8_0``, ``fp8``...)."""
    key = text.strip().lower().replace("-", "_")
    aliases = {
        "fp16": "f16",
        "float16": "f16",
        "bfloat16": "bf16",
        "fp32": "f32",
        "fp8_e4m3": "fp8",
        "fp8_e5m2": "fp8",
    }
    key = aliases.get(key, key)
    for kv in KVCacheType:
        if kv.flag == key:
            return kv
    names = [k.flag for k in KVCacheType]
    raise UnknownKVTypeError(text, closest(text, names), allowed="allowed: " + ", ".join(names))
