"""vLLM's accounting, checked against figures derived by hand from each config."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rigfit.api import make_request
from rigfit.catalog.lookup import get_gpu
from rigfit.engines.vllm import VLLM, parse_version
from rigfit.errors import InvalidSpecError
from rigfit.estimate.memory import Request, estimate
from rigfit.estimate.settings import EngineSettings

LLAMA8B = "meta-llama/Llama-3.1-8B-Instruct"
GIB = 2**30


def _req(
    model: str,
    gpu: str = "h100-sxm",
    *,
    gpus: int = 1,
    quant: str = "BF16",
    ctx: int = 8192,
    kv: str = "f16",
    seqs: int = 1,
    **settings: object,
) -> Request:
    _, req = make_request(model, gpu, gpus=gpus, quant=quant, ctx=ctx, kv_type=kv, seqs=seqs)
    return replace(req, engine=EngineSettings(**settings))  # type: ignore[arg-type]


def test_weights_of_one_rank_are_the_checkpoint_plus_the_rotary_cache() -> None:
    # BF16 Llama-3.1-8B: 16,060,522,496 bytes (its safetensors total_size); the cos/sin
    # cache is 131072 positions × 128 × 2 B. vLLM logs "Loading model weights took 14.9888
    # GB" (GiB) for it: (16,060,522,496 + 33,554,432) / 2^30 = 14.9888.
    est = estimate(_req(LLAMA8B), VLLM)
    w = est.term_bytes("weights") + est.term_bytes("rotary")
    assert w == 16_060_522_496 + 131072 * 128 * 2
    assert round(w / GIB, 4) == 14.9888


def test_pool_blocks_follow_the_budget() -> None:
    req = _req(LLAMA8B)
    est = estimate(req, VLLM)
    pool = est.pool
    assert pool is not None
    cap = est.request.system.capacity_per_gpu_bytes
    used = sum(t.per_gpu_bytes for t in est.terms if t.key != "kv_cache")
    assert pool.budget_per_gpu_bytes == int(cap * 0.9) - used
    page = 16 * 2 * 8 * 128 * 2  # block of 16 tokens, K and V, 8 heads of 128, 2 B
    assert pool.blocks == pool.budget_per_gpu_bytes // page // 32
    assert pool.tokens == pool.blocks * 16
    assert pool.max_concurrency == round(pool.blocks / (8192 // 16), 2)


def test_old_versions_divide_tokens_by_the_model_length() -> None:
    est = estimate(_req(LLAMA8B, ctx=20000, version="0.8.5"), VLLM)
    assert est.pool is not None
    assert est.pool.max_concurrency == round(est.pool.tokens / 20000, 2)


def test_tensor_parallel_beyond_kv_heads_replicates_one_head() -> None:
    # Llama-3.3-70B: 8 KV heads; TP 16 keeps max(1, 8 // 16) = 1 head per rank
    req = _req("meta-llama/Llama-3.3-70B-Instruct", gpus=16)
    assert VLLM.kv_bytes_per_token_layer(req) == 2 * 1 * 128 * 2
    req = _req("meta-llama/Llama-3.3-70B-Instruct", gpus=4)
    assert VLLM.kv_bytes_per_token_layer(req) == 2 * 2 * 128 * 2
    assert any(
        "replicated" in n
        for n in estimate(_req("meta-llama/Llama-3.3-70B-Instruct", gpus=16), VLLM).notes
    )


def test_mla_keeps_the_whole_latent_on_every_rank_in_blocks_of_64_on_hopper() -> None:
    req = _req("deepseek-ai/DeepSeek-V2-Lite-Chat", gpus=2, ctx=4096)
    assert VLLM.block_size(req) == 64
    assert VLLM.kv_bytes_per_token_layer(req) == (512 + 64) * 2
    assert VLLM.block_size(_req("deepseek-ai/DeepSeek-V2-Lite-Chat", "a100-80gb-sxm")) == 16


def test_default_batch_depends_on_the_gpu() -> None:
    assert VLLM.batched_tokens(_req(LLAMA8B)) == 8192
    assert VLLM.batched_tokens(_req(LLAMA8B, "rtx-4090")) == 2048
    assert VLLM.batched_tokens(_req(LLAMA8B, "a100-80gb-sxm")) == 2048
    assert VLLM.batched_tokens(_req(LLAMA8B, "a100-80gb-sxm", version="0.8.5")) == 8192
    # V0 profiled the whole model length at once up to 32K
    assert VLLM.batched_tokens(_req(LLAMA8B, "rtx-3090", ctx=20000, version="0.6.4")) == 20000


def test_fit_means_the_sequences_fit_in_the_pool() -> None:
    est = estimate(_req(LLAMA8B, ctx=131072, seqs=1), VLLM)
    assert est.pool is not None
    assert est.fits == (est.pool.tokens >= 131072)
    big = estimate(_req(LLAMA8B, ctx=131072, seqs=64), VLLM)
    assert not big.fits


def test_takes_the_utilization_share() -> None:
    """vLLM takes gpu_memory_utilization × total at start-up, whatever the request; the request
    fits when its blocks fit in the KV pool that share leaves."""
    req = _req(LLAMA8B, gpu_memory_utilization=0.5)
    est = estimate(req, VLLM)
    assert est.device_capacities == (req.system.capacity_per_gpu_bytes,)
    assert est.per_gpu_bytes == int(req.system.capacity_per_gpu_bytes * 0.5)
    assert est.pool is not None
    pool_term = next(t for t in est.terms if t.key == "kv_cache")
    assert pool_term.per_gpu_bytes == est.pool.budget_per_gpu_bytes
    assert (
        est.headroom_per_gpu_bytes == est.pool.budget_per_gpu_bytes - est.pool.demand_per_gpu_bytes
    )


def test_negative_pool_does_not_fit() -> None:
    """Weights above the utilization share leave no pool: no negative size, and no fit."""
    req = _req("meta-llama/Llama-3.1-70B-Instruct", gpu="rtx-4090")
    est = estimate(req, VLLM)
    assert est.pool is not None
    assert est.pool.budget_per_gpu_bytes < 0
    assert all(t.total_bytes >= 0 for t in est.terms)
    assert next(t for t in est.terms if t.key == "kv_cache").total_bytes == 0
    assert not est.fits
    assert est.shortfall_bytes == est.pool.demand_per_gpu_bytes - est.pool.budget_per_gpu_bytes


def test_bad_requests() -> None:
    with pytest.raises(InvalidSpecError, match=r"GGUF"):
        estimate(_req(LLAMA8B, quant="Q4_K_M"), VLLM)
    with pytest.raises(InvalidSpecError, match=r"no q8_0 KV cache"):
        estimate(_req(LLAMA8B, kv="q8_0"), VLLM)
    with pytest.raises(InvalidSpecError, match=r"divide by the tensor-parallel size 3"):
        estimate(_req(LLAMA8B, gpus=3), VLLM)
    with pytest.raises(InvalidSpecError, match=r"Apple"):
        estimate(_req(LLAMA8B, "m4-max-128gb"), VLLM)
    with pytest.raises(InvalidSpecError, match=r"2 × 1 = 2, but 4 GPUs"):
        estimate(_req(LLAMA8B, gpus=4, tp=2), VLLM)
    with pytest.raises(InvalidSpecError, match=r"like 0\.11\.0"):
        parse_version("nightly")


def test_command_line() -> None:
    req = _req(LLAMA8B, gpus=2, ctx=32768, kv="fp8", gpu_memory_utilization=0.85)
    assert VLLM.command(req, LLAMA8B) == (
        "vllm serve meta-llama/Llama-3.1-8B-Instruct --tensor-parallel-size 2"
        " --max-model-len 32768 --gpu-memory-utilization 0.85 --kv-cache-dtype fp8"
    )


def test_pipeline_stages_give_the_remainder_to_all_but_the_last() -> None:
    # vllm/distributed/utils.py get_pp_indices: partitions[-i] += 1 for i in 2..rem+1
    from rigfit.engines.sharding import pp_layers

    assert [len(s) for s in pp_layers(27, 2)] == [14, 13]
    assert [len(s) for s in pp_layers(27, 4)] == [7, 7, 7, 6]
    assert [len(s) for s in pp_layers(30, 4)] == [7, 8, 8, 7]
    assert [len(s) for s in pp_layers(32, 4)] == [8, 8, 8, 8]


def test_pipeline_blocks_are_the_smallest_stage_count() -> None:
    # DeepSeek-V2-Lite TP2 x PP2 on L4 (vllm-project/vllm#20665): each worker sizes its blocks
    # from its own budget and layers, then all take the minimum
    from rigfit.engines.sharding import pp_layers

    req = _req("deepseek-ai/DeepSeek-V2-Lite-Chat", "l4", gpus=4, ctx=1024, tp=2, pp=2)
    stages = pp_layers(27, 2)
    page = 16 * (512 + 64) * 2
    counts = []
    for i, s in enumerate(stages):
        budget = VLLM._stage_budget(req, s, i == 0, i == 1)
        counts.append(budget // page // len(s))
    pool = estimate(req, VLLM).pool
    assert pool is not None
    assert pool.blocks == min(counts)
    assert pool.tokens == min(counts) * 16


def test_v1_sampler_warm_up_runs_on_the_last_stage_only() -> None:
    req = _req(LLAMA8B, gpus=2, pp=2, tp=1)
    rows = min(VLLM.max_num_seqs(req), VLLM.batched_tokens(req))
    sampler = 8192 * 4096 * 2 + rows * 128256 * 28  # hidden states + native top-k/top-p peak
    assert VLLM.activation_bytes(req, last=True) == max(VLLM._forward_bytes(req), sampler)
    assert VLLM.activation_bytes(req, last=False) == VLLM._forward_bytes(req)
    # V0 keeps forward + f32 logits
    old = _req(LLAMA8B, "rtx-3090", ctx=20000, version="0.6.4")
    assert VLLM.activation_bytes(old) == VLLM._forward_bytes(old) + 256 * 128256 * 4


def test_mxfp4_experts_are_padded_for_marlin_on_hopper_before_0_10_2() -> None:
    # gpt-oss-120b: Marlin pads each expert to 2944 x 3072 (from 2880 x 2880) in 0.10.1
    model = "openai/gpt-oss-120b"
    new = _req(model, quant="MXFP4-EXPERTS", ctx=4096, version="0.11.0")
    old = _req(model, quant="MXFP4-EXPERTS", ctx=4096, version="0.10.1")
    assert VLLM.mxfp4_padding(new) == (64, 1)
    assert VLLM.mxfp4_padding(old) == (128, 256)
    stage = range(36)
    w_new = VLLM.stage_weight_bytes(new, stage, True, True)
    w_old = VLLM.stage_weight_bytes(old, stage, True, True)
    assert w_old > w_new
    assert round((w_old - w_new) / GIB, 1) == 5.1  # 36 x 128 experts x 3 matrices


def test_memory_outside_pytorch_follows_the_topology() -> None:
    """One GPU, PCIe peers (custom all-reduce off), an NVLink node, a stage in another node."""
    from rigfit.engines.vllm import (
        NON_TORCH_FABRIC_BYTES,
        NON_TORCH_PCIE_BYTES,
        NON_TORCH_REMOTE_STAGE_BYTES,
        NON_TORCH_SINGLE_BYTES,
        NON_TORCH_V064_BYTES,
    )

    def non_torch(req: Request) -> int:
        return next(t.per_gpu_bytes for t in estimate(req, VLLM).terms if t.key == "non_torch")

    llama = "meta-llama/Llama-3.1-8B-Instruct"
    assert non_torch(_req(llama, "rtx-4090")) == NON_TORCH_SINGLE_BYTES
    assert non_torch(_req(llama, "rtx-3090", version="0.6.4")) == NON_TORCH_V064_BYTES
    assert non_torch(_req(llama, "l4", gpus=4)) == NON_TORCH_PCIE_BYTES
    assert non_torch(_req(llama, "h100-sxm", gpus=8)) == NON_TORCH_FABRIC_BYTES
    big = _req("meta-llama/Llama-3.1-405B-Instruct", "h100-sxm", gpus=16, quant="FP8", tp=8, pp=2)
    assert non_torch(big) == NON_TORCH_REMOTE_STAGE_BYTES
    # PCIe peers leave more for the KV cache than an NVLink node's all-reduce buffers
    assert NON_TORCH_PCIE_BYTES < NON_TORCH_FABRIC_BYTES < NON_TORCH_REMOTE_STAGE_BYTES


def test_budget_starts_from_the_runtime_total() -> None:
    """vLLM's budget is utilization × cudaMemGetInfo's total: 23.58 GiB on an RTX 3090."""
    from rigfit.units import GIB

    est = estimate(_req("meta-llama/Llama-3.1-8B-Instruct", "rtx-3090"), VLLM)
    assert est.capacity_per_gpu_bytes == int(23.58 * GIB)
    assert est.per_gpu_bytes == int(int(23.58 * GIB) * 0.9)


# ---- hybrid models: recurrent state in the one pool ----------------------------------------------


def _hybrid(model: str, gpu: str, tp: int, ctx: int, kv: str) -> Request:
    _, req = make_request(model, gpu, gpus=tp, quant="BF16", ctx=ctx, kv_type=kv)
    return replace(req, engine=EngineSettings(tp=tp))


@pytest.mark.parametrize(
    ("gpu", "ctx", "kv", "budget_gib", "block", "tokens", "conc"),
    [
        # vLLM 0.10.2, TP2 on 2 × H200, defaults: "Setting attention block size to 544 tokens",
        # "Available KV cache memory: 44.59 GiB", "GPU KV cache size: 973,760 tokens",
        # "Maximum concurrency for 262,144 tokens per request: 14.77x" (a console log in the
        # code index, file id 7292846353)
        ("h200", 262144, "f16", 44.59, 544, 973_760, 14.77),
        # vLLM 0.13.0, TP2 on 2 × L40S, fp8 KV, max_model_len 32768: block 1072, "Available KV
        # cache memory: 17.58 GiB", "GPU KV cache size: 767,552 tokens", "84.29x" (a compose log
        # in the code index, file id 33676930891; the budget is printed to 0.01 GiB, one block)
        ("l40s", 32768, "fp8", 17.58, 1072, 767_552, 84.29),
    ],
)
def test_qwen3_next_pool_matches_vllm_logs(
    gpu: str, ctx: int, kv: str, budget_gib: float, block: int, tokens: int, conc: float
) -> None:
    """The DeltaNet state page (conv + recurrent, bf16, per TP rank) sets the attention block
    size; 12 attention and 36 DeltaNet layers make 1 + 3 groups of 12; each DeltaNet group
    takes one block per request."""
    req = _hybrid("Qwen/Qwen3-Next-80B-A3B-Instruct", gpu, 2, ctx, kv)
    assert VLLM.block_size(req) == block
    pool = VLLM.pool_for_budget(req, int(budget_gib * GIB))
    assert pool.tokens == tokens
    assert abs(pool.max_concurrency - conc) <= 0.05


def test_mamba_page_and_groups_by_hand() -> None:
    """Nemotron-H-8B at TP1: state (3 × 10240 + 128 × 64 × 128) × 2 B = 2,158,592 B; the block
    is the smallest multiple of 16 whose 4,096-byte-per-token attention page holds it (528);
    4 attention and 24 Mamba layers make 1 + 6 groups of 4."""
    import json
    from pathlib import Path

    from rigfit.arch import from_config
    from rigfit.formats.config_json import parse_config
    from rigfit.hardware import System
    from rigfit.quant import KVCacheType, WeightFormat

    raw = json.loads(
        (Path(__file__).parent.parent / "data/configs/nemotron-h-8b-base-8k.json").read_text()
    )
    arch = from_config(parse_config(raw).config)
    req = Request(arch, WeightFormat.BF16, KVCacheType.F16, 8192, 1, System(get_gpu("h100-sxm"), 1))
    assert VLLM.state_page_bytes(req) == (3 * 10240 + 128 * 64 * 128) * 2 == 2_158_592
    assert VLLM.block_size(req) == 528
    groups = VLLM._groups(req, range(arch.num_layers))
    assert sorted((g.kind.value, g.layers) for g in groups) == sorted(
        [("full_attention", 4)] + [("mamba", 4)] * 6
    )
    pool = VLLM.pool_for_budget(req, 10 * GIB)
    assert pool.max_concurrency == round(pool.blocks / (16 + 6), 2)  # ceil(8192 / 528) + 6
    # --mamba-ssm-cache-dtype float32 keeps the SSM part in 4 bytes: 3 × 10240 × 2 + 1,048,576 × 4
    f32 = replace(req, engine=EngineSettings(mamba_ssm_cache_dtype="float32"))
    assert VLLM.state_page_bytes(f32) == 3 * 10240 * 2 + 128 * 64 * 128 * 4
    assert VLLM.block_size(f32) == 1040
    assert "--mamba-ssm-cache-dtype float32" in VLLM.command(f32, "m")


SUPER = "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8"


def test_latent_projections_are_whole_on_every_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM's NemotronHMoE builds fc1/fc2_latent_proj as ReplicatedLinear: at TP 4 each rank
    holds them whole, 3/4 of their bytes more than if they were sharded like the experts.
    They stay BF16 under FP8, as in NVIDIA's FP8 checkpoint."""
    from rigfit.arch import Role
    from rigfit.engines import sharding
    from rigfit.engines.tensors import request_tensors

    req = _req(SUPER, gpus=4, quant="FP8")
    layers = range(req.arch.num_layers)
    whole = sharding.rank_weight_bytes(req, 4, layers, True, True)
    latent = [t for t in request_tensors(req) if t.role in (Role.LATENT_DOWN, Role.LATENT_UP)]
    assert len(latent) == 2 * 40
    assert {t.nbytes for t in latent} == {1024 * 4096 * 2}
    monkeypatch.setattr(
        sharding, "_REPLICATED", sharding._REPLICATED - {Role.LATENT_DOWN, Role.LATENT_UP}
    )
    sharding._RANK_BYTES.clear()
    split = sharding.rank_weight_bytes(req, 4, layers, True, True)
    sharding._RANK_BYTES.clear()
    assert whole - split == sum(t.nbytes - -(-t.nbytes // 4) for t in latent)


def test_latent_experts_narrow_the_fused_moe_buffers() -> None:
    """fused_moe's caches hold top-k × (2I + I) intermediates and top-k outputs of the width
    the experts write: the 1,024-wide latent for Super, plus fc1's latent input and fc2's
    latent output beside them. Against the same model with hidden-wide experts that is
    22 × (4096 − 1024) − 2 × 1024 = 65,536 fewer elements a token, in 2-byte activations."""
    from dataclasses import replace as dc_replace

    req = _req(SUPER, gpus=2, quant="FP8")
    moe = req.arch.moe
    assert moe is not None
    flat = replace(req, arch=dc_replace(req.arch, moe=dc_replace(moe, latent_size=0)))
    tokens = VLLM.batched_tokens(req)
    # a stage that is not the last one peaks at the forward pass (the last one at the sampler
    # warm-up, 3.8 GB here, whichever width the experts have)
    narrow, wide = VLLM.activation_bytes(req, last=False), VLLM.activation_bytes(flat, last=False)
    assert wide - narrow == tokens * 2 * 65_536


def test_latent_experts_need_a_release_after_0_11() -> None:
    """PR #30203 (December 2025) brought the latent experts: 0.11 releases are refused, and
    the default (0.11.0's memory rules) says so in a note."""
    with pytest.raises(InvalidSpecError, match="predates nemotron_h's latent experts"):
        VLLM.check(_req(SUPER, gpus=2, quant="FP8", version="0.11.2"))
    VLLM.check(_req(SUPER, gpus=2, quant="FP8", version="0.12.0"))
    notes = estimate(_req(SUPER, gpus=2, quant="FP8"), VLLM).notes
    assert any("PR #30203" in n for n in notes)


def test_mixed_attention_on_gaudi_does_not_point_back_to_llamacpp() -> None:
    """vLLM's refusal of Gemma 4 points to llama.cpp, except on Gaudi, where ggml has no
    backend: there it says no engine rigfit replays prices the model, instead of sending the
    user back and forth."""
    from rigfit.errors import UnsupportedArchitectureError

    with pytest.raises(UnsupportedArchitectureError, match=r"use --engine llama\.cpp"):
        VLLM.check(_req("google/gemma-4-31B-it", ctx=4096))
    with pytest.raises(UnsupportedArchitectureError, match=r"no backend for .*Gaudi 3") as err:
        VLLM.check(_req("google/gemma-4-31B-it", "gaudi3", ctx=4096))
    assert "--engine llama.cpp" not in str(err.value)


def test_fp8_of_a_per_channel_checkpoint_is_that_checkpoint() -> None:
    """--quant FP8 of GLM-4.5-Air-FP8 prices its own per-channel checkpoint: one f32 scale per
    output row on top of the FP8 bytes, the norms, biases, routers, embedding and head BF16."""
    from rigfit.quant import WeightFormat

    air = "zai-org/GLM-4.5-Air-FP8"
    named, native = _req(air, gpus=2, quant="FP8"), _req(air, gpus=2, quant="FP8-CHANNEL")
    assert named.weight_format is native.weight_format is WeightFormat.FP8_CHANNEL
    per_tensor = replace(named, weight_format=WeightFormat.FP8)
    channel_w, tensor_w = named.weights(), per_tensor.weights()
    # the scales: 4 bytes per output row of each FP8 matrix, 4 per matrix for one per tensor
    fp8 = [t for t in named.arch.tensors() if t.role.quantizable]
    rows, mats = sum(t.rows * t.count for t in fp8), sum(t.count for t in fp8)
    assert channel_w.total_bytes - tensor_w.total_bytes == 4 * rows - 4 * mats
    assert dict(channel_w.by_type)["BF16"] == dict(tensor_w.by_type)["BF16"] > 0
    # and vLLM starts it with --quantization left to the checkpoint
    assert not named.quantized_at_load()


def test_w4a16_needs_turing() -> None:
    """compressed-tensors' int4 (W4A16) runs from compute capability 7.5
    (CompressedTensorsWNA16.get_min_capability): a T4 prices it, a V100 is refused."""
    est = estimate(_req(LLAMA8B, "t4", quant="W4A16", ctx=2048), VLLM)
    assert est.term_bytes("weights") > 0
    with pytest.raises(InvalidSpecError, match=r"no W4A16 kernels .* need 7\.5 or later"):
        estimate(_req(LLAMA8B, "v100-32gb", quant="W4A16"), VLLM)


def test_float32_is_a_cast_of_the_published_checkpoint_with_its_cache() -> None:
    """--dtype float32 casts the BF16 checkpoint as it loads, and 'auto' then keeps an f32
    cache (the llm-d-planner sweep's f32 run: 30,699.52 MiB of weights, 175,296 tokens); an
    f32 cache beside 16-bit weights is refused."""
    from rigfit.api import checkpoint_ref, resolve_model

    _, req = make_request(LLAMA8B, "h100-sxm", quant="F32", ctx=8192, kv_type="f32")
    ref, note = checkpoint_ref(resolve_model(LLAMA8B), req, "vllm")
    assert ref == LLAMA8B
    assert note is not None
    assert "casts the BF16 weights" in note
    assert "--dtype float32" in VLLM.command(req, ref)
    assert estimate(req, VLLM).fits
    with pytest.raises(InvalidSpecError, match="f32 KV cache only for a model run in float32"):
        estimate(_req(LLAMA8B, kv="f32"), VLLM)
