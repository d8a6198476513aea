"""The replay of llama.cpp's per-tensor type choice (llama-quant.cpp @ ec98e2002) and GGUF sizes.

Expected types are worked out by hand from the rules (docs in rigfit.formats.gguf.quantize),
not read back from the code: e.g. for 32 layers ``use_more_bits`` is true for blocks 0-3,
28-31 and 6, 9, ..., 27 (n/8 = 4; (i - 4) % 3 == 2).
"""

from __future__ import annotations

import pytest

from rigfit.arch import Architecture
from rigfit.catalog.lookup import get_model
from rigfit.estimate.weights import tensor_storage, weight_breakdown
from rigfit.formats.gguf.quantize import (
    LLAMA_QUANT_SOURCE,
    gguf_tensors,
    imatrix_required,
    replay,
    use_more_bits,
)
from rigfit.formats.gguf.size import (
    GGUF_DEFAULT_ALIGNMENT,
    gguf_file_bytes,
    gguf_file_size,
    metadata_estimate_bytes,
)
from rigfit.quant import GGMLType, GGUFRecipe, LlamaFtype, WeightFormat

F = LlamaFtype
T = GGMLType

# use_more_bits(i, 32) by hand: first eighth, last eighth, every third from block 6
MORE_BITS_32 = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}


def _arch(model: str) -> Architecture:
    return get_model(model).arch


def _types(model: str, ftype: LlamaFtype, imatrix: bool | None = None) -> dict[str, GGMLType]:
    return {c.tensor.name: c.type for c in replay(_arch(model), ftype, imatrix=imatrix)}


def _per_layer(plan: dict[str, GGMLType], leaf: str, n: int) -> list[GGMLType]:
    return [plan[f"blk.{i}.{leaf}"] for i in range(n)]


def test_source_is_named() -> None:
    assert "ec98e2002" in LLAMA_QUANT_SOURCE
    assert "llama-quant.cpp" in LLAMA_QUANT_SOURCE


def test_use_more_bits_by_hand() -> None:
    assert {i for i in range(32) if use_more_bits(i, 32)} == MORE_BITS_32
    # 61 layers (DeepSeek-V3): n/8 = 7, 7n/8 = 53
    want = set(range(7)) | set(range(53, 61)) | {i for i in range(7, 53) if (i - 7) % 3 == 2}
    assert {i for i in range(61) if use_more_bits(i, 61)} == want


# ---- dense Llama -----------------------------------------------------------------------------


def test_llama31_8b_q4_k_m() -> None:
    plan = _types("meta-llama/Llama-3.1-8B-Instruct", F.Q4_K_M)
    assert plan["output.weight"] is T.Q6_K
    assert plan["token_embd.weight"] is T.Q4_K
    for leaf in ("attn_v.weight", "ffn_down.weight"):
        got = _per_layer(plan, leaf, 32)
        assert {i for i, t in enumerate(got) if t is T.Q6_K} == MORE_BITS_32
        assert {t for i, t in enumerate(got) if i not in MORE_BITS_32} == {T.Q4_K}
    for leaf in ("attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"):
        assert set(_per_layer(plan, leaf + ".weight", 32)) == {T.Q4_K}
    assert plan["blk.0.attn_norm.weight"] is T.F32
    assert plan["output_norm.weight"] is T.F32


def test_llama31_8b_q4_k_m_bytes_by_hand() -> None:
    h, kv, ff, vocab, n = 4096, 1024, 14336, 128256, 32
    q4k, q6k = 144 / 256, 210 / 256  # bytes per weight

    def b(rows: int, cols: int, per: float) -> int:
        return int(rows * cols * per)

    layer_fixed = b(h, h, q4k) * 2 + b(kv, h, q4k) + b(ff, h, q4k) * 2  # q, o, k, gate, up
    upgraded = len(MORE_BITS_32)
    attn_v = b(kv, h, q6k) * upgraded + b(kv, h, q4k) * (n - upgraded)
    ffn_down = b(h, ff, q6k) * upgraded + b(h, ff, q4k) * (n - upgraded)
    norms = (2 * n + 1) * h * 4
    want = b(vocab, h, q4k) + b(vocab, h, q6k) + n * layer_fixed + attn_v + ffn_down + norms
    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    assert weight_breakdown(arch, WeightFormat.Q4_K_M).total_bytes == want


def test_r1_distill_qwen_32b_matches_llama_cpp_load_log() -> None:
    """llama.cpp loading bartowski's Q4_K_M logged CUDA0 18508.35 MiB + CPU_Mapped 417.66 MiB
    (helper measurements, llamacpp.jsonl): the tensor data, exactly."""
    arch = _arch("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B")
    total = weight_breakdown(arch, WeightFormat.Q4_K_M).total_bytes
    assert abs(total / 2**20 - (18508.35 + 417.66)) < 0.01
    embd = tensor_storage(arch.tensors()[0], WeightFormat.Q4_K_M, arch)
    assert embd[0] == "Q4_K"
    assert abs(embd[1] / 2**20 - 417.66) < 0.01  # the token embedding stays on the CPU


def test_70b_rule_lifts_attn_v() -> None:
    """80-layer llama with GQA is LLM_TYPE_70B: attn_v Q3_K/Q4_K become Q5_K."""
    plan = _types("meta-llama/Llama-3.1-70B-Instruct", F.Q4_K_M)
    v = _per_layer(plan, "attn_v.weight", 80)
    assert sum(t is T.Q6_K for t in v) == 40
    assert sum(t is T.Q5_K for t in v) == 40
    assert set(_per_layer(plan, "ffn_down.weight", 80)) == {T.Q4_K, T.Q6_K}
    # Q4_K_S: Q5_K on the first four, then Q4_K lifted to Q5_K by the 70B rule
    assert set(
        _per_layer(_types("meta-llama/Llama-3.1-70B-Instruct", F.Q4_K_S), "attn_v.weight", 80)
    ) == {T.Q5_K}
    # not for 32 layers
    assert T.Q5_K not in set(
        _per_layer(_types("meta-llama/Llama-3.1-8B-Instruct", F.Q4_K_S), "attn_v.weight", 32)[4:]
    )


def test_q3_k_m_counters() -> None:
    plan = _types("meta-llama/Llama-3.1-8B-Instruct", F.Q3_K_M)
    assert _per_layer(plan, "attn_v.weight", 32) == [T.Q5_K] * 2 + [T.Q4_K] * 30
    assert _per_layer(plan, "ffn_down.weight", 32) == [T.Q5_K] * 2 + [T.Q4_K] * 30  # n/16 = 2
    assert set(_per_layer(plan, "attn_output.weight", 32)) == {T.Q4_K}
    assert set(_per_layer(plan, "ffn_up.weight", 32)) == {T.Q3_K}


def test_low_bit_dense() -> None:
    plan = _types("meta-llama/Llama-3.1-8B-Instruct", F.Q2_K_S)
    assert set(_per_layer(plan, "attn_v.weight", 32)) == {T.Q4_K}  # n_gqa = 32 / 8 >= 4
    assert _per_layer(plan, "ffn_down.weight", 32) == [T.Q4_K] * 4 + [T.Q2_K] * 28
    plan = _types("meta-llama/Llama-3.1-8B-Instruct", F.IQ2_M)
    assert plan["token_embd.weight"] is T.IQ3_S
    assert plan["output.weight"] is T.Q5_K
    assert _per_layer(plan, "ffn_down.weight", 32) == [T.IQ3_S] * 4 + [T.IQ2_S] * 28
    assert set(_per_layer(plan, "attn_output.weight", 32)) == {T.IQ3_S}
    assert set(_per_layer(plan, "attn_q.weight", 32)) == {T.IQ2_S}
    plan = _types("meta-llama/Llama-3.1-8B-Instruct", F.IQ1_S)
    assert plan["token_embd.weight"] is T.Q2_K
    assert set(_per_layer(plan, "attn_output.weight", 32)) == {T.IQ2_XXS}


def test_imatrix_dependent_rules() -> None:
    m = "mistralai/Mistral-7B-Instruct-v0.3"
    assert _per_layer(_types(m, F.IQ4_XS, imatrix=False), "ffn_down.weight", 32)[3:5] == [
        T.Q5_K,
        T.IQ4_XS,
    ]
    assert set(_per_layer(_types(m, F.IQ4_XS, imatrix=True), "ffn_down.weight", 32)) == {T.IQ4_XS}
    assert _per_layer(_types(m, F.Q4_0, imatrix=True), "ffn_down.weight", 32)[3:5] == [
        T.Q4_1,
        T.Q4_0,
    ]
    assert set(_per_layer(_types(m, F.Q4_0), "ffn_down.weight", 32)) == {T.Q4_0}
    arch = _arch(m)
    assert imatrix_required(arch, F.IQ2_XXS)
    assert imatrix_required(arch, F.Q2_K_S)
    assert imatrix_required(arch, F.IQ3_XXS)  # attn_q and attn_k go IQ2_S
    assert not imatrix_required(arch, F.Q2_K)
    assert not imatrix_required(arch, F.IQ4_XS)
    # IQ3_XXS is therefore replayed with an imatrix: ffn_down keeps IQ3_XXS
    assert set(_per_layer(_types(m, F.IQ3_XXS), "ffn_down.weight", 32)) == {T.IQ3_XXS}
    assert _types(m, F.IQ3_XXS)["blk.0.attn_q.weight"] is T.IQ2_S


# ---- tied embeddings and the shape fallback ---------------------------------------------------


def test_tied_embedding_takes_the_output_rule() -> None:
    plan = _types("meta-llama/Llama-3.2-1B-Instruct", F.Q4_K_M)
    assert "output.weight" not in plan
    assert plan["token_embd.weight"] is T.Q6_K
    # Gemma 3 1B: rows of 1152 are not whole Q4_K blocks, so the tied head is Q8_0 and the
    # 1152-wide projections fall back from Q4_K to Q5_0
    plan = _types("google/gemma-3-1b-it", F.Q4_K_M)
    assert plan["token_embd.weight"] is T.Q8_0
    assert plan["blk.0.attn_q.weight"] is T.Q5_0
    assert plan["blk.0.ffn_gate.weight"] is T.Q5_0
    assert plan["blk.0.ffn_down.weight"] is T.Q6_K  # rows of 6912 = 27 x 256; use_more_bits
    assert plan["blk.0.attn_output.weight"] is T.Q4_K  # rows of 4 x 256
    # the head's own check comes first: Q8_0, not Q5_K's fallback Q5_1
    assert _types("google/gemma-3-1b-it", F.IQ2_M)["token_embd.weight"] is T.Q8_0


def test_qwen25_72b_ffn_down_fallback() -> None:
    assert 29568 % 256 == 128  # Qwen2.5-72B's intermediate size, ffn_down's row length
    plan = _types("Qwen/Qwen2.5-72B-Instruct", F.Q4_K_M)
    down = _per_layer(plan, "ffn_down.weight", 80)
    more = [use_more_bits(i, 80) for i in range(80)]
    assert down == [T.Q8_0 if m else T.Q5_0 for m in more]  # Q6_K -> Q8_0, Q4_K -> Q5_0
    assert set(_per_layer(plan, "ffn_up.weight", 80)) == {T.Q4_K}
    # qwen2 at 80 layers is LLM_TYPE_70B too
    assert {
        t for t, m in zip(_per_layer(plan, "attn_v.weight", 80), more, strict=True) if not m
    } == {T.Q5_K}
    plan = _types("Qwen/Qwen2.5-72B-Instruct", F.IQ2_XS)
    assert set(_per_layer(plan, "ffn_down.weight", 80)) == {T.IQ4_NL}  # Q2_K and IQ2_XS both


def test_biases_and_norms_are_f32() -> None:
    plan = _types("Qwen/Qwen2.5-7B-Instruct", F.Q4_K_M)
    for name in ("attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_norm.weight"):
        assert plan[f"blk.3.{name}"] is T.F32
    assert "blk.3.attn_qkv.bias" not in plan


# ---- mixture of experts -----------------------------------------------------------------------


def test_mixtral_eight_expert_rules() -> None:
    m = "mistralai/Mixtral-8x7B-Instruct-v0.1"
    plan = _types(m, F.Q4_K_M)
    assert set(_per_layer(plan, "attn_v.weight", 32)) == {T.Q8_0}
    assert set(_per_layer(plan, "attn_k.weight", 32)) == {T.Q8_0}
    assert set(_per_layer(plan, "attn_output.weight", 32)) == {T.Q5_K}
    down = _per_layer(plan, "ffn_down_exps.weight", 32)
    assert {i for i, t in enumerate(down) if t is T.Q6_K} == MORE_BITS_32  # layer from the name
    assert plan["blk.0.ffn_gate_inp.weight"] is T.F32
    plan = _types(m, F.Q2_K)
    assert set(_per_layer(plan, "attn_v.weight", 32)) == {T.Q8_0}  # overrides Q4_K
    assert set(_per_layer(plan, "ffn_down_exps.weight", 32)) == {T.Q3_K}
    plan = _types(m, F.IQ2_XXS)
    assert set(_per_layer(plan, "attn_k.weight", 32)) == {T.Q4_K}
    assert set(_per_layer(plan, "attn_output.weight", 32)) == {T.Q5_K}


def test_many_expert_moe() -> None:
    m = "Qwen/Qwen3-30B-A3B"  # 128 experts: no 8-expert rules
    plan = _types(m, F.Q4_K_M)
    assert set(_per_layer(plan, "attn_k.weight", 48)) == {T.Q4_K}
    assert set(_per_layer(plan, "attn_output.weight", 48)) == {T.Q4_K}
    plan = _types(m, F.IQ2_XXS)
    assert set(_per_layer(plan, "attn_v.weight", 48)) == {T.Q4_K}
    # the raw counter: the first 48/8 = 6 ffn_down tensors
    assert _per_layer(plan, "ffn_down_exps.weight", 48) == [T.Q2_K] * 6 + [T.IQ2_XXS] * 42
    plan = _types(m, F.MXFP4_MOE)
    assert plan["blk.0.ffn_up_exps.weight"] is T.MXFP4
    assert plan["blk.0.attn_q.weight"] is T.Q8_0
    assert plan["token_embd.weight"] is T.Q8_0
    assert plan["output.weight"] is T.Q8_0


def test_deepseek_mla_tensors() -> None:
    m = "deepseek-ai/DeepSeek-V3"
    names = {t.name for t in gguf_tensors(_arch(m))}
    assert "blk.0.attn_kv_b.weight" not in names  # written as k_b and v_b
    plan = _types(m, F.Q4_K_M)
    assert plan["blk.0.attn_k_b.weight"] is T.Q5_0  # rows of qk_nope 128: Q4_K falls back
    assert plan["blk.0.attn_v_b.weight"] is T.Q4_K  # rows of kv_lora 512
    for leaf in ("attn_q_a", "attn_q_b", "attn_kv_a_mqa", "attn_output"):
        assert plan[f"blk.0.{leaf}.weight"] is T.Q4_K
    assert plan["blk.0.ffn_down.weight"] is T.Q6_K  # dense block 0, use_more_bits
    assert plan["blk.10.ffn_down_exps.weight"] is T.Q4_K  # (10 - 7) % 3 == 0
    assert plan["blk.11.ffn_down_shexp.weight"] is T.Q4_K  # (11 - 7) % 3 == 1
    assert plan["blk.12.ffn_down_shexp.weight"] is T.Q6_K  # (12 - 7) % 3 == 2
    assert plan["blk.9.ffn_down_exps.weight"] is T.Q6_K  # (9 - 7) % 3 == 2
    assert _types(m, F.Q6_K)["blk.0.attn_k_b.weight"] is T.Q8_0
    # IQ2_XXS: the first 61/8 = 7 ffn_down tensors in file order: blk.0-2 ffn_down,
    # blk.3 exps + shexp, blk.4 exps + shexp; blk.5's are past the count
    plan = _types(m, F.IQ2_XXS)
    assert plan["blk.4.ffn_down_shexp.weight"] is T.Q2_K
    assert plan["blk.5.ffn_down_exps.weight"] is T.IQ2_XXS
    # MXFP4_MOE: k_b and v_b are 3-D (one matrix per head), so they go MXFP4 too
    assert _types(m, F.MXFP4_MOE)["blk.0.attn_k_b.weight"] is T.MXFP4


def test_phi3_fused_qkv() -> None:
    m = "microsoft/phi-4"
    plan = _types(m, F.Q4_K_M)
    assert "blk.0.attn_v.weight" not in plan
    assert set(_per_layer(plan, "attn_qkv.weight", 40)) == {T.Q5_K}  # ec98: all layers
    assert set(_per_layer(plan, "ffn_up.weight", 40)) == {T.Q4_K}
    assert "blk.0.ffn_gate.weight" not in plan
    arch = _arch(m)
    fused = next(t for t in gguf_tensors(arch) if t.name == "blk.0.ffn_up.weight")
    assert fused.ne == (5120, 2 * 17920)
    # the inventory's separate q, k and v still get their exact share of the fused bytes
    q = next(t for t in arch.tensors() if t.name == "blk.0.attn_q.weight")
    assert tensor_storage(q, WeightFormat.Q4_K_M, arch) == ("Q5_K", 5120 * 5120 * 176 // 256)


def test_gpt_oss_experts_stay_mxfp4() -> None:
    """The converter writes gpt-oss's experts as MXFP4; llama-quantize will not requantize."""
    plan = _types("openai/gpt-oss-20b", F.Q4_K_M)
    assert plan["blk.0.ffn_down_exps.weight"] is T.MXFP4
    assert plan["blk.0.attn_q.weight"] is T.Q5_0  # rows of 2880 = 11.25 x 256
    assert plan["blk.0.attn_sinks.weight"] is T.F32
    assert plan["blk.0.ffn_down_exps.bias"] is T.F32
    assert _types("openai/gpt-oss-20b", F.BF16)["blk.0.ffn_up_exps.weight"] is T.MXFP4


def test_float_files() -> None:
    plan = _types("Qwen/Qwen2.5-7B-Instruct", F.F16)
    assert plan["blk.0.attn_q.weight"] is T.F16
    assert plan["blk.0.attn_q.bias"] is T.F32
    assert plan["token_embd.weight"] is T.F16
    assert set(_types("Qwen/Qwen2.5-7B-Instruct", F.ALL_F32).values()) == {T.F32}


@pytest.mark.parametrize("fmt", [f for f in WeightFormat if isinstance(f.layout, GGUFRecipe)])
def test_recipe_summary_agrees_with_the_replay(fmt: WeightFormat) -> None:
    """docs/formats.md's summary of each GGUF type against the replay on a dense GQA-4 model."""
    r = fmt.layout
    assert isinstance(r, GGUFRecipe)
    model = "Qwen/Qwen3-30B-A3B" if fmt is WeightFormat.MXFP4_MOE else "mistralai/Mistral-7B-v0.1"
    plan = _types(model, r.ftype)
    assert plan["output.weight"] is r.output
    assert plan["token_embd.weight"] is (r.token_embd or r.default)
    n = 48 if fmt is WeightFormat.MXFP4_MOE else 32
    down = "ffn_down_exps.weight" if fmt is WeightFormat.MXFP4_MOE else "ffn_down.weight"
    for leaf, want, other in (
        ("attn_v.weight", r.attn_v, r.default),
        (down, r.ffn_down, r.experts or r.default),
    ):
        got = set(_per_layer(plan, leaf, n))
        assert (want in got) if want else got == {other}
    assert set(_per_layer(plan, "attn_output.weight", n)) == {r.attn_output or r.default}


# ---- file size --------------------------------------------------------------------------------


def test_file_layout_arithmetic() -> None:
    arch = _arch("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B")
    s = gguf_file_size(arch, WeightFormat.Q4_K_M, metadata=False)
    assert s.n_tensors == 64 * 12 + 3  # q/k/v + 3 biases, o, gate, up, down, 2 norms; + 3
    plan = replay(arch, F.Q4_K_M)
    align = GGUF_DEFAULT_ALIGNMENT
    data = sum(-(-c.nbytes // align) * align for c in plan)
    info = sum(8 + len(c.tensor.name) + 4 + 8 * len(c.tensor.ne) + 4 + 8 for c in plan)
    assert s.total_bytes == -(-(24 + info) // align) * align + data
    assert s.tensor_bytes == weight_breakdown(arch, WeightFormat.Q4_K_M).total_bytes
    full = gguf_file_bytes(arch, WeightFormat.Q4_K_M)
    assert 0 <= full - s.total_bytes - metadata_estimate_bytes(arch) < align


@pytest.mark.parametrize(
    ("model", "fmt", "published_gb"),
    [
        # bartowski's model cards (GB = 10^9 bytes, as Hugging Face shows; imatrix quants)
        ("meta-llama/Llama-3.1-8B-Instruct", WeightFormat.Q4_K_M, 4.92),
        ("meta-llama/Llama-3.1-70B-Instruct", WeightFormat.IQ2_XXS, 19.10),
        ("Qwen/Qwen2.5-72B-Instruct", WeightFormat.Q4_K_M, 47.42),
        ("Qwen/Qwen2.5-32B-Instruct", WeightFormat.IQ3_M, 14.81),
        ("google/gemma-2-27b-it", WeightFormat.Q4_K_M, 16.65),
        ("Qwen/Qwen3-32B", WeightFormat.IQ3_XXS, 12.82),
        ("openai/gpt-oss-20b", WeightFormat.MXFP4_MOE, 12.10),
        ("openai/gpt-oss-20b", WeightFormat.Q6_K, 12.04),  # experts stay MXFP4
    ],
)
def test_published_file_sizes(model: str, fmt: WeightFormat, published_gb: float) -> None:
    pred = gguf_file_bytes(_arch(model), fmt, imatrix=True)
    assert abs(pred / 1e9 - published_gb) / published_gb < 0.002


def test_non_gguf_formats_have_no_file() -> None:
    from rigfit.errors import InvalidSpecError

    with pytest.raises(InvalidSpecError):
        gguf_file_bytes(_arch("Qwen/Qwen2.5-7B-Instruct"), WeightFormat.AWQ)
