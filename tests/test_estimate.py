"""The generic profile's estimate: invariants (Hypothesis) and the answers built on it.

The generic profile is no longer anybody's default (rigfit.engines.choice is); these tests pin
its arithmetic and the searches of rigfit.estimate.plan, which every engine shares, so each
call here names it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rigfit
from rigfit.catalog.schema import GPURecord
from rigfit.engines.generic import GENERIC, RESERVE_PER_GPU_BYTES
from rigfit.errors import InvalidSpecError
from rigfit.estimate import plan
from rigfit.estimate.memory import EngineProfile, Estimate, Request
from rigfit.estimate.memory import estimate as _estimate
from rigfit.quant import KVCacheType, WeightFormat

from .conftest import GPUS, MODELS

# the generic estimate refuses embedding models (no pooling run to replay): generators only
MODEL_IDS = [m.id for m in MODELS if m.generates]


def estimate(req: Request) -> Estimate:
    return _estimate(req, GENERIC)


def fit(req: Request) -> plan.FitResult:
    return plan.fit(req, GENERIC)


def max_context(req: Request) -> int:
    return plan.max_context(req, GENERIC)


def max_seqs(req: Request) -> int:
    return plan.max_seqs(req, GENERIC)


def min_gpus(req: Request) -> int | None:
    return plan.min_gpus(req, GENERIC)


def gpu_table(
    req: Request, gpus: list[GPURecord], profile: EngineProfile = GENERIC
) -> list[plan.GPURow]:
    return plan.gpu_table(req, gpus, profile)


# Chains along which bits per weight grow (GGUF file types and float dtypes).
BITS_CHAIN = [
    WeightFormat.Q2_K,
    WeightFormat.Q3_K_M,
    WeightFormat.Q4_K_M,
    WeightFormat.Q5_K_M,
    WeightFormat.Q6_K,
    WeightFormat.Q8_0,
    WeightFormat.BF16,
    WeightFormat.F32,
]
KV_CHAIN = [KVCacheType.Q4_0, KVCacheType.Q8_0, KVCacheType.F16, KVCacheType.F32]


def _req(
    model: str,
    ctx: int = 4096,
    seqs: int = 1,
    fmt: str = "Q4_K_M",
    kv: str = "f16",
    gpu: str = "h100-sxm",
    gpus: int = 1,
) -> rigfit.Request:
    return rigfit.make_request(
        model, gpu, gpus=gpus, quant=fmt, ctx=ctx, kv_type=kv, seqs=seqs, force_ctx=True
    )[1]


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(MODEL_IDS),
    a=st.integers(1, 300_000),
    b=st.integers(1, 300_000),
    seqs=st.integers(1, 64),
)
def test_memory_never_falls_as_context_grows(model: str, a: int, b: int, seqs: int) -> None:
    lo, hi = sorted((a, b))
    assert (
        estimate(_req(model, lo, seqs)).total_bytes <= estimate(_req(model, hi, seqs)).total_bytes
    )


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(MODEL_IDS),
    a=st.integers(1, 512),
    b=st.integers(1, 512),
    ctx=st.integers(1, 65_536),
)
def test_memory_never_falls_as_sequences_grow(model: str, a: int, b: int, ctx: int) -> None:
    lo, hi = sorted((a, b))
    assert estimate(_req(model, ctx, lo)).total_bytes <= estimate(_req(model, ctx, hi)).total_bytes


@settings(max_examples=40, deadline=None)
@given(
    model=st.sampled_from(MODEL_IDS),
    i=st.integers(0, len(BITS_CHAIN) - 2),
    ctx=st.integers(1, 65_536),
)
def test_memory_never_falls_as_weight_bits_grow(model: str, i: int, ctx: int) -> None:
    lo = estimate(_req(model, ctx, fmt=BITS_CHAIN[i].label)).total_bytes
    hi = estimate(_req(model, ctx, fmt=BITS_CHAIN[i + 1].label)).total_bytes
    assert lo <= hi


@settings(max_examples=40, deadline=None)
@given(
    model=st.sampled_from(MODEL_IDS),
    i=st.integers(0, len(KV_CHAIN) - 2),
    ctx=st.integers(1, 65_536),
)
def test_memory_never_falls_as_kv_bits_grow(model: str, i: int, ctx: int) -> None:
    lo = estimate(_req(model, ctx, kv=KV_CHAIN[i].flag)).total_bytes
    hi = estimate(_req(model, ctx, kv=KV_CHAIN[i + 1].flag)).total_bytes
    assert lo <= hi


FULL_ONLY = [
    m.id
    for m in MODELS
    if m.arch.kv_layers == m.arch.num_layers and not any(layer.window for layer in m.arch.layers)
]
SLIDING = [m.id for m in MODELS if any(layer.window for layer in m.arch.layers)]


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(FULL_ONLY), ctx=st.integers(1, 100_000))
def test_kv_is_linear_in_tokens_for_full_attention(model: str, ctx: int) -> None:
    arch = rigfit.get_model(model).arch
    kv = KVCacheType.F16
    assert arch.kv_cache_bytes(ctx, kv) == ctx * arch.kv_bytes_per_token(kv)


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(SLIDING), extra=st.integers(0, 100_000))
def test_sliding_kv_flat_past_the_window(model: str, extra: int) -> None:
    """Sliding layers stop growing at their window; only full layers keep growing."""
    arch = rigfit.get_model(model).arch
    window = max(layer.window or 0 for layer in arch.layers)
    kv = KVCacheType.F16
    # each full layer that keeps a cache grows by its own row (Gemma 4's full layers have their
    # own geometry; its E2B/E4B KV-shared layers read another layer's cache)
    per_token = sum(
        kv.row_bytes(arch.attn(x).kv_elems_per_token())
        for x in arch.layers
        if x.kind is rigfit.LayerKind.FULL and x.caches_kv
    )
    a = arch.kv_cache_bytes(window, kv)
    b = arch.kv_cache_bytes(window + extra, kv)
    assert b - a == per_token * extra


def test_hybrid_layers_count_in_the_kv_sum() -> None:
    """Falcon-H1's layers run attention beside a Mamba mixer: every one of them caches K and V
    (the model-level sum once left them out, pricing no KV for the generic estimate)."""
    import json
    from pathlib import Path

    from rigfit.arch import from_config
    from rigfit.formats.config_json import parse_config

    path = Path(__file__).parent / "data" / "configs" / "falcon-h1-7b.partial.json"
    arch = from_config(parse_config(json.loads(path.read_text())).config)
    assert arch.count_layers(rigfit.LayerKind.HYBRID) == arch.num_layers
    kv = KVCacheType.F16
    assert arch.kv_cache_bytes(4096, kv) == arch.kv_bytes_per_token(kv) * 4096 > 0


def test_mistral_v01_all_sliding_is_flat() -> None:
    arch = rigfit.get_model("mistralai/Mistral-7B-v0.1").arch
    kv = KVCacheType.F16
    assert arch.kv_cache_bytes(4096, kv) == arch.kv_cache_bytes(32_768, kv)


def test_terms_sum_and_split_across_gpus() -> None:
    est = estimate(_req("meta-llama/Llama-3.3-70B-Instruct", 32_768, gpus=2))
    assert est.total_bytes == sum(t.total_bytes for t in est.terms)
    assert est.per_gpu_bytes == sum(t.per_gpu_bytes for t in est.terms)
    weights = next(t for t in est.terms if t.key == "weights")
    assert weights.per_gpu_bytes * 2 - weights.total_bytes in (0, 1)
    reserve = next(t for t in est.terms if t.key == "reserve")
    assert reserve.total_bytes == 2 * RESERVE_PER_GPU_BYTES


def test_kv_term_matches_hand_value() -> None:
    """Llama-3.3-70B at 32,768 tokens, f16: 327,680 bytes x 32,768 = 10,737,418,240."""
    est = estimate(_req("meta-llama/Llama-3.3-70B-Instruct", 32_768))
    assert est.term_bytes("kv_cache") == 10_737_418_240


def test_r1_distill_70b_on_two_4090s_is_a_result_not_an_error() -> None:
    res = fit(_req("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", 32_768, gpu="rtx-4090", gpus=2))
    assert not res.fits
    assert res.estimate.shortfall_bytes > 0
    assert res.suggestions, "a shortfall must come with what would make it fit"
    for s in res.suggestions:
        assert s.headroom_per_gpu_bytes >= 0


def test_max_context_and_seqs_are_exact_limits() -> None:
    req = _req("meta-llama/Llama-3.1-8B-Instruct", 8192, fmt="BF16", gpu="rtx-4090")
    ctx = max_context(req)
    assert 1 <= ctx < req.arch.context_length
    assert estimate(replace(req, ctx_tokens=ctx)).fits
    assert not estimate(replace(req, ctx_tokens=ctx + 1)).fits
    s = max_seqs(req)
    assert estimate(replace(req, seqs=s)).fits
    assert not estimate(replace(req, seqs=s + 1)).fits


def test_min_gpus_for_r1_fp8() -> None:
    req = _req("deepseek-ai/DeepSeek-R1", 32_768, fmt="FP8-BLOCK", gpu="h200")
    n = min_gpus(req)
    assert n is not None
    assert n <= 8
    assert estimate(replace(req, system=rigfit.System(req.system.gpu, n))).fits


def test_gpu_table_orders_by_need() -> None:
    rows = gpu_table(_req("meta-llama/Llama-3.3-70B-Instruct", 32_768), GPUS[:10])
    needs = [r.gpus_needed for r in rows if r.gpus_needed is not None]
    assert needs == sorted(needs)


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        (0, "must be between 1 and"),
        (2**31, "must be between 1 and"),
        (10**7, "exceeds the model's maximum"),
    ],
)
def test_bad_context(ctx: int, message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message):
        rigfit.make_request("meta-llama/Llama-3.3-70B-Instruct", "h100-sxm", ctx=ctx)


def test_bad_seqs_and_gpus() -> None:
    with pytest.raises(InvalidSpecError, match="between 1 and"):
        rigfit.make_request("meta-llama/Llama-3.3-70B-Instruct", "h100-sxm", seqs=0)
    with pytest.raises(InvalidSpecError, match="at least 1"):
        rigfit.make_request("meta-llama/Llama-3.3-70B-Instruct", "h100-sxm", gpus=0)


def test_format_the_model_cannot_use() -> None:
    with pytest.raises(InvalidSpecError, match="dense"):
        estimate(_req("meta-llama/Llama-3.3-70B-Instruct", fmt="MXFP4_MOE"))
    # gpt-oss rows are 2880 long: not a multiple of AWQ's 128-wide groups
    with pytest.raises(InvalidSpecError, match="groups of 128"):
        estimate(_req("openai/gpt-oss-20b", fmt="AWQ"))


def test_gpu_table_leaves_out_what_the_engine_refuses() -> None:
    from rigfit.engines import get_engine

    req = _req("Qwen/Qwen3-8B", 8192, fmt="BF16")
    rows = gpu_table(req, GPUS, get_engine("mlx"))  # MLX runs on Apple silicon only
    assert rows
    assert all(r.gpu.unified_memory for r in rows)
    assert len(rows) == sum(g.unified_memory for g in GPUS)
    with pytest.raises(InvalidSpecError, match=r"fp8 KV cache"):
        gpu_table(replace(req, kv_type=KVCacheType.FP8), GPUS, get_engine("llama.cpp"))


def test_unified_memory_single_device() -> None:
    with pytest.raises(InvalidSpecError, match="unified-memory"):
        rigfit.make_request("Qwen/Qwen2.5-7B-Instruct", "m3-ultra-512gb", gpus=2)


def test_a_group_size_that_does_not_divide_a_row_is_refused_naming_the_tensor() -> None:
    from rigfit.errors import InvalidSpecError
    from rigfit.estimate.weights import weight_breakdown
    from rigfit.quant import WeightFormat

    arch = rigfit.get_model("openai/gpt-oss-20b").arch
    with pytest.raises(
        InvalidSpecError, match=r"groups of 128 .* blk\.0\.attn_q\.weight has rows of 2880"
    ):
        weight_breakdown(arch, WeightFormat.AWQ)


def test_tensors_of_one_shape_are_priced_alike() -> None:
    from rigfit.estimate.weights import weight_breakdown
    from rigfit.quant import WeightFormat

    arch = rigfit.get_model("meta-llama/Llama-3.1-8B-Instruct").arch
    w = weight_breakdown(arch, WeightFormat.AWQ)
    q = [t.nbytes for t in w.tensors if t.name.endswith("attn_q.weight")]
    assert len(q) == 32
    assert len(set(q)) == 1
    assert w.total_bytes == sum(t.nbytes for t in w.tensors)
