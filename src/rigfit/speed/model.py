"""The speed model: time per decode step, per prefill, per served request, from the same plan
the memory estimate makes.

A plan divides the model into :class:`Part` objects: what one device (or one tensor-parallel
rank, or the CPU and its RAM) holds and runs of one token's work. The engine says how
(:meth:`rigfit.estimate.memory.EngineProfile.split`). Each part's time is a roofline: the bytes
it reads over its bandwidth against the FLOPs it does over its tensor throughput, each scaled by
an efficiency fitted on measured runs (:mod:`rigfit.speed.calibration`); parts that run one
after the other add up, tensor-parallel ranks work at once and all-reduce after each
row-parallel output (twice a layer: attention and MLP).

Decode step of ``B`` sequences at context ``c``, per part:
``bytes = dense weights + routed experts touched + B × KV of c tokens (its layers' share)``,
where a layer's ``E`` experts with ``k`` per token are touched ``E·(1 − (1 − k/E)^B)`` at a
time (each token picks ``k`` of ``E``; the chance an expert is picked by none of ``B`` tokens is
``(1 − k/E)^B``); ``FLOPs = B × (2 × active parameters + attention over c tokens)``;
``time = max(bytes / (bandwidth × e_bw), FLOPs / (throughput × e_c))`` + per-layer overhead.

Prefill of ``P`` tokens in chunks of the engine's batch: the same per chunk, with every chunk
reading the weights once and attention FLOPs growing with the tokens before it (``P²/2`` in
all); without flash attention the score matrix is written and read too. Where llama.cpp
pipelines a layer split (``Split.pipeline_copies``), each chunk after the first adds the larger
of the slowest device's share and a whole pass over the copies in flight.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property

from rigfit.arch import Architecture, AttentionKind, LayerKind, Role
from rigfit.catalog.schema import GPURecord, Segment, Vendor
from rigfit.engines.checks import cuda_capability
from rigfit.errors import MissingFigureError
from rigfit.estimate.memory import EngineProfile, Request
from rigfit.estimate.split import Split, SplitKind
from rigfit.estimate.weights import ROLE_KIND, Kind, PlacedTensor
from rigfit.frozen import frozen
from rigfit.hardware import peer_fabric
from rigfit.quant import FP8_FORMATS, Family, WeightFormat
from rigfit.speed.calibration import Constants
from rigfit.speed.ram import DEFAULT_RAM, RamBandwidth
from rigfit.units import GB, GIB

__all__ = [
    "ComputePath",
    "Part",
    "SpeedModel",
    "compute_path",
    "pcie_bytes_per_s",
]

# llama.cpp runs a matrix product whose weights sit in host RAM on the GPU once the batch
# has at least 32 tokens, copying the weights over PCIe (ggml-cuda.cu
# ggml_backend_cuda_device_offload_op: min_batch_size = 32, against get_op_batch_size: ne[1]
# of a MUL_MAT, ne[2] of a MUL_MAT_ID, the batch's tokens); below that the CPU runs it. A
# decode step of 32 or more sequences crosses it too.
OP_OFFLOAD_MIN_BATCH = 32
# The prompt batch each engine computes at once when the user sets none: llama.cpp n_ubatch
# 512 (common.h); vLLM V1 max_num_batched_tokens 8192 for `vllm serve` (vllm/engine/
# arg_utils.py, 0.10: default_max_num_batched_tokens[UsageContext.OPENAI_API_SERVER] = 8192
# on GPUs of 70 GiB or more, 2048 below); SGLang chunked_prefill_size 8192 (server_args.py,
# 0.4.x: 8192 on H100/H200-class memory, 2048 below 35 GB, 4096 below 60 GB); MLX
# prefill_step_size 2048 (mlx_lm/generate.py); transformers one forward pass of the prompt.
LLAMACPP_UBATCH = 512
# Hopper's CUDA compute capability ×10 (H100, H200, H800: llama.cpp's prompt products there take
# a fitted fraction of the class's compute share, SpeedModel.hopper)
HOPPER_CAPABILITY = 90
MLX_PREFILL_STEP = 2048
# Bytes of one activation element crossing GPUs in a tensor-parallel all-reduce (bf16/fp16).
ALLREDUCE_ELEM_BYTES = 2
# A recurrent (linear-attention) state is read and written each step in the model dtype
# (vLLM's mamba_ssm_cache_dtype "auto" = the model dtype, bf16 for these checkpoints).
STATE_ELEM_BYTES = 2
# Without flash attention the KQ scores (f32) are written and read back once per layer.
SCORE_BYTES = 4
# PCIe x16, per direction: 8, 16, 32 GT/s for generations 3, 4, 5 with 128b/130b encoding
# (PCI-SIG base specifications 3.0-5.0): 15.75, 31.5, 63.0 GB/s.
PCIE_X16_BYTES_PER_S = {3: 15.75e9, 4: 31.5e9, 5: 63.0e9}
_PCIE = re.compile(r"pcie\s*(?:gen\s*)?(\d)(?:\.0)?", re.I)


# GPU formats whose decode kernels unpack packed low-bit blocks (AWQ/GPTQ through Marlin or
# their own kernels, bitsandbytes, FP4 blocks); FP8 and INT8 read one byte per weight plainly.
QUANTIZED_KERNEL_FORMATS = frozenset(
    {
        WeightFormat.AWQ,
        WeightFormat.W4A16,
        WeightFormat.GPTQ_INT4,
        WeightFormat.GPTQ_INT8,
        WeightFormat.BNB_NF4,
        WeightFormat.BNB_NF4_DQ,
        WeightFormat.BNB_FP4,
        WeightFormat.BNB_INT8,
        WeightFormat.MXFP4,
        WeightFormat.NVFP4,
        WeightFormat.MXFP4_EXPERTS,
    }
)


@frozen
class ComputePath:
    figure: str  # the catalog field: bf16_dense_tflops, int8_dense_tops, ...
    flops_per_s: float | None  # None: the datasheet does not give it
    why: str


_TFLOPS = 1e12
# GeForce tensor cores: FP16 with FP16 accumulate runs at twice FP16 with FP32 accumulate
# (NVIDIA's Ampere GA102 and Ada whitepapers, the two rows of each card's table)
GEFORCE_FP16_ACCUMULATE_SPEEDUP = 2.0


def _geforce(gpu: GPURecord) -> bool:
    return gpu.vendor is Vendor.NVIDIA and gpu.segment is Segment.CONSUMER


def compute_path(gpu: GPURecord, fmt: WeightFormat, engine: str) -> ComputePath:
    """Which tensor throughput the format's matrix products run at on ``gpu``.

    llama.cpp's quantized GGUF types run as int8 products (MMQ: activations quantized to
    q8_1, int8 tensor cores; ggml-cuda/mmq.cuh); F16/BF16 GGUF as 16-bit products. vLLM and
    SGLang run FP8 and INT8 (W8A8) on their own tensor cores where the GPU has them, else
    weight-only through Marlin at 16-bit; AWQ, GPTQ and bitsandbytes dequantize to 16-bit;
    NVFP4 and MXFP4 use FP4 tensor cores on Blackwell, else 16-bit.
    """

    def pick(field: str, why: str) -> ComputePath:
        v = getattr(gpu, field, None)
        return ComputePath(field, None if v is None else float(v) * _TFLOPS, why)

    sixteen = "bf16_dense_tflops" if gpu.bf16_dense_tflops else "fp16_dense_tflops"
    if fmt.family is Family.GGUF and fmt not in (
        WeightFormat.F16,
        WeightFormat.BF16,
        WeightFormat.F32,
    ):
        # no int8 figure: the datasheet gives none (or Apple, none at all); not guessed
        return pick("int8_dense_tops", "quantized GGUF products run in int8 (MMQ)")
    if fmt in FP8_FORMATS:
        if gpu.fp8_dense_tflops is not None:
            return pick("fp8_dense_tflops", "FP8 weights and activations on FP8 tensor cores")
        return pick(sixteen, "FP8 weight-only (Marlin): products at 16-bit")
    if fmt is WeightFormat.INT8:
        return pick("int8_dense_tops", "INT8 W8A8 on int8 tensor cores")
    if fmt in (WeightFormat.NVFP4, WeightFormat.MXFP4, WeightFormat.MXFP4_EXPERTS):
        if gpu.fp4_dense_tflops is not None:
            return pick("fp4_dense_tflops", "FP4 tensor cores")
        return pick(sixteen, "4-bit weights dequantized: products at 16-bit")
    if fmt is WeightFormat.F16:
        path = pick("fp16_dense_tflops", "16-bit products")
        if engine in ("llama.cpp", "ollama") and _geforce(gpu) and path.flops_per_s:
            # llama.cpp multiplies F16 matrices with cuBLAS at FP16 accumulation
            # (ggml-cuda.cu, CUBLAS_COMPUTE_16F), which GeForce runs at twice its FP32-
            # accumulate rate, the catalog's figure (Ada whitepaper, RTX 4090: 330.3 against
            # 165.2 dense TFLOPS; GA102 whitepaper, RTX 3090: 142 against 71)
            return ComputePath(
                "fp16_dense_tflops",
                path.flops_per_s * GEFORCE_FP16_ACCUMULATE_SPEEDUP,
                "F16 products with FP16 accumulation (twice GeForce's FP32-accumulate rate)",
            )
        return path
    return pick(sixteen, "16-bit products")


def pcie_bytes_per_s(gpu: GPURecord) -> tuple[float, str]:
    """One direction of the card's PCIe x16 link, from the catalog's interconnect text."""
    m = _PCIE.search(gpu.interconnect)
    gen = int(m.group(1)) if m else 4
    gen = min(max(gen, 3), 5)
    bw = PCIE_X16_BYTES_PER_S[gen]
    said = f"PCIe {gen}.0 x16 ({bw / GB:g} GB/s a direction)"
    return bw, said if m else said + ", assumed: the catalog does not name the generation"


@frozen
class Part:
    """What one device, tensor-parallel rank group or the host runs of one token's work."""

    label: str
    gpu: GPURecord | None  # None: the CPU and system RAM
    ranks: int  # devices doing this part at once (tensor parallel); bytes are per rank
    dense_bytes: float  # weights read every step, per rank
    expert_bytes: float  # routed expert weights held, per rank
    layer_share: float  # share of the attention layers (their KV and attention FLOPs)
    flop_share: float  # share of the matrix-product FLOPs
    layers: int  # repeating layers this part runs (for the per-layer overhead)


def _layer_groups(arch: Architecture) -> tuple[int, tuple[tuple[int, int], ...], int]:
    """(full-attention layers, ((window, layers), ...), recurrent-state layers)."""
    hit = arch.cache.get("speed layer groups")
    if isinstance(hit, tuple):
        return hit
    out = _count_groups(arch)
    arch.cache["speed layer groups"] = out
    return out


def _count_groups(arch: Architecture) -> tuple[int, tuple[tuple[int, int], ...], int]:
    windows: dict[int, int] = {}
    for x in arch.layers:
        if x.kind.windowed:
            assert x.window is not None
            windows[x.window] = windows.get(x.window, 0) + 1
    return (
        # Falcon-H1's hybrid layers attend over the whole context next to their Mamba mixer
        arch.count_layers(LayerKind.FULL) + arch.count_layers(LayerKind.HYBRID),
        tuple(sorted(windows.items())),
        arch.state_layers,
    )


def _attended(a: int, b: int, w: int | None) -> float:
    """Σ over positions t in (a, b] of the keys a query at t attends: t, or w when capped."""
    if b <= a:
        return 0.0
    if w is None or b <= w:
        return (a + 1 + b) * (b - a) / 2
    if a >= w:
        return float(w * (b - a))
    return (a + 1 + w) * (w - a) / 2 + w * (b - w)


class SpeedModel:
    """The parts of one plan, and the time of its decode steps and prefills."""

    def __init__(
        self,
        req: Request,
        profile: EngineProfile,
        ram: RamBandwidth | None = None,
    ) -> None:
        self.req = req
        self.profile = profile
        self.engine = profile.name
        self.kernels = profile.kernels(req)  # the calibration's engine part
        self.arch = req.arch
        self.split = profile.split(req)
        self.ram = ram or DEFAULT_RAM
        self._paths: dict[str, ComputePath] = {}
        for gpu in req.system.devices:
            if gpu.bandwidth_gb_s is None:
                raise MissingFigureError(
                    f"speed not estimated: {gpu.name} has no memory bandwidth (give"
                    " bandwidth=...GB/s in its spec)"
                )

    # ---- the model's per-token figures ----------------------------------------------------

    @cached_property
    def _moe(self) -> tuple[int, int] | None:
        m = self.arch.moe
        return None if m is None else (m.num_experts, m.experts_per_token)

    def experts_touched(self, tokens: int) -> float:
        """Share of a layer's routed experts that ``tokens`` tokens touch:
        ``1 − (1 − k/E)^tokens``."""
        if self._moe is None:
            return 0.0
        e, k = self._moe
        return 1.0 - (1.0 - k / e) ** max(tokens, 1)

    @cached_property
    def matmul_params(self) -> int:
        """Parameters in one token's matrix products: the active ones, less the token
        embedding (a row gather) unless the head is tied to it."""
        arch = self.arch
        hit = arch.cache.get("speed matmul params")
        if isinstance(hit, int):
            return hit
        n = self._matmul_params()
        arch.cache["speed matmul params"] = n
        return n

    def _matmul_params(self) -> int:
        arch = self.arch
        embd = sum(t.numel for t in arch.tensor_list if t.role is Role.TOKEN_EMBD)
        # Gemma 4's per-layer input table is a row gather, like the embedding
        ple = sum(t.numel for t in arch.tensor_list if t.role is Role.PER_LAYER_EMBD)
        untied = 0 if arch.tie_word_embeddings else embd
        return arch.params_active - arch.tower_params - ple - untied

    @cached_property
    def _attn_dims(self) -> tuple[int, int, int]:
        """(heads, q·k width, v width) of one attention layer as decode computes it: MLA
        attends in the latent (kv_lora_rank + rope against kv_lora_rank, absorbed)."""
        a = self.arch.attention
        if a.kind is AttentionKind.MLA:
            assert a.kv_lora_rank is not None
            assert a.qk_rope_head_dim is not None
            return a.num_heads, a.kv_lora_rank + a.qk_rope_head_dim, a.kv_lora_rank
        return a.num_heads, a.head_dim, a.head_dim

    def attention_flops(self, a: int, b: int) -> float:
        """FLOPs of attention for the tokens at positions (a, b] over all layers: 2 FLOPs per
        multiply-add in q·k and in the weighted sum of v, per head. Layers of their own
        geometry (Gemma 4's full layers, of global_head_dim) count at their own head size."""
        heads, qk, v = self._attn_dims
        full, windows, _ = _layer_groups(self.arch)
        keys = full * _attended(a, b, None) + sum(n * _attended(a, b, w) for w, n in windows)
        flops = 2.0 * heads * (qk + v) * keys
        if self.arch.mixed_attention:
            for x in self.arch.layers:
                if x.attention is not None:  # its own head size instead of the model's
                    w = x.window if x.kind.windowed else None
                    extra = x.attention.num_heads * 2 * x.attention.head_dim - heads * (qk + v)
                    flops += 2.0 * extra * _attended(a, b, w)
        return flops

    def kv_bytes(self, ctx: int) -> float:
        """KV bytes one sequence at ``ctx`` tokens reads per step (all layers), plus the
        recurrent state read and written."""
        arch = self.arch
        state = 2 * arch.state_bytes(STATE_ELEM_BYTES)
        return arch.kv_read_bytes(ctx, self.req.kv_type) + state

    # ---- the parts ------------------------------------------------------------------------

    @cached_property
    def parts(self) -> tuple[Part, ...]:
        tensors = _read_tensors(self.req, self.engine)
        devices = tuple(g.id for g in self.req.system.devices)
        key = ("speed parts", id(tensors), self.split, self.engine, devices)
        hit = self.arch.cache.get(key)
        if isinstance(hit, tuple) and hit[0] is tensors:
            return hit[1]  # type: ignore[no-any-return]
        parts = _parts(self.req, self.split, self._moe, self.engine)
        self.arch.cache[key] = (tensors, parts)
        return parts

    @cached_property
    def kv_rank_factor(self) -> float:
        """Share of a layer's KV one tensor-parallel rank reads (MLA's latent: all of it)."""
        tp = self.split.tp
        a = self.arch.attention
        if tp == 1:
            return 1.0
        return sum(a.kv_row(tp=tp)) / sum(a.kv_row())

    @cached_property
    def quantized(self) -> bool:
        """Whether the weights are block-quantized (their kernels unpack as they read)."""
        fmt = self.req.weights().format
        if self.engine == "mlx":
            return self.req.engine.mlx_bits is not None
        return fmt in QUANTIZED_KERNEL_FORMATS or (
            fmt.family is Family.GGUF
            and fmt not in (WeightFormat.F16, WeightFormat.BF16, WeightFormat.F32)
        )

    @cached_property
    def block_products(self) -> bool:
        """Whether prompt products run on quantized blocks (llama.cpp's MMQ on GGUF k- and
        legacy quants), whose share of the tensor peak differs from dense 16-bit GEMMs; GPU
        formats (AWQ, GPTQ, FP4) dequantize to 16-bit tiles and run as dense GEMMs."""
        return self.quantized and self.engine in ("llama.cpp", "ollama")

    def hopper(self, gpu: GPURecord) -> bool:
        """Whether llama.cpp's CUDA kernels run this plan's prompt products on a Hopper GPU,
        whose datasheet tensor figures they reach a smaller share of than on Ampere, Ada or the
        RTX Blackwell cards (docs/speed.md, "The compute path"). Where from is not settled:
        MMQ issues the warp-level mma.sync, not the warpgroup wgmma Hopper's figures count
        (ggml-cuda/mma.cuh; PTX ISA, sm_90a), but cuBLAS's F16 products, which do issue wgmma,
        fall as short on the same H100 PCIe (a 350 W card, whose clocks under tensor load
        may be the rest); so the fraction is fitted on the rows, not derived."""
        return (
            self.engine in ("llama.cpp", "ollama")
            and self.kernels == "llama.cpp"
            and cuda_capability(gpu) == HOPPER_CAPABILITY
        )

    def compute_share(self, c: Constants, gpu: GPURecord) -> float:
        """The share of ``gpu``'s tensor figure this plan's products reach."""
        return c.compute(self.block_products, self.hopper(gpu))

    def path(self, gpu: GPURecord) -> ComputePath:
        hit = self._paths.get(gpu.id)
        if hit is None:
            hit = self._paths[gpu.id] = compute_path(gpu, self.req.weights().format, self.engine)
        return hit

    def missing_compute(self) -> tuple[str, ...]:
        """What is missing for prefill: one line per GPU part whose compute path has no
        published throughput (empty when every part has one)."""
        return tuple(
            f"{p.gpu.name} has no published {self.path(p.gpu).figure.replace('_', ' ')}"
            for p in self.parts
            if p.gpu is not None and self.path(p.gpu).flops_per_s is None
        )

    def link_bytes_per_s(self) -> float:
        """All-reduce bandwidth between tensor-parallel ranks, one direction: the switched
        fabric (half its bidirectional catalog figure), a two-card bridge, else PCIe."""
        gpu = self.req.system.gpu
        nvlink = "nvlink" in gpu.interconnect.lower() and gpu.interconnect_gb_s is not None
        if nvlink and (peer_fabric(gpu) or self.split.tp == 2):
            assert gpu.interconnect_gb_s is not None
            return gpu.interconnect_gb_s * GB / 2
        if peer_fabric(gpu) and gpu.interconnect_gb_s is not None:
            return gpu.interconnect_gb_s * GB / 2
        return pcie_bytes_per_s(gpu)[0]

    # ---- times ----------------------------------------------------------------------------

    def _part_time(
        self,
        p: Part,
        c: Constants,
        host_eff: float,
        *,
        bytes_read: float,
        flops: float,
        tokens: int,
        explain: bool = False,
    ) -> tuple[float, float, str]:
        """(memory time, compute time, how) of one part's share of a pass; ``how`` is empty
        unless ``explain``."""
        if p.gpu is None:
            if tokens >= OP_OFFLOAD_MIN_BATCH and self.engine in ("llama.cpp", "ollama"):
                # the GPU runs it: the weights cross PCIe, the products run on device 0
                gpu0 = self.req.system.devices[0]
                copy = p.dense_bytes + p.expert_bytes
                path = self.path(gpu0)
                comp = 0.0
                if path.flops_per_s is not None:
                    comp = flops / (path.flops_per_s * self.compute_share(c, gpu0))
                pcie, said = pcie_bytes_per_s(gpu0)
                how = f"{copy / GB:.2f} GB copied over {said} to GPU 0" if explain else ""
                return copy / pcie, comp, how
            bw = self.ram.bytes_per_s * host_eff
            how = ""
            if explain:
                ram = self.ram.bytes_per_s / GB
                how = f"{bytes_read / GB:.3f} GB at {host_eff:.2f} × {ram:g} GB/s"
            return bytes_read / bw, 0.0, how
        eff = c.bandwidth(self.quantized)
        peak = p.gpu.bandwidth_gb_s or 0.0  # every device has one: checked in __init__
        mem = bytes_read / (peak * GB * eff)
        how = f"{bytes_read / GB:.3f} GB at {eff:.2f} × {peak:g} GB/s" if explain else ""
        path = self.path(p.gpu)
        if path.flops_per_s is None:
            return mem, 0.0, how
        ce = self.compute_share(c, p.gpu)
        comp = flops / (path.flops_per_s * ce)
        if explain:
            how += f"; {flops / 1e12:.3g} TFLOP at {ce:.3f} × {path.flops_per_s / 1e12:g} TFLOPS"
        return mem, comp, how

    def _pass(
        self,
        tokens: int,
        seqs: int,
        ctx_after: float,
        attn_flops: float,
        extra: float,
        c: Constants,
        host_eff: float,
        allreduce_s: float,
        why: list[str] | None = None,
        record: list[tuple[str, float]] | None = None,
        stages: list[float] | None = None,
    ) -> float:
        """One forward pass over ``tokens`` new tokens of ``seqs`` sequences, with
        ``ctx_after`` tokens of KV each read, ``attn_flops`` of attention in all; ``why``
        collects the arithmetic line by line, ``record`` (what limits, seconds) per term,
        ``stages`` each part's time with its layers' overhead."""
        kv = seqs * self.kv_bytes(int(ctx_after)) * self.kv_rank_factor
        touched = self.experts_touched(tokens)
        mm = 2.0 * self.matmul_params * tokens
        t = 0.0
        for p in self.parts:
            read = p.dense_bytes + p.expert_bytes * touched + (kv + extra) * p.layer_share
            flops = (mm * p.flop_share + attn_flops * p.layer_share) / p.ranks
            mem, comp, how = self._part_time(
                p, c, host_eff, bytes_read=read, flops=flops, tokens=tokens, explain=why is not None
            )
            t += max(mem, comp)
            if stages is not None:
                stages.append(max(mem, comp) + c.layer_overhead_s * p.layers)
            if record is not None:
                where = "system RAM" if p.gpu is None else p.label
                limit = f"{where} bandwidth" if mem >= comp else f"{where} compute"
                record.append((limit, max(mem, comp)))
            if why is not None:
                bound = "memory" if mem >= comp else "compute"
                why.append(
                    f"{p.label}: {how}: {max(mem, comp) * 1e3:.3f} ms ({bound}-bound)"
                    + (f"; experts touched {touched:.1%}" if p.expert_bytes else "")
                )
        over = c.layer_overhead_s * self.arch.num_layers
        t += over
        if record is not None:
            record.append(("per-layer overhead (launches, sampling)", over))
        if why is not None:
            why.append(
                f"overhead: {self.arch.num_layers} layers × {c.layer_overhead_s * 1e6:.1f} µs"
                f" = {over * 1e3:.3f} ms"
            )
        if self.split.kind is SplitKind.TENSOR and self.split.tp > 1:
            tp = self.split.tp
            size = tokens * self.arch.hidden_size * ALLREDUCE_ELEM_BYTES
            one = allreduce_s + 2 * (tp - 1) / tp * size / self.link_bytes_per_s()
            n_ar = self.arch.row_parallel_outputs
            t += n_ar * one
            if record is not None:
                record.append(("tensor-parallel all-reduces", n_ar * one))
            if why is not None:
                why.append(
                    f"all-reduce: {n_ar} row-parallel outputs × ({allreduce_s * 1e6:.0f} µs"
                    f" + {size / 1e3:.1f} kB over {self.link_bytes_per_s() / GB:g} GB/s)"
                    f" = {n_ar * one * 1e3:.3f} ms"
                )
        if why is not None:
            why.append(f"step: {t * 1e3:.3f} ms")
        return t

    def decode_step_s(
        self,
        seqs: int,
        ctx: int,
        c: Constants,
        host_eff: float,
        allreduce_s: float,
        why: list[str] | None = None,
        record: list[tuple[str, float]] | None = None,
    ) -> float:
        """One decode step: each of ``seqs`` sequences adds a token at ``ctx`` tokens."""
        attn = seqs * self.attention_flops(ctx - 1, ctx)
        return self._pass(seqs, seqs, ctx, attn, 0.0, c, host_eff, allreduce_s, why, record)

    def prefill_chunk(self) -> int:
        s = self.req.engine
        if self.engine in ("llama.cpp", "ollama"):
            return s.n_ubatch or LLAMACPP_UBATCH
        if self.engine == "vllm":
            big = self.req.system.gpu.memory_bytes >= 70 * GIB
            return s.max_num_batched_tokens or (8192 if big else 2048)
        if self.engine == "sglang":
            mem_gb = self.req.system.gpu.memory_bytes / GB
            return 2048 if mem_gb < 35 else 4096 if mem_gb < 60 else 8192
        if self.engine == "mlx":
            return MLX_PREFILL_STEP
        return 1 << 30  # one pass

    def flash_attention(self) -> bool:
        return self.profile.flash_attention(self.req)

    def prefill_s(
        self,
        prompt: int,
        c: Constants,
        host_eff: float,
        allreduce_s: float,
        start: int = 0,
        why: list[str] | None = None,
    ) -> float:
        """Time to process ``prompt`` tokens after ``start`` cached ones, chunk by chunk;
        ``why`` gets the first chunk's arithmetic and the total."""
        chunk = self.prefill_chunk()
        heads = self._attn_dims[0]
        fa = self.flash_attention()
        copies = self.split.pipeline_copies
        by_copies = by_stage = 0  # later chunks bound by the copies in flight, or by one GPU
        t, done = 0.0, start
        end = start + prompt
        while done < end:
            n = min(chunk, end - done)
            attn = self.attention_flops(done, done + n)
            extra = 0.0
            if not fa:
                full, windows, _ = _layer_groups(self.arch)
                layers = full + sum(k for _, k in windows)
                extra = 2.0 * SCORE_BYTES * heads * n * (done + n) * layers
            first = why if why is not None and done == start else None
            if first is not None:
                first.append(f"chunk of {n:,} tokens (the engine's batch: {chunk:,}):")
            pipelined = copies > 1 and done > start
            stages: list[float] | None = [] if pipelined else None
            step = self._pass(
                n, 1, done + n, attn, extra, c, host_eff, allreduce_s, first, stages=stages
            )
            if stages:
                # pipelined: a later micro-batch follows the one before it through the devices,
                # so it adds the slowest device's share, or a whole pass over the copies in
                # flight when the devices outnumber them
                if max(stages) >= step / copies:
                    by_stage += 1
                else:
                    by_copies += 1
                step = max(max(stages), step / copies)
            t += step
            done += n
        if why is not None:
            chunks = -(-prompt // chunk)
            gpus = sum(1 for p in self.parts if p.gpu is not None and p.layers)
            if (by_stage or by_copies) and gpus > 1:
                adds = (
                    "the slowest GPU's share of it"
                    if by_stage >= by_copies
                    else f"a pass over the {copies} micro-batches in flight"
                )
                why.append(
                    f"pipelined over {gpus} GPUs (llama.cpp's pipeline parallelism, up to"
                    f" {copies} micro-batches in flight): each chunk after the first adds {adds}"
                )
            why.append(
                f"{chunks:,} chunk(s), attention growing with the tokens before each:"
                f" {t * 1e3:.1f} ms for {prompt:,} tokens"
            )
        return t


def _read_tensors(req: Request, engine: str) -> tuple[PlacedTensor, ...]:
    """The tensors the engine reads, at the bytes it stores them: mlx-lm's own quantization
    when --q-bits is given, else the request's weights."""
    bits = req.engine.mlx_bits
    if engine != "mlx" or bits is None:
        return req.weights().tensors
    from rigfit.engines.mlx import mlx_tensor_bytes

    key = ("mlx read tensors", bits)
    hit = req.arch.cache.get(key)
    if isinstance(hit, tuple):
        return hit
    out = []
    for t in req.arch.tensors():
        kind = Kind.EXPERT if t.role.is_expert else ROLE_KIND.get(t.role, Kind.LAYER)
        if t.layer is None and kind is Kind.LAYER:
            kind = Kind.OUTPUT
        nbytes = mlx_tensor_bytes(t, bits, req.arch.model_type)
        out.append(PlacedTensor(t.name, kind, t.layer, nbytes, t.role))
    req.arch.cache[key] = tuple(out)
    return tuple(out)


# the tensors of a KV-shared layer a decode step does not read (GGUF names, their last part
# before ".weight")
_UNREAD_WHEN_SHARED = frozenset({"attn_k", "attn_v", "attn_k_norm"})


def _parts(
    req: Request, split: Split, moe: tuple[int, int] | None, engine: str
) -> tuple[Part, ...]:
    """Sum the weights each part reads, from the request's tensors and the engine's split."""
    arch = req.arch
    # Gemma 4 E's KV-shared layers keep their checkpoint's K/V projections (priced as
    # weights) but never run them: a step reads the source layer's cache instead
    shared = frozenset(arch.kv_shared_layers)
    tensors = tuple(
        t
        for t in _read_tensors(req, engine)
        if not (t.layer in shared and t.name.rsplit(".", 2)[-2] in _UNREAD_WHEN_SHARED)
    )
    n_layers = arch.num_layers
    tied = arch.tie_word_embeddings
    e_frac = 0.0 if moe is None else moe[1] / moe[0]

    def active(dense: float, expert: float) -> float:
        return dense + expert * e_frac

    if split.kind is SplitKind.TENSOR:
        from rigfit.engines.sharding import pp_layers

        stages = pp_layers(n_layers, split.pp)
        stage_of = [0] * n_layers
        for si, r in enumerate(stages):
            for i in r:
                stage_of[i] = si
        dense = [0.0] * split.pp
        expert = [0.0] * split.pp
        for t in tensors:
            where = _where_tensor(
                t, tied, lambda i: stage_of[i] if i < n_layers else None, split.pp - 1
            )
            if where is None:
                continue
            if t.kind is Kind.EXPERT:
                expert[where] += t.nbytes
            else:
                dense[where] += t.nbytes
        total_active = sum(active(d, e) for d, e in zip(dense, expert, strict=True)) or 1.0
        gpu = req.system.gpu
        tp = split.tp
        return tuple(
            Part(
                f"stage {si} ({tp} × {gpu.id})" if split.pp > 1 else f"{tp} × {gpu.id}",
                gpu,
                tp,
                dense[si] / tp,
                expert[si] / tp,
                len(stages[si]) / n_layers,
                active(dense[si], expert[si]) / total_active,
                len(stages[si]),
            )
            for si in range(split.pp)
        )

    devices = req.system.devices
    n_dev = len(devices)
    # index n_dev: the host
    dense = [0.0] * (n_dev + 1)
    expert = [0.0] * (n_dev + 1)
    layer_count = [0] * (n_dev + 1)
    for d in split.layer_device:
        layer_count[n_dev if d is None else d] += 1

    def layer_home(i: int) -> int | None:
        if i >= len(split.layer_device):
            return None
        d = split.layer_device[i]
        return n_dev if d is None else d

    out_home = n_dev if split.output_device is None else split.output_device
    for t in tensors:
        where = _where_tensor(t, tied, layer_home, out_home)
        if where is None:
            continue
        if t.kind is Kind.EXPERT:
            assert t.layer is not None
            if t.layer in split.host_expert_layers:
                where = n_dev
            expert[where] += t.nbytes
        else:
            dense[where] += t.nbytes
    total_active = sum(active(d, e) for d, e in zip(dense, expert, strict=True)) or 1.0
    parts = []
    for i in range(n_dev + 1):
        if not (dense[i] or expert[i]):
            continue
        device = devices[i] if i < n_dev else None
        label = f"GPU {i} ({device.id})" if device is not None else "CPU (system RAM)"
        parts.append(
            Part(
                label,
                device,
                1,
                dense[i],
                expert[i],
                layer_count[i] / n_layers,
                active(dense[i], expert[i]) / total_active,
                layer_count[i],
            )
        )
    return tuple(parts)


def _where_tensor(
    t: PlacedTensor, tied: bool, layer_home: Callable[[int], int | None], out_home: int
) -> int | None:
    """The part a tensor is read in per token (None: not read per token)."""
    if t.kind is Kind.VISION:
        return None
    if t.kind is Kind.EMBEDDING:
        # a row gather, unless it is also the head (token_embd, not Gemma 4's per-layer table)
        head = tied and t.role is not Role.PER_LAYER_EMBD
        return out_home if head else None
    if t.kind is Kind.OUTPUT:
        return out_home
    if t.layer is None:
        return out_home
    return layer_home(t.layer)
