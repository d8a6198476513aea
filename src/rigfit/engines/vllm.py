"""vLLM: a fixed share of each GPU, weights and a profiled activation peak, the rest KV blocks.

Reference: vLLM 0.11.0 (V1 engine), from its source (vllm/v1/worker/gpu_worker.py
``determine_available_memory``, vllm/v1/kv_cache_interface.py, vllm/v1/core/kv_cache_utils.py,
vllm/engine/arg_utils.py). Per GPU rank:

* the engine may use ``gpu_memory_utilization × total memory`` (default 0.9);
* out of that come the weights of the rank ("Model loading took X GiB"), the activation peak
  of one profiling forward pass over ``max_num_batched_tokens`` tokens plus the sampler's
  logits, and the memory outside PyTorch that grew meanwhile (NCCL, cuBLAS);
* what is left is the KV cache ("Available KV cache memory"), cut into blocks of
  ``block_size`` tokens: ``num_blocks = available // page_size // layers``, "GPU KV cache
  size: N tokens" and "Maximum concurrency for L tokens per request: X";
* CUDA graphs are captured after the KV cache is allocated and come out of the remaining
  ``1 - gpu_memory_utilization``.

Hybrid models (Qwen3-Next's gated DeltaNet, Mamba2 layers) share the one pool: a recurrent
layer's state is one page per request, the attention block size is raised until one attention
page holds it (model_executor/models/config.py HybridAttentionMambaModelConfig, 0.11.0
l.314-400), layers are grouped by spec in groups of the smallest count (kv_cache_utils.py
_get_kv_cache_groups_uniform_page_size), and each recurrent group takes one block per request
(single_type_kv_cache_manager.py MambaManager).

A request fits when the blocks its sequences need fit in the pool: vLLM refuses to start
when one sequence of ``max_model_len`` does not, and queues sequences beyond the pool.
"""

from __future__ import annotations

import math
from dataclasses import replace

from rigfit.arch import Architecture, AttentionKind, LayerKind, LayerSpec, Role
from rigfit.engines.checks import (
    LOAD_CAST,
    LOAD_QUANTIZED,
    emulation_note,
    parse_engine_version,
    refuse_for_tp_engine,
    release_floor,
)
from rigfit.engines.sharding import (
    check_tp,
    kv_bytes_per_rank_token_layer,
    pp_layers,
    rank_weight_bytes,
    state_elems_per_rank,
    tp_pp_grid,
)
from rigfit.engines.tensors import request_tensors
from rigfit.errors import InvalidSpecError
from rigfit.estimate.memory import KVPool, ProfileBase, Request, Term
from rigfit.estimate.split import Split
from rigfit.estimate.terms import TermKind
from rigfit.families import family
from rigfit.frozen import frozen
from rigfit.hardware import peer_fabric
from rigfit.quant import KVCacheType, WeightFormat
from rigfit.units import GIB

__all__ = ["VLLM", "VLLMProfile", "parse_version"]

REFERENCE_VERSION = (0, 11, 0)
# nemotron_h's latent experts (Nemotron 3 Super/Ultra: fc1/fc2_latent_proj around FusedMoE) came
# with PR #30203 "Add latent MoE support", opened 2025-12-07: every 0.11 release predates it.
# Whether 0.12.0 has it is not pinned, so only releases that certainly lack it are refused.
LATENT_MOE_VERSION = (0, 12, 0)
GPU_MEMORY_UTILIZATION = 0.9  # CacheConfig.gpu_memory_utilization default (config/cache.py)
BLOCK_SIZE = 16  # CUDA default block size (platforms/cuda.py)
# MLA backends force their block size (platforms/cuda.py, 0.11): FlashMLA 64 on Hopper,
# CUTLASS MLA 128 on Blackwell; elsewhere the Triton MLA backend keeps 16.
MLA_BLOCK_HOPPER = 64
MLA_BLOCK_BLACKWELL = 128
# Scheduler defaults for `vllm serve` (arg_utils.py _set_default_args, 0.11 l.1590-1681):
# devices of at least 70 GiB other than the A100 get 8192 batched tokens and 1024 sequences,
# the others 2048 and 256. 0.8.x had no A100 exception (PR #17885 added it).
BIG_GPU_BYTES = 70 * GIB
BATCHED_TOKENS_BIG, BATCHED_TOKENS_SMALL = 8192, 2048
MAX_SEQS_BIG, MAX_SEQS_SMALL = 1024, 256
# V0 (before 0.8) without chunked prefill profiled max(max_model_len, 2048) tokens at once
# (SchedulerConfig: max_num_batched_tokens = max(max_model_len, 2048)); it enabled chunked
# prefill, with 512-token chunks, only for contexts above 32K (EngineArgs.create_engine_config).
V0_MIN_BATCHED_TOKENS = 2048
V0_CHUNKED_ABOVE_TOKENS = 32768
V0_CHUNK_TOKENS = 512
V0_MAX_SEQS = 256
# Memory outside PyTorch that the profile run counts, per rank ("non_torch_memory"), by how
# the ranks talk to each other; medians of the logs in docs/measurements.md ("vLLM memory
# outside PyTorch"), each figure as vLLM printed it:
# * vLLM up to 0.6.4.post1 ("Memory profiling results: ... non_torch_memory=0.35GiB", the
#   only clean log of that accounting: one RTX 3090, vllm-project/vllm#10517);
# * 0.6.5 on, one GPU: 0.16 (H100, vllm-project/vllm#12126), 0.26 (an 80 GB card,
#   xinyuwei-david/david-share), 0.08 (RTX 4090 48 GB, johnson7788/RLDecisionAgent) and 0.09 GiB
#   (A100-SXM4-80GB, datawhalechina/self-llm); median 0.125;
# * several GPUs on PCIe, where vLLM turns its custom all-reduce off ("not supported on more
#   than two PCIe-only GPUs"): 0.20, 0.20, 0.20 and 0.20 (4× RTX 2080 Ti and an RTX 3090 rig,
#   jackypanster/deploy-qwen, deploy-DeepSeek-R1-0528-Qwen3-8B, vllm#14447), 0.25 (2× RTX
#   4090, vllm#13061), 0.36 GiB (8× L40S, gnosia93/vlm-distillation); median 0.20;
# * GPUs on one NVLink/NVSwitch or Infinity Fabric, custom all-reduce on: 1.03, 1.04, 1.07 and
#   1.07 GiB on the in-node ranks of four multi-node A100 SXM4 runs (surajssd/llm-k8s), 1.39
#   (TP 4 with LoRA, QMMMS/QMMMS.github.io) and 2.10 GiB (8× A100 SXM4 40GB,
#   aws-samples/aws-ai-ml-workshop-kr); median 1.07;
# * the last pipeline stage when it sits in another node: 2.11, 2.11, 2.15, 2.24 (surajssd
#   /llm-k8s) and 2.53 GiB (DeepSeek-R1 TP8×PP2, vllm#13004); median 2.15.
NON_TORCH_V064_BYTES = int(0.35 * GIB)
NON_TORCH_SINGLE_BYTES = int(0.125 * GIB)
NON_TORCH_PCIE_BYTES = int(0.20 * GIB)
NON_TORCH_FABRIC_BYTES = int(1.07 * GIB)
NON_TORCH_REMOTE_STAGE_BYTES = int(2.15 * GIB)
V064_ACCOUNTING_UNTIL = (0, 6, 4)  # PR #10511 (0.6.5) replaced that profiling and its log
# GPUs one node holds: HGX/DGX and UBB boards carry 8; more GPUs mean more than one node
GPUS_PER_NODE = 8
ACT_BYTES = 2  # activations in the model dtype (bf16/f16)
F32_BYTES = 4  # a float32 SSM state (--mamba-ssm-cache-dtype float32)
LOGIT_BYTES = 4  # the sampler upcasts logits to f32
# V1's profile run ends with a sampler warm-up on min(max_num_seqs, batched tokens) rows of
# logits with top-k and top-p set (gpu_model_runner.py _dummy_sampler_run, 0.8.5 l.1512-1542,
# 0.11.0 l.3183-3215), only on the last pipeline rank (profile_run, 0.8.5 l.1652, 0.11.0
# l.3393), after the forward pass has freed its intermediates. Without FlashInfer (not a
# dependency of the pip wheels, requirements/cuda.txt 0.8.5-0.11.0) TopKTopPSampler takes the
# PyTorch-native path (v1/sample/ops/topk_topp_sampler.py 0.11.0 l.66-73, 138-150), whose
# peak, at ``logits_sort.scatter``, holds per logit: the model-dtype logits (2 B), their f32
# copy (4, sampler.py ``logits.to(torch.float32)``), the sorted values (4) and int64 indices
# (8), the top-k bool mask (1), the softmax/cumsum of the sorted values (4), the top-p bool
# mask (1) and the scattered result (4).
SAMPLER_PEAK_BYTES = 2 + 4 + 4 + 8 + 1 + 4 + 1 + 4
# MXFP4 MoE weights are allocated padded for the kernel (quantization/mxfp4.py create_weights,
# 0.10.1.1 l.156-186, 0.11.0 l.187-226): the Marlin kernel rounds each rank's expert
# intermediate size up to 128 and the hidden size up to 256 ("n % 256 == 0 and k % 128 == 0");
# the Triton (triton_kernels) path rounds the intermediate size to 64 only. Marlin runs below
# SM90, and on Hopper when torch is older than 2.8.0 (_should_use_marlin, 0.10.1.1 l.123-135;
# get_mxfp4_backend, 0.11.0 l.94-99): 0.10.1.x pins torch 2.7.1, 0.11.0 torch 2.8.0
# (requirements/cuda.txt), so Hopper takes Marlin before 0.10.2 (gpt-oss-120b: 2880 -> 2944
# and 3072).
MXFP4_MARLIN_INTER, MXFP4_MARLIN_HIDDEN = 128, 256
MXFP4_TRITON_INTER = 64
MXFP4_HOPPER_TRITON_FROM = (0, 10, 2)
_EXPERT_ROLES = (Role.EXP_GATE, Role.EXP_UP, Role.EXP_DOWN)
# the cache dtype: "auto" keeps the model dtype (f16, bf16, or f32 under --dtype float32), or
# fp8 (--kv-cache-dtype; config/cache.py CacheDType)
SUPPORTED_KV = (KVCacheType.F16, KVCacheType.BF16, KVCacheType.FP8, KVCacheType.F32)


def parse_version(version: str | None) -> tuple[int, int, int]:
    """``0.6.4.post1`` -> (0, 6, 4); None -> the reference version."""
    return parse_engine_version(version, "vLLM", REFERENCE_VERSION)


@frozen
class _Group:
    """A KV cache group of one spec: its layers and the blocks one request needs."""

    kind: LayerKind
    layers: int


class VLLMProfile(ProfileBase):
    name = "vllm"
    description = (
        "vLLM V1: gpu_memory_utilization × total per GPU; weights per TP rank, the activation"
        " peak of one max_num_batched_tokens pass, non-torch memory; the rest in KV blocks"
    )
    reference_version = ".".join(map(str, REFERENCE_VERSION))

    # ---- settings ---------------------------------------------------------------------------

    def version(self, req: Request) -> tuple[int, int, int]:
        return parse_version(req.engine.version)

    def v1(self, req: Request) -> bool:
        return self.version(req) >= (0, 8, 0)

    def tp_pp(self, req: Request) -> tuple[int, int]:
        return tp_pp_grid(req, "vLLM", "tensor-parallel × pipeline-parallel")

    def split(self, req: Request) -> Split:
        return Split.tensor(*self.tp_pp(req))

    def utilization(self, req: Request) -> float:
        return req.engine.gpu_memory_utilization or GPU_MEMORY_UTILIZATION

    def state_page_bytes(self, req: Request) -> int:
        """One recurrent layer's state of one request on one rank (MambaSpec.page_size_bytes,
        before padding): conv window and SSM or DeltaNet state, in the model dtype unless
        --mamba-ssm-cache-dtype says float32 (0.11.0's mamba_cache_dtype and
        mamba_ssm_cache_dtype default "auto"; it does not read a checkpoint's
        mamba_ssm_cache_dtype); the per-rank shapes are sharding.state_elems_per_rank's."""
        arch, (tp, _) = req.arch, self.tp_pp(req)
        conv, ssm = state_elems_per_rank(arch, tp)
        # --mamba-ssm-cache-dtype float32 puts a Mamba2 SSM state in 4 bytes (mamba_utils.py);
        # a gated DeltaNet keeps both states in mamba_cache_dtype (l.73-80)
        f32 = arch.mamba is not None and req.engine.mamba_ssm_cache_dtype == "float32"
        return conv * ACT_BYTES + ssm * (F32_BYTES if f32 else ACT_BYTES)

    def block_size(self, req: Request) -> int:
        if req.arch.has_state:
            # the smallest multiple of 16 tokens whose attention page holds a state page; a
            # larger --block-size stays (config.py l.367-379)
            attn = self.kv_bytes_per_token_layer(req)
            need = BLOCK_SIZE * -(-self.state_page_bytes(req) // (BLOCK_SIZE * attn))
            return max(req.engine.block_size or 0, need)
        if req.engine.block_size:
            return req.engine.block_size
        if req.arch.attention.kind is AttentionKind.MLA and self.v1(req):
            arch_name = req.system.gpu.architecture.lower()
            if "blackwell" in arch_name:
                return MLA_BLOCK_BLACKWELL
            if "hopper" in arch_name:
                return MLA_BLOCK_HOPPER
        return BLOCK_SIZE

    def batched_tokens(self, req: Request) -> int:
        if req.engine.max_num_batched_tokens:
            return req.engine.max_num_batched_tokens
        if not self.v1(req):
            if req.ctx_tokens > V0_CHUNKED_ABOVE_TOKENS:
                return V0_CHUNK_TOKENS
            return max(req.ctx_tokens, V0_MIN_BATCHED_TOKENS)
        return BATCHED_TOKENS_BIG if self._big(req) else BATCHED_TOKENS_SMALL

    def max_num_seqs(self, req: Request) -> int:
        if req.engine.max_num_seqs:
            return req.engine.max_num_seqs
        if not self.v1(req):
            return V0_MAX_SEQS
        return MAX_SEQS_BIG if self._big(req) else MAX_SEQS_SMALL

    def _big(self, req: Request) -> bool:
        gpu = req.system.gpu
        a100_exception = self.version(req) >= (0, 9, 0)
        return req.system.capacity_per_gpu_bytes >= BIG_GPU_BYTES and not (
            a100_exception and "a100" in gpu.id
        )

    def check(self, req: Request) -> None:
        self._check(req)

    def _check(self, req: Request) -> None:
        refuse_for_tp_engine(
            req,
            "vLLM",
            formats="BF16, FP8, AWQ, GPTQ, MXFP4, NVFP4",
            kv_types=SUPPORTED_KV,
            kv_allowed="f16/bf16 as 'auto', f32 as 'auto' with F32 weights, fp8",
            linear_attention=None,
        )
        if req.kv_type is KVCacheType.F32 and req.weight_format is not WeightFormat.F32:
            raise InvalidSpecError(
                "vLLM keeps an f32 KV cache only for a model run in float32 ('auto' follows"
                f" --dtype), not {req.weight_format.label} weights (allowed: --quant F32, or an"
                " f16/bf16/fp8 KV cache)"
            )
        tp, _ = self.tp_pp(req)
        check_tp(req.arch, tp, "vLLM")
        release_floor(req, "vLLM", family(req.arch.model_type).vllm_since, self.version(req))
        moe = req.arch.moe
        latent = moe is not None and moe.latent_size > 0
        if latent and req.engine.version is not None and self.version(req) < LATENT_MOE_VERSION:
            since = ".".join(map(str, LATENT_MOE_VERSION))
            raise InvalidSpecError(
                f"vLLM {req.engine.version} predates {req.arch.model_type}'s latent experts"
                f" (moe_latent_size; PR #30203, December 2025) (allowed: {since} or later)"
            )
        if req.pooling and self.version(req) < (0, 10, 1):
            raise InvalidSpecError(
                "rigfit replays vLLM's embedding runs from 0.10.1 on (--runner pooling, V1);"
                " give --engine-version 0.10.1 or later"
            )

    # ---- per rank ---------------------------------------------------------------------------

    def _stage(self, req: Request) -> tuple[range, bool, bool]:
        """The pipeline stage that bounds the KV pool: (layers, has embedding, has head).

        Each worker sizes its own blocks from its own budget and layers, then every worker
        takes the smallest count (v1/core/kv_cache_utils.py get_kv_cache_configs, 0.11.0
        l.1286-1289; unify_kv_cache_configs, 0.10.1.1 l.1121-1154)."""
        _, pp = self.tp_pp(req)
        stages = pp_layers(req.arch.num_layers, pp)
        i = min(range(pp), key=lambda k: self._stage_blocks(req, stages[k], k == 0, k == pp - 1))
        return stages[i], i == 0, i == pp - 1

    def mxfp4_padding(self, req: Request) -> tuple[int, int]:
        """(intermediate, hidden) multiples vLLM pads MXFP4 expert weights to on this GPU."""
        arch_name = req.system.gpu.architecture.lower()
        hopper_or_later = "hopper" in arch_name or "blackwell" in arch_name
        if not hopper_or_later or (
            "hopper" in arch_name and self.version(req) < MXFP4_HOPPER_TRITON_FROM
        ):
            return MXFP4_MARLIN_INTER, MXFP4_MARLIN_HIDDEN
        return MXFP4_TRITON_INTER, 1

    def stage_weight_bytes(self, req: Request, stage: range, first: bool, last: bool) -> int:
        """Weights of one rank of a stage, MXFP4 experts at their padded kernel shapes."""
        tp, _ = self.tp_pp(req)
        # pooling models delete lm_head and logits_processor (model_executor/models/adapters.py
        # 0.11.0 l.189-192) and skip "lm_head." weights (l.205-206)
        w = rank_weight_bytes(req, tp, stage, first, last, head=not req.pooling)
        fmt, moe = req.weights().format, req.arch.moe
        if moe is None or fmt not in (WeightFormat.MXFP4, WeightFormat.MXFP4_EXPERTS):
            return w
        inter, hidden = moe.expert_intermediate_size // tp, moe.expert_width(req.arch.hidden_size)
        mi, mh = self.mxfp4_padding(req)
        padded = (-(-inter // mi) * mi) * (-(-hidden // mh) * mh)
        for t in request_tensors(req):
            if t.role in _EXPERT_ROLES and t.layer is not None and t.layer in stage:
                rank = -(-t.nbytes // tp)
                w += rank * padded // (inter * hidden) - rank
        return w

    def _stage_budget(self, req: Request, stage: range, first: bool, last: bool) -> int:
        return (
            int(req.system.capacity_per_gpu_bytes * self.utilization(req))
            - self.stage_weight_bytes(req, stage, first, last)
            - self.rotary_bytes(req.arch)
            - self.activation_bytes(req, last)
            - self.non_torch_bytes(req, last)
        )

    def _stage_blocks(self, req: Request, stage: range, first: bool, last: bool) -> int:
        page = self.block_size(req) * self.kv_bytes_per_token_layer(req)
        budget = self._stage_budget(req, stage, first, last)
        return max(0, budget) // page // self._groups(req, stage)[0].layers

    def kv_bytes_per_token_layer(self, req: Request) -> int:
        return kv_bytes_per_rank_token_layer(req, self.tp_pp(req)[0])

    def rotary_bytes(self, arch: Architecture) -> int:
        """The cos/sin cache: max_position × rotary_dim in the model dtype, one per model
        (rotary_embedding.py _compute_cos_sin_cache; get_rope caches instances)."""
        a = arch.attention
        rot = a.qk_rope_head_dim if a.kind is AttentionKind.MLA else a.head_dim
        assert rot is not None
        return arch.context_length * rot * ACT_BYTES

    def activation_bytes(self, req: Request, last: bool = True) -> int:
        """Peak of the profiling pass on a rank of the last pipeline stage (``last``) or of
        another one. V0 (before 0.8): the widest layer's working set for the batched tokens in
        the model dtype plus f32 logits for up to max_num_seqs rows. V1: the larger of that
        forward pass and the sampler warm-up that follows it on the last stage (the batch's
        hidden states, still held, plus SAMPLER_PEAK_BYTES per logit)."""
        arch = req.arch
        t = self.batched_tokens(req)
        rows = min(self.max_num_seqs(req), t)
        forward = self._forward_bytes(req)
        if not self.v1(req):
            return forward + (rows * arch.vocab_size * LOGIT_BYTES if last else 0)
        if not last or req.pooling:
            # a pooling model's profile run ends in _dummy_pooler_run on the hidden states,
            # not the sampler warm-up (gpu_model_runner.py 0.11.0 l.3393-3397): last-token
            # pooling returns one row a request, negligible beside the forward pass
            return forward
        sampler = t * arch.hidden_size * ACT_BYTES + rows * arch.vocab_size * SAMPLER_PEAK_BYTES
        return max(forward, sampler)

    def _forward_bytes(self, req: Request) -> int:
        """The widest layer's working set for the batched tokens, in the model dtype."""
        return self.batched_tokens(req) * self._forward_width(req.arch, self.tp_pp(req)[0])

    @staticmethod
    def _forward_width(arch: Architecture, tp: int) -> int:
        """The widest layer's working set per batched token on one of ``tp`` ranks, in bytes
        of the model dtype (a walk over the layers, kept per architecture and ``tp``)."""
        key = ("vllm_forward_width", tp)
        cached = arch.cache.get(key)
        if isinstance(cached, int):
            return cached
        a, h = arch.attention, arch.hidden_size
        # MLA's prefill decompresses q, K and V per head; grouped-query adds the output
        attn = a.qkv_width() // tp
        if a.kind is not AttentionKind.MLA:
            attn += a.out_width() // tp
        mlp = 0
        for layer in arch.layers:
            if layer.moe and arch.moe is not None:
                m = arch.moe
                # fused_moe caches: T×topk×2I, T×topk×I and T×topk×hidden (fused_moe.py);
                # a latent MoE's experts write the latent, projected in and out beside them
                width = m.experts_per_token * (
                    3 * m.expert_intermediate_size // tp + m.expert_width(h)
                )
                width += 2 * m.latent_size
                width += 3 * m.shared_intermediate_size // tp
            else:
                width = 3 * layer.dense_intermediate_size // tp  # gate_up output + activation
            mlp = max(mlp, width)
        width = (2 * h + max(attn, mlp)) * ACT_BYTES
        arch.cache[key] = width
        return width

    def non_torch_bytes(self, req: Request, last: bool = True) -> int:
        """Memory outside PyTorch on a rank of the last pipeline stage (``last``) or of
        another one, by vLLM's accounting and the GPUs' topology (see NON_TORCH_*)."""
        n = req.system.n_devices
        if n == 1:
            if self.version(req) <= V064_ACCOUNTING_UNTIL:
                return NON_TORCH_V064_BYTES
            return NON_TORCH_SINGLE_BYTES
        if not peer_fabric(req.system.gpu):
            return NON_TORCH_PCIE_BYTES
        _, pp = self.tp_pp(req)
        if last and pp > 1 and n > GPUS_PER_NODE:
            return NON_TORCH_REMOTE_STAGE_BYTES
        return NON_TORCH_FABRIC_BYTES

    def topology(self, req: Request) -> str:
        """How the ranks talk: one GPU, PCIe, a fabric node, or several nodes."""
        n = req.system.n_devices
        if n == 1:
            return "single GPU"
        if not peer_fabric(req.system.gpu):
            return "PCIe"
        return "fabric, several nodes" if n > GPUS_PER_NODE else "fabric (NVLink/xGMI)"

    def _groups(self, req: Request, stage: range) -> tuple[_Group, ...]:
        """The KV cache groups of a stage: layers of one spec (full attention; sliding or
        chunked; recurrent state, counted as MAMBA) are cut into groups of the smallest spec's
        count (kv_cache_utils.py _get_kv_cache_groups_uniform_page_size; a short last group is
        padded to full size). Falcon-H1's layers hold both a KV and a state spec. Kept per
        architecture and stage."""
        key = ("vllm_groups", stage.start, stage.stop)
        cached = req.arch.cache.get(key)
        if isinstance(cached, tuple):
            return cached
        groups = self._count_groups([req.arch.layers[i] for i in stage])
        req.arch.cache[key] = groups
        return groups

    @staticmethod
    def _count_groups(layers: list[LayerSpec]) -> tuple[_Group, ...]:
        counts: dict[LayerKind, int] = {}
        for x in layers:
            if x.kind in (LayerKind.FULL, LayerKind.HYBRID):
                counts[LayerKind.FULL] = counts.get(LayerKind.FULL, 0) + 1
            elif x.kind.windowed:
                # a model's windowed layers are all sliding (Gemma, gpt-oss) or all chunked
                counts[x.kind] = counts.get(x.kind, 0) + 1
            if x.kind.keeps_state:
                counts[LayerKind.MAMBA] = counts.get(LayerKind.MAMBA, 0) + 1
        if len(counts) == 1:
            ((kind, n),) = counts.items()
            return (_Group(kind, n),)
        size = min(counts.values())
        return tuple(
            _Group(kind, size) for kind, n in counts.items() for _ in range(math.ceil(n / size))
        )

    def _blocks_per_request(self, req: Request, g: _Group, ctx: int) -> int:
        if g.kind is LayerKind.MAMBA:
            return 1  # MambaSpec block_size = max_model_len: one block per request
        block = self.block_size(req)
        if g.kind is LayerKind.SLIDING:
            window = next(x.window for x in req.arch.layers if x.window)
            span = min(window - 1 + self.batched_tokens(req), ctx)
            return math.ceil(span / block) + 1  # SlidingWindowSpec.max_memory_usage_bytes
        if g.kind is LayerKind.CHUNKED:
            # ChunkedLocalAttentionSpec.max_memory_usage_bytes (v1/kv_cache_interface.py):
            # the current chunk plus the tokens one step schedules, at most the context
            chunk = next(x.window for x in req.arch.layers if x.window)
            return math.ceil(min(chunk + self.batched_tokens(req), ctx) / block)
        return math.ceil(ctx / block)

    # ---- the profile --------------------------------------------------------------------------

    def terms(self, req: Request) -> list[Term]:
        self._check(req)
        tp, pp = self.tp_pp(req)
        stage, first, last = self._stage(req)
        n = req.system.n_devices
        w = self.stage_weight_bytes(req, stage, first, last)
        rot = self.rotary_bytes(req.arch)
        act = self.activation_bytes(req, last)
        other = self.non_torch_bytes(req, last)
        budget = self._stage_budget(req, stage, first, last)
        pool = max(0, budget)
        return [
            Term(
                TermKind.WEIGHTS,
                f"weights ({req.weights().format.label})",
                w * n,
                w,
                "per rank: 1/TP of each sharded matrix and of the padded vocabulary, norms,"
                " routers and replicated K/V heads whole; the layers of its pipeline stage",
                {"tp": tp, "pp": pp, "stage_layers": len(stage)},
            ),
            Term(
                TermKind.ROTARY,
                "rotary cos/sin cache",
                rot * n,
                rot,
                "max_position_embeddings × rotary dim × 2 B (counted in 'Model loading took')",
                {"positions": req.arch.context_length},
            ),
            Term(
                TermKind.ACTIVATIONS,
                "activation peak (profiling run)",
                act * n,
                act,
                "max_num_batched_tokens × (2 × hidden + widest layer's intermediates / TP) × 2 B"
                " + min(max_num_seqs, tokens) × vocab × 4 B of logits (V0); V1: the larger of"
                " that pass and the last stage's sampler warm-up (28 B per logit)",
                {
                    "max_num_batched_tokens": self.batched_tokens(req),
                    "max_num_seqs": self.max_num_seqs(req),
                },
            ),
            Term(
                TermKind.NON_TORCH,
                "memory outside PyTorch",
                other * n,
                other,
                "NCCL, cuBLAS and the custom all-reduce workspace: medians of vLLM's logs for"
                " one GPU, PCIe peers, an NVLink/Infinity Fabric node, or a stage in another"
                " node",
                {"per_gpu_bytes": other, "topology": self.topology(req)},
            ),
            Term(
                TermKind.KV_CACHE,
                "KV cache pool (taken at start-up)",
                pool * n,
                pool,
                "gpu_memory_utilization × total − weights − activation peak − non-torch memory,"
                " cut into blocks of block_size tokens; the request's sequences take"
                " seqs × blocks per request of it",
                {
                    "gpu_memory_utilization": self.utilization(req),
                    "block_size": self.block_size(req),
                    "bytes_per_token_layer": self.kv_bytes_per_token_layer(req),
                    "layers_per_rank": len(stage),
                    "request_bytes": self._kv_demand(req, stage),
                },
            ),
        ]

    def _kv_demand(self, req: Request, stage: range) -> int:
        page = self.block_size(req) * self.kv_bytes_per_token_layer(req)
        return req.seqs * sum(
            self._blocks_per_request(req, g, req.ctx_tokens) * page * g.layers
            for g in self._groups(req, stage)
        )

    def kv_pool(self, req: Request) -> KVPool | None:
        self._check(req)
        stage, first, last = self._stage(req)
        pool = self.pool_for_budget(req, self._stage_budget(req, stage, first, last))
        return replace(pool, demand_per_gpu_bytes=self._kv_demand(req, stage))

    def pool_for_budget(self, req: Request, budget: int) -> KVPool:
        """The blocks, tokens and concurrency a KV budget of ``budget`` bytes per GPU gives
        (kv_cache_utils.py: the page size, the layer groups, the block count): the KV layout
        alone, which the measurement set checks against logged budgets and token counts."""
        self._check(req)
        stage, _, _ = self._stage(req)
        block = self.block_size(req)
        per_tok_layer = self.kv_bytes_per_token_layer(req)
        page = block * per_tok_layer
        groups = self._groups(req, stage)
        group_layers = groups[0].layers
        blocks = max(0, budget) // page // group_layers
        # "GPU KV cache size": the blocks split evenly over the groups, min(block, max_model_len)
        # tokens each (kv_cache_utils.py l.1076-1087)
        tokens = blocks // len(groups) * min(block, req.ctx_tokens)
        need = sum(self._blocks_per_request(req, g, req.ctx_tokens) for g in groups)
        if self.version(req) >= (0, 10, 0):
            conc = blocks / need if need else 0.0
        else:  # 0.8-0.9 and V0: tokens / max_model_len
            conc = blocks * block / req.ctx_tokens
        return KVPool(
            budget_per_gpu_bytes=budget,
            bytes_per_token_per_gpu=per_tok_layer
            * sum(req.arch.kv_flags[stage.start : stage.stop]),
            tokens=tokens,
            block_tokens=block,
            blocks=blocks,
            max_concurrency=round(conc, 2),
            formula="blocks = available // (block_size × bytes per token per layer) // layers;"
            " tokens = blocks × block_size",
        )

    def default_ctx(self, req: Request) -> tuple[int, str]:
        n = req.arch.context_length
        return n, (
            f"vLLM's --max-model-len defaults to the model's maximum, {n:,} tokens"
            " (max_position_embeddings; config/model.py _get_and_verify_max_len)"
        )

    def notes(self, req: Request) -> tuple[str, ...]:
        u = self.utilization(req)
        out = [
            f"vLLM takes {u:g} of each GPU's memory up front, whatever the request needs;"
            " CUDA graphs come out of the rest (--enforce-eager skips them)",
        ]
        floor = release_floor(
            req, "vLLM", family(req.arch.model_type).vllm_since, self.version(req)
        )
        if floor:
            out.append(floor)
        moe = req.arch.moe
        if moe is not None and moe.latent_size and req.engine.version is None:
            out.append(
                f"{req.arch.model_type}'s latent experts load in vLLM from PR #30203 (December"
                " 2025), after 0.11.0, whose memory rules rigfit replays; the latent projections"
                " and routers are priced whole on every rank, as vLLM's nemotron_h.py"
                " builds them (ReplicatedLinear)"
            )
        if req.arch.has_state:
            dtype = (
                "the SSM state in float32"
                if req.engine.mamba_ssm_cache_dtype == "float32"
                else "the state in the model dtype, vLLM 0.11's default (Nemotron's cards ask for"
                " --mamba-ssm-cache-dtype float32, which doubles the SSM part)"
            )
            out.append(
                f"recurrent layers keep their state in one {self.block_size(req)}-token"
                f" attention page per request and group (vLLM raises the block size to fit it);"
                f" {dtype}"
            )
        emulated = emulation_note(req.weights().format, req.system.gpu)
        if emulated:
            out.append(emulated)
        if req.arch.attention.num_kv_heads < self.tp_pp(req)[0]:
            out.append(
                f"tensor parallel {self.tp_pp(req)[0]} exceeds the"
                f" {req.arch.attention.num_kv_heads} KV heads: every rank keeps one KV head,"
                " so the KV cache is replicated"
            )
        return tuple(out)

    def command(self, req: Request, model_ref: str) -> str:
        tp, pp = self.tp_pp(req)
        parts = ["vllm", "serve", model_ref]
        if family(req.arch.model_type).remote_code:
            parts.append("--trust-remote-code")
        if req.pooling:
            # runner auto picks pooling only when the repo has sentence-transformers'
            # modules.json (config/model.py 0.11.0 l.745-767); naming it is never wrong
            parts += ["--runner", "pooling"]
        if tp > 1:
            parts += ["--tensor-parallel-size", str(tp)]
        if pp > 1:
            parts += ["--pipeline-parallel-size", str(pp)]
        if req.quantized_at_load() and req.weight_format in LOAD_QUANTIZED:
            # dynamic FP8: per-tensor scales computed as the 16-bit weights load (fp8.py)
            parts += ["--quantization", "fp8"]
        if req.quantized_at_load() and req.weight_format in LOAD_CAST:
            parts += ["--dtype", LOAD_CAST[req.weight_format]]  # cast as the weights load
        parts += ["--max-model-len", str(req.ctx_tokens)]
        parts += ["--gpu-memory-utilization", f"{self.utilization(req):g}"]
        if req.engine.max_num_seqs:
            parts += ["--max-num-seqs", str(req.engine.max_num_seqs)]
        if req.kv_type is KVCacheType.FP8:
            parts += ["--kv-cache-dtype", "fp8"]
        if req.engine.max_num_batched_tokens:
            parts += ["--max-num-batched-tokens", str(req.engine.max_num_batched_tokens)]
        if req.engine.block_size:
            parts += ["--block-size", str(req.engine.block_size)]
        if req.engine.enforce_eager:
            parts.append("--enforce-eager")
        if req.engine.mamba_ssm_cache_dtype:
            parts += ["--mamba-ssm-cache-dtype", req.engine.mamba_ssm_cache_dtype]
        return " ".join(parts)


VLLM = VLLMProfile()
