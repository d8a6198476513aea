"""SGLang: weights and a token pool inside a static fraction of each GPU, the rest for activations.

Reference: SGLang 0.5.3, from its source (python/sglang/srt/server_args.py
``_handle_gpu_memory_settings``, model_executor/model_runner.py ``profile_max_num_token`` and
``init_memory_pool``, configs/model_config.py ``get_num_kv_heads``, mem_cache/memory_pool.py
``ReqToTokenPool``, managers/tp_worker.py). Per GPU rank:

* the free memory after the CUDA context and NCCL start, before the weights ("Load weight begin.
  avail mem"), is the base ``free0`` (the minimum over ranks);
* the weights of the rank are loaded; what is then free minus ``free0 × (1 -
  mem_fraction_static)`` becomes the KV pool, ``max_total_num_tokens = rest // cell_size``
  ("KV Cache is allocated. #tokens");
* a cell is one token's K and V over the rank's layers: ``max(1, kv_heads // tp) × head_dim
  × layers × 2 × dtype``, or for MLA models the latent ``(kv_lora_rank + rope) × layers ×
  dtype``, whole on every rank;
* the req_to_token table (int32, ``max_num_reqs × (context_len + 4)``) and then the
  activations and CUDA graphs come out of the remaining ``free0 × (1 - mem_fraction_static)``.

SGLang fills the pool whatever the request needs. A request fits when its sequences × context
tokens fit in that pool, i.e. when weights + the request's KV cells stay under
``mem_fraction_static × free0``; SGLang refuses to start when the pool would be empty.
"""

from __future__ import annotations

from rigfit.arch import AttentionKind, LayerKind
from rigfit.engines.checks import (
    LOAD_CAST,
    LOAD_QUANTIZED,
    parse_engine_version,
    refuse_for_tp_engine,
    release_floor,
)
from rigfit.engines.sharding import (
    check_tp,
    kv_bytes_per_rank_token_layer,
    rank_weight_bytes,
    state_elems_per_rank,
    tp_pp_grid,
)
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import KVPool, ProfileBase, Request, Term
from rigfit.estimate.split import Split
from rigfit.estimate.terms import TermKind
from rigfit.families import family
from rigfit.hardware import driver_capacity_bytes
from rigfit.quant import KVCacheType
from rigfit.units import GIB, MIB

__all__ = ["SGLANG", "SGLangProfile", "default_mem_fraction_static", "pp_stages"]

REFERENCE_VERSION = (0, 5, 3)

# ServerArgs._handle_gpu_memory_settings (server_args.py, 0.5.3 l.566-623): by the GPU's
# memory in MiB (nvidia-smi memory.total), (upper bound, chunked_prefill_size,
# cuda_graph_max_bs with tp < 4, with tp >= 4); the last row is everything larger.
GPU_TIERS_MIB = (
    (20 * 1024, 2048, 8, 8),  # "T4, 4080"
    (35 * 1024, 2048, 16, 80),  # "A10, 4090, 5090"
    (60 * 1024, 4096, 32, 160),  # "A100 (40GB), L40"
    (90 * 1024, 8192, 256, 512),  # "H100, A100"
    (160 * 1024, 8192, 256, 512),  # "H20, H200"
)
LARGEST_TIER = (16384, 512, 512)  # "B200, MI300" (l.617-623)
TP_BIG_GRAPHS = 4  # cuda_graph_max_bs switches to the larger value from tp_size 4 (l.583)
# reserved_mem (MiB) = 512 + max(chunked_prefill_size, 2048) × 1.5 + cuda_graph_max_bs × 2
#                      + tp × pp / 8 × 1024; at least 10 GiB above 60 GiB (server_args.py l.637-662)
RESERVED_BASE_MIB = 512
RESERVED_PREFILL_MIN_TOKENS = 2048
RESERVED_MIB_PER_PREFILL_TOKEN = 1.5
RESERVED_MIB_PER_GRAPH_BS = 2
RESERVED_MIB_PER_8_RANKS = 1024
RESERVED_FLOOR_ABOVE_MIB = 60 * 1024
RESERVED_FLOOR_MIB = 10 * 1024
# adjust_mem_fraction_for_vlm (server_args.py 0.5.3 l.3105-3141): × 0.95 × clamp(1 - 0.1 ×
# (vit_layers × vit_hidden² / (24 × 1024²) - 1), 0.8, 1.05), applied to the default only.
VLM_BASE_FACTOR = 0.95
VLM_SENSITIVITY = 0.1
VLM_BASELINE_COMPLEXITY = 24 * 1024**2  # ViT-L/14: 24 layers of hidden 1024
VLM_FACTOR_MIN, VLM_FACTOR_MAX = 0.8, 1.05
# Memory in use before the weights load (the CUDA context, torch and NCCL): an H100 80GB
# (81559 MiB = 79.65 GiB) logs "Load weight begin. avail mem=78.81 GB" at tp_size=1 (SGLang
# docs, OpenAI-compatible completions page, server log of 2025-01-23); an 8-rank node of
# 143771 MiB (140.40 GiB, H200) logs "avail mem=137.29 GB" on most ranks (sgl-project/sglang
# PR #11716, log of 2025-10-16), NCCL buffers included. The same log's Llama-3.1-8B figures
# (after weights 63.72 GB, mem_fraction_static 0.88, 444500 tokens) reproduce the pool formula.
CONTEXT_SINGLE_BYTES = int(0.84 * GIB)
CONTEXT_TP_BYTES = int(3.11 * GIB)
# init_memory_pool (model_runner.py 0.5.3 l.1431-1439): max_num_reqs = min(max(int(tokens /
# context_len × 512), 2048), 4096); ReqToTokenPool holds int32[max_num_reqs, context_len + 4]
# (extra_max_context_len = 4, l.1487; memory_pool.py l.80).
REQS_PER_CONTEXT = 512
MIN_REQS, MAX_REQS = 2048, 4096
EXTRA_CONTEXT_TOKENS = 4
REQ_TO_TOKEN_BYTES = 4
PAGE_SIZE = 1  # ServerArgs._handle_page_size: page_size defaults to 1 (l.937-939)
# --kv-cache-dtype: "auto" (the model dtype, 16-bit), fp8_e4m3 or fp8_e5m2 (model_runner.py
# l.1396-1424), one byte per element.
SUPPORTED_KV = (KVCacheType.F16, KVCacheType.BF16, KVCacheType.FP8)
# Hybrid models 0.5.3 gives a Mamba pool (model_runner.py is_hybrid_gdn l.1300-1306:
# Qwen3NextForCausalLM, FalconH1ForCausalLM): max_mamba_cache_size request slots, default
# max_running_requests or 512 (l.357-374), reserved before the KV pool is sized (l.1289-1296);
# each slot holds every recurrent layer's conv window in bf16 and its SSM or DeltaNet state in
# --mamba-ssm-dtype, float32 by default (server_args.py l.345; configs/qwen3_next.py l.316-326)
HYBRID_STATE_TYPES = frozenset({"qwen3_next", "falcon_h1"})
MAMBA_CACHE_SLOTS = 512
STATE_CONV_BYTES = 2
STATE_SSM_BYTES = 4


def parse_version(version: str | None) -> tuple[int, int, int]:
    """``0.5.3.post1`` -> (0, 5, 3); None -> the reference version."""
    return parse_engine_version(version, "SGLang", REFERENCE_VERSION)


def default_mem_fraction_static(gpu_mem_mib: int, tp: int, pp: int) -> float:
    """SGLang 0.5.3's default --mem-fraction-static for a GPU of ``gpu_mem_mib`` MiB.

    >>> default_mem_fraction_static(81559, 1, 1)  # H100 80GB
    0.835
    >>> default_mem_fraction_static(24564, 1, 1)  # RTX 4090
    0.848
    """
    prefill, graph_bs, _ = LARGEST_TIER
    for bound, tier_prefill, bs_small, bs_big in GPU_TIERS_MIB:
        if gpu_mem_mib < bound:
            prefill = tier_prefill
            graph_bs = bs_small if tp < TP_BIG_GRAPHS else bs_big
            break
    reserved = float(RESERVED_BASE_MIB)
    reserved += max(prefill, RESERVED_PREFILL_MIN_TOKENS) * RESERVED_MIB_PER_PREFILL_TOKEN
    reserved += graph_bs * RESERVED_MIB_PER_GRAPH_BS
    reserved += tp * pp / 8 * RESERVED_MIB_PER_8_RANKS
    if gpu_mem_mib > RESERVED_FLOOR_ABOVE_MIB:
        reserved = max(reserved, RESERVED_FLOOR_MIB)
    return round((gpu_mem_mib - reserved) / gpu_mem_mib, 3)


def pp_stages(n_layers: int, pp: int) -> list[range]:
    """Layers of each pipeline stage: n // pp each, the last stage also the remainder
    (sglang/srt/distributed/utils.py get_pp_indices, 0.5.3 l.63-93)."""
    if pp > n_layers:
        raise InvalidSpecError(f"--pp-size {pp} exceeds the model's {n_layers} layers")
    per = n_layers // pp
    return [range(i * per, n_layers if i == pp - 1 else (i + 1) * per) for i in range(pp)]


class SGLangProfile(ProfileBase):
    name = "sglang"
    description = (
        "SGLang: weights and the KV token pool in mem_fraction_static × the free memory before"
        " weights, per TP rank; req_to_token table, activations and CUDA graphs in the rest"
    )
    reference_version = ".".join(map(str, REFERENCE_VERSION))

    # ---- settings ---------------------------------------------------------------------------

    def tp_pp(self, req: Request) -> tuple[int, int]:
        return tp_pp_grid(req, "SGLang", "--tp × --pp-size")

    def split(self, req: Request) -> Split:
        return Split.tensor(*self.tp_pp(req))

    def gpu_mem_mib(self, req: Request) -> int:
        """nvidia-smi's memory.total in MiB, the minimum over GPUs (utils/common.py)."""
        return self.driver_total(req) // MIB

    def driver_total(self, req: Request) -> int:
        """The driver's total per GPU: the figure SGLang's defaults and the logged free
        memory of CONTEXT_*_BYTES are measured against (not the runtime's smaller total)."""
        return min(driver_capacity_bytes(g) for g in req.system.devices)

    def mem_fraction_static(self, req: Request) -> float:
        if req.engine.mem_fraction_static is not None:
            return req.engine.mem_fraction_static
        tp, pp = self.tp_pp(req)
        mfs = default_mem_fraction_static(self.gpu_mem_mib(req), tp, pp)
        v = req.arch.vision
        if v is not None:
            # getattr(vision_config, "num_hidden_layers", 24): towers that name their depth
            # otherwise (Qwen3-VL's "depth") count as 24 layers there
            layers = v.num_hidden_layers if v.num_hidden_layers is not None else 24
            ratio = layers * v.hidden_size**2 / VLM_BASELINE_COMPLEXITY
            factor = min(VLM_FACTOR_MAX, max(VLM_FACTOR_MIN, 1.0 - VLM_SENSITIVITY * (ratio - 1)))
            mfs *= VLM_BASE_FACTOR * factor
        return mfs

    def context_bytes(self, req: Request) -> int:
        return CONTEXT_SINGLE_BYTES if req.system.n_devices == 1 else CONTEXT_TP_BYTES

    def capacities(self, req: Request) -> tuple[int, ...]:
        return tuple(driver_capacity_bytes(g) for g in req.system.devices)

    def free_before_weights(self, req: Request) -> int:
        return self.driver_total(req) - self.context_bytes(req)

    def check(self, req: Request) -> None:
        self._check(req)

    def _check(self, req: Request) -> None:
        if any(x.kind is LayerKind.CHUNKED for x in req.arch.layers):
            raise UnsupportedArchitectureError(
                "rigfit does not yet replay SGLang's hybrid SWA pool for Llama 4's chunked"
                " layers (a share of the full pool, swa_full_tokens_ratio); use --engine vllm"
                " or llama.cpp"
            )
        if parse_version(req.engine.version)[:2] != REFERENCE_VERSION[:2]:
            raise InvalidSpecError(
                f"rigfit replays SGLang {REFERENCE_VERSION[0]}.{REFERENCE_VERSION[1]}.x memory"
                f" accounting, not {req.engine.version} (allowed: 0.5.0 to 0.5.x)"
            )
        release_floor(
            req,
            "SGLang",
            family(req.arch.model_type).sglang_since,
            parse_version(req.engine.version),
        )
        refuse_for_tp_engine(
            req,
            "SGLang",
            formats="BF16, FP8, AWQ, GPTQ, MXFP4",
            kv_types=SUPPORTED_KV,
            kv_allowed="f16/bf16 as 'auto', fp8 as fp8_e4m3",
            linear_attention=None,
        )
        if req.arch.has_state and req.arch.model_type not in HYBRID_STATE_TYPES:
            raise UnsupportedArchitectureError(
                f"SGLang {REFERENCE_VERSION[0]}.{REFERENCE_VERSION[1]} keeps a Mamba state pool"
                f" for Qwen3-Next and Falcon-H1 only, not {req.arch.model_type}; use --engine vllm"
                " or llama.cpp"
            )
        tp, _ = self.tp_pp(req)
        check_tp(req.arch, tp, "SGLang")

    # ---- per rank ---------------------------------------------------------------------------

    def cell_bytes_per_layer(self, req: Request) -> int:
        """One token's KV in one layer of one rank."""
        return kv_bytes_per_rank_token_layer(req, self.tp_pp(req)[0])

    def state_pool_bytes(self, req: Request, stage: range) -> int:
        """The Mamba pool of a hybrid model on one rank of ``stage``: MAMBA_CACHE_SLOTS
        requests × the stage's recurrent layers × (conv in bf16 + state in float32)."""
        if not req.arch.has_state:
            return 0
        conv, ssm = state_elems_per_rank(req.arch, self.tp_pp(req)[0])
        layers = sum(req.arch.state_flags[stage.start : stage.stop])
        return MAMBA_CACHE_SLOTS * layers * (conv * STATE_CONV_BYTES + ssm * STATE_SSM_BYTES)

    def _stage_figures(self, req: Request) -> list[tuple[range, int, int, int]]:
        """Per pipeline stage: (layers, weight bytes per rank, cell bytes, pool tokens)."""
        tp, pp = self.tp_pp(req)
        stages = pp_stages(req.arch.num_layers, pp)
        free0 = self.free_before_weights(req)
        headroom = int(free0 * (1 - self.mem_fraction_static(req)))
        per_layer = self.cell_bytes_per_layer(req)
        out = []
        for i, stage in enumerate(stages):
            w = rank_weight_bytes(req, tp, stage, i == 0, i == pp - 1)
            # every attention layer holds the full pool: 0.5.3 disables the hybrid SWA pool
            # for Gemma 2/3 and gpt-oss (server_args.py l.771-796) and models no other window;
            # a hybrid's cell counts its attention layers only (model_runner.py l.1270-1287);
            # any other model's pool has a buffer for every layer of the stage
            # (num_effective_layers = end_layer - start_layer), used or not: DeciLM's blocks
            # without attention keep theirs empty
            kv_layers = (
                sum(req.arch.kv_flags[stage.start : stage.stop])
                if req.arch.has_state
                else len(stage)
            )
            cell = per_layer * kv_layers
            rest = free0 - w - headroom - self.state_pool_bytes(req, stage)
            tokens = max(0, rest) // cell // PAGE_SIZE * PAGE_SIZE
            out.append((stage, w, cell, tokens))
        return out

    def pool_tokens(self, req: Request) -> int:
        """max_total_num_tokens: the minimum over pipeline stages (init_memory_pool)."""
        return min(t for _, _, _, t in self._stage_figures(req))

    def max_num_reqs(self, req: Request) -> int:
        tokens = self.pool_tokens(req)
        reqs = min(max(int(tokens / req.ctx_tokens * REQS_PER_CONTEXT), MIN_REQS), MAX_REQS)
        # a hybrid runs no more requests than its Mamba pool has slots (l.1441-1442)
        return min(reqs, MAMBA_CACHE_SLOTS) if req.arch.has_state else reqs

    def req_to_token_bytes(self, req: Request) -> int:
        return self.max_num_reqs(req) * (req.ctx_tokens + EXTRA_CONTEXT_TOKENS) * REQ_TO_TOKEN_BYTES

    # ---- the profile ------------------------------------------------------------------------

    def terms(self, req: Request) -> list[Term]:
        self._check(req)
        tp, pp = self.tp_pp(req)
        n = req.system.n_devices
        figs = self._stage_figures(req)
        mfs = self.mem_fraction_static(req)
        free0 = self.free_before_weights(req)
        ctx_b = self.context_bytes(req)
        headroom = int(free0 * (1 - mfs))
        r2t = self.req_to_token_bytes(req)
        rest_head = max(0, headroom - r2t)
        demand_tokens = req.seqs * req.ctx_tokens
        # device d is rank d of the flattened (pp, tp) grid: stage d // tp
        w_dev = tuple(figs[d // tp][1] for d in range(n))
        pool_tokens = self.pool_tokens(req)
        # the pool SGLang allocates at start-up: the same token count on every rank
        kv_dev = tuple(pool_tokens * figs[d // tp][2] for d in range(n))
        state_dev = tuple(self.state_pool_bytes(req, figs[d // tp][0]) for d in range(n))
        return [
            Term(
                TermKind.CONTEXT,
                "CUDA context, torch and NCCL (before weights)",
                ctx_b * n,
                ctx_b,
                "total − free memory logged at 'Load weight begin' (TP 1 / TP > 1)",
                {"per_gpu_bytes": ctx_b},
            ),
            Term(
                TermKind.WEIGHTS,
                f"weights ({req.weights().format.label})",
                sum(w_dev),
                max(w_dev),
                "per rank: 1/TP of each sharded matrix and of the padded vocabulary, norms,"
                " routers and replicated K/V heads whole; the layers of its pipeline stage",
                {"tp": tp, "pp": pp, "stage_layers": len(figs[0][0])},
                per_device=w_dev,
            ),
            Term(
                TermKind.KV_CACHE,
                f"KV cache pool ({pool_tokens:,} tokens, taken at start-up)",
                sum(kv_dev),
                max(kv_dev),
                "max_total_num_tokens × cell; cell = max(1, kv_heads // TP) × head_dim × layers"
                " × 2 × dtype (MLA: (kv_lora_rank + rope) × layers × dtype, whole on every"
                " rank); the request's sequences take seqs × context cells of it",
                {
                    "cell_bytes": figs[0][2],
                    "cell_bytes_per_layer": self.cell_bytes_per_layer(req),
                    "pool_tokens": pool_tokens,
                    "request_tokens": demand_tokens,
                },
                per_device=kv_dev,
            ),
            *(
                [
                    Term(
                        TermKind.STATE,
                        f"Mamba state pool ({MAMBA_CACHE_SLOTS} request slots)",
                        sum(state_dev),
                        max(state_dev),
                        "max_mamba_cache_size × recurrent layers × (conv window in bf16 + SSM or"
                        " DeltaNet state in float32), reserved before the KV pool",
                        {"slots": MAMBA_CACHE_SLOTS, "state_layers": req.arch.state_layers},
                        per_device=state_dev,
                    )
                ]
                if any(state_dev)
                else []
            ),
            Term(
                TermKind.REQ_TO_TOKEN,
                "req_to_token table (int32)",
                r2t * n,
                r2t,
                "max_num_reqs × (context_len + 4) × 4 B; max_num_reqs = min(max(pool tokens /"
                " context_len × 512, 2048), 4096)",
                {"max_num_reqs": self.max_num_reqs(req), "context_len": req.ctx_tokens},
            ),
            Term(
                TermKind.ACTIVATIONS,
                "activations and CUDA graphs (rest of 1 − mem_fraction_static)",
                rest_head * n,
                rest_head,
                "free memory before weights × (1 − mem_fraction_static) − req_to_token table",
                {"mem_fraction_static": round(mfs, 4), "free_before_weights_bytes": free0},
            ),
        ]

    def kv_pool(self, req: Request) -> KVPool | None:
        self._check(req)
        figs = self._stage_figures(req)
        stage, w, cell, tokens = min(figs, key=lambda f: f[3])
        free0 = self.free_before_weights(req)
        budget = (
            free0
            - w
            - int(free0 * (1 - self.mem_fraction_static(req)))
            - self.state_pool_bytes(req, stage)
        )
        return KVPool(
            budget_per_gpu_bytes=budget,
            bytes_per_token_per_gpu=cell,
            tokens=tokens,
            block_tokens=PAGE_SIZE,
            max_concurrency=round(tokens / req.ctx_tokens, 2),
            formula="max_total_num_tokens = (free after weights − free before weights ×"
            " (1 − mem_fraction_static)) // cell_size",
            demand_per_gpu_bytes=req.seqs * req.ctx_tokens * cell,
        )

    def default_ctx(self, req: Request) -> tuple[int, str]:
        n = req.arch.context_length
        return n, (
            f"SGLang's --context-length defaults to the model's maximum, {n:,} tokens"
            " (model_config.py get_context_length)"
        )

    def notes(self, req: Request) -> tuple[str, ...]:
        self._check(req)
        mfs = self.mem_fraction_static(req)
        tokens = self.pool_tokens(req)
        how = (
            "given"
            if req.engine.mem_fraction_static is not None
            else f"SGLang's default for {self.gpu_mem_mib(req):,} MiB GPUs"
        )
        out = [
            f"mem_fraction_static {mfs:.4g} ({how}); SGLang fills the pool whatever the request:"
            f" max_total_num_tokens ≈ {tokens:,}",
        ]
        if tokens <= 0:
            out.append(
                "the weights leave no room for a pool: SGLang stops with 'Not enough memory."
                " Please try to increase --mem-fraction-static'"
            )
        running = min(tokens // 2, self.max_num_reqs(req))
        if req.seqs > running:
            out.append(
                f"SGLang runs at most {running:,} requests at once here (max_running_requests);"
                " the others queue"
            )
        tp, _ = self.tp_pp(req)
        a = req.arch.attention
        if a.kind is not AttentionKind.MLA and a.num_kv_heads < tp:
            out.append(
                f"--tp {tp} exceeds the {a.num_kv_heads} KV heads: every rank keeps one KV"
                " head, so the KV cache is replicated"
            )
        if any(layer.window for layer in req.arch.layers):
            out.append(
                "SGLang 0.5.3 keeps full-length KV for sliding-window layers (its hybrid SWA"
                " pool is disabled for Gemma 2/3 and gpt-oss)"
            )
        floor = release_floor(
            req,
            "SGLang",
            family(req.arch.model_type).sglang_since,
            parse_version(req.engine.version),
        )
        if floor:
            out.append(floor)
        return tuple(out)

    def command(self, req: Request, model_ref: str) -> str:
        tp, pp = self.tp_pp(req)
        parts = ["python", "-m", "sglang.launch_server", "--model-path", model_ref]
        if family(req.arch.model_type).remote_code:
            parts.append("--trust-remote-code")
        if req.pooling:
            # --is-embedding keeps the KV pool, chunked prefill and an untied lm_head: the
            # memory is priced as for generation (model_runner.py 0.5.3 l.432, l.1257-1298)
            parts.append("--is-embedding")
        parts += ["--tp", str(tp)]
        if pp > 1:
            parts += ["--pp-size", str(pp)]
        if req.quantized_at_load() and req.weight_format in LOAD_QUANTIZED:
            parts += ["--quantization", "fp8"]  # SGLang's online FP8 (quantization/fp8.py)
        if req.quantized_at_load() and req.weight_format in LOAD_CAST:
            parts += ["--dtype", LOAD_CAST[req.weight_format]]  # cast as the weights load
        parts += ["--context-length", str(req.ctx_tokens)]
        parts += ["--mem-fraction-static", f"{self.mem_fraction_static(req):g}"]
        if req.kv_type is KVCacheType.FP8:
            parts += ["--kv-cache-dtype", "fp8_e4m3"]
        return " ".join(parts)


SGLANG = SGLangProfile()
