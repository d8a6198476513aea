"""GGML layouts against gguf-py, bits per weight from layouts, GPU format byte layouts."""

from __future__ import annotations

from fractions import Fraction

import gguf
import pytest

from rigfit.errors import UnknownFormatError, UnknownKVTypeError
from rigfit.quant import (
    GGMLType,
    GPUScheme,
    KVCacheType,
    WeightFormat,
    gpu_tensor_bytes,
    parse_kv_type,
    parse_quant,
)


@pytest.mark.parametrize("t", list(GGMLType), ids=lambda t: t.name)
def test_layout_matches_gguf_py(t: GGMLType) -> None:
    """Every type id, block size and block bytes equal gguf-py's GGML_QUANT_SIZES."""
    ref = gguf.GGMLQuantizationType[t.name]
    assert ref.value == t.type_id
    if t is GGMLType.Q8_1:
        # Known stale entry in gguf-py (40 bytes, f32 d and s); ggml-common.h's static_assert
        # gives 36. When gguf-py is fixed, this branch fails and should go.
        assert gguf.GGML_QUANT_SIZES[ref] == (32, 40)
        assert (t.block_elems, t.block_bytes) == (32, 36)
        return
    assert gguf.GGML_QUANT_SIZES[ref] == (t.block_elems, t.block_bytes)


def test_every_gguf_type_is_known() -> None:
    ours = {t.name for t in GGMLType}
    theirs = {t.name for t in gguf.GGML_QUANT_SIZES}
    # Q4_0_4_4-style repacked types were removed from ggml; gguf-py still lists some ids.
    missing = {n for n in theirs - ours if not n.startswith(("Q4_0_", "IQ4_NL_"))}
    assert not missing, f"GGML types rigfit lacks: {sorted(missing)}"


# Golden bits per weight, derived by hand from ggml-common.h block structs.
GOLDEN_BPW = {
    "Q4_0": Fraction(9, 2),
    "Q8_0": Fraction(17, 2),
    "Q2_K": Fraction(21, 8),
    "Q3_K": Fraction(55, 16),
    "Q4_K": Fraction(9, 2),
    "Q5_K": Fraction(11, 2),
    "Q6_K": Fraction(105, 16),
    "IQ4_XS": Fraction(17, 4),
    "IQ3_S": Fraction(55, 16),
    "IQ3_XXS": Fraction(49, 16),
    "IQ2_XXS": Fraction(33, 16),
    "IQ2_XS": Fraction(37, 16),
    "IQ2_S": Fraction(41, 16),
    "IQ1_S": Fraction(25, 16),
    "IQ1_M": Fraction(7, 4),
    "MXFP4": Fraction(17, 4),
    "BF16": Fraction(16),
    "F32": Fraction(32),
}


@pytest.mark.parametrize(("name", "bpw"), GOLDEN_BPW.items())
def test_golden_bits_per_weight(name: str, bpw: Fraction) -> None:
    assert GGMLType[name].bits_per_weight == bpw


def test_iq3_s_is_exact_not_rounded() -> None:
    # hf-mem rounds IQ3_S to 3.44; the layout gives 3.4375 exactly
    assert float(GGMLType.IQ3_S.bits_per_weight) == 3.4375


def test_row_bytes_rejects_partial_blocks() -> None:
    assert GGMLType.Q4_K.row_bytes(512) == 288
    with pytest.raises(ValueError, match="multiple of 256"):
        GGMLType.Q4_K.row_bytes(2880)


@pytest.mark.parametrize(
    ("scheme", "rows", "cols", "expected"),
    [
        # 4096x4096 AWQ: 8 MiB nibbles + 32 groups x 4096 x (0.5 B zero + 2 B scale)
        (GPUScheme.AWQ4, 4096, 4096, 4096 * 4096 // 2 + 32 * 4096 * 5 // 2),
        # GPTQ adds an int32 g_idx per input column
        (GPUScheme.GPTQ4, 4096, 4096, 4096 * 4096 // 2 + 32 * 4096 * 5 // 2 + 4 * 4096),
        # DeepSeek FP8: 7168x18432 -> 56 x 144 f32 block scales
        (GPUScheme.FP8_BLOCK, 7168, 18432, 7168 * 18432 + 4 * 56 * 144),
        (GPUScheme.MXFP4, 2880, 2880, 2880 * 2880 // 2 + 2880 * 2880 // 32),
        (GPUScheme.NVFP4, 1024, 1024, 1024 * 1024 // 2 + 1024 * 1024 // 16 + 4),
        (GPUScheme.BNB_INT8, 100, 64, 6400 + 400),
        # W4A16: nibbles + a bf16 scale per 128 inputs of each row + weight_shape (2 x int64)
        (GPUScheme.W4A16, 4096, 4096, 4096 * 4096 // 2 + 2 * 4096 * 32 + 16),
        # per-channel FP8: an f32 scale per output row (GLM-4.5's 96x128-head q_proj)
        (GPUScheme.FP8_CHANNEL, 12288, 5120, 12288 * 5120 + 4 * 12288),
    ],
)
def test_gpu_scheme_bytes(scheme: GPUScheme, rows: int, cols: int, expected: int) -> None:
    assert gpu_tensor_bytes(scheme, rows, cols) == expected


def test_nominal_bits() -> None:
    assert WeightFormat.BNB_NF4.nominal_bits == Fraction(4.5) + Fraction(64 * 8, 4096 * 4096)
    assert abs(float(WeightFormat.BNB_NF4_DQ.nominal_bits) - 4.127) < 0.001
    assert abs(float(WeightFormat.AWQ.nominal_bits) - 4.15625) < 1e-9
    assert WeightFormat.Q4_K_M.nominal_bits == Fraction(9, 2)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("q4_k_m", WeightFormat.Q4_K_M),
        ("BF16", WeightFormat.BF16),
        ("fp16", WeightFormat.F16),
        ("awq", WeightFormat.AWQ),
        ("fp8-block", WeightFormat.FP8_BLOCK),
        ("fp8-channel", WeightFormat.FP8_CHANNEL),
        ("FP8-dynamic", WeightFormat.FP8_CHANNEL),
        ("w4a16", WeightFormat.W4A16),
        ("nvfp4", WeightFormat.NVFP4),
        ("Q8_0", WeightFormat.Q8_0),
    ],
)
def test_parse_quant(text: str, fmt: WeightFormat) -> None:
    assert parse_quant(text) is fmt


def test_parse_quant_unknown_suggests() -> None:
    with pytest.raises(UnknownFormatError) as exc:
        parse_quant("q4km")
    assert "Q4_K_M" in str(exc.value)
    assert "allowed:" in str(exc.value)


def test_kv_types() -> None:
    assert parse_kv_type("q8_0") is KVCacheType.Q8_0
    assert parse_kv_type("FP16") is KVCacheType.F16
    assert KVCacheType.Q8_0.row_bytes(128) == 4 * 34
    assert KVCacheType.Q4_0.bits_per_element == Fraction(9, 2)
    with pytest.raises(UnknownKVTypeError, match="unknown KV cache type 'q9'"):
        parse_kv_type("q9")
