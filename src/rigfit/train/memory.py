"""Peak GPU memory of one fine-tuning step, term by term, per GPU.

The terms, each with its formula:

- **weights**: the model at its training precision (BF16; NF4 with double-quantized scales
  for QLoRA, exactly as :mod:`rigfit.quant` lays out bitsandbytes' NF4), sharded by ZeRO-3/FSDP;
- **master weights**: fp32 copies where the framework keeps them (DeepSpeed in every 16-bit
  mode: 4 B of the ZeRO paper's 16 B per parameter), sharded from ZeRO-1 on;
- **adapters**: LoRA's A and B, ``r × (in + out)`` per targeted matrix, counted from the real
  shapes, in fp32 (PEFT upcasts adapters of a 16-bit base, ``autocast_adapter_dtype=True``);
- **gradients**: one per trainable parameter, in its dtype (fp32 when master weights are kept,
  which DeepSpeed reduces in 16 bits: 2 B), sharded from ZeRO-2 on;
- **optimizer states**: :class:`~rigfit.train.setup.Optimizer` bytes, sharded from ZeRO-1 on,
  on the host with ``--offload``;
- **activations**: the tensors autograd saves for the backward pass, counted for a Llama-style
  decoder layer (see :func:`layer_activation_bytes`), all layers without gradient
  checkpointing; with it, each layer's input plus one layer recomputed;
- **logits and loss**: the fp32 log-softmax of the logits and two fp32 gradients at the start
  of the backward pass (12 B per token per vocabulary entry); ~0 with a fused/chunked
  cross-entropy;
- **working buffers**: QLoRA's dequantized weight (the largest matrix in bf16), ZeRO-3's
  gathered parameters (two layers: the current one and the prefetched next);
- **runtime**: the CUDA context and the caching allocator's slack, calibrated on the measured
  runs (:mod:`rigfit.train.calibration`).
"""

from __future__ import annotations

from enum import StrEnum

from rigfit.arch import TOWER_ROLES, Architecture, AttentionKind, LayerKind, Role, Tensor
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.weights import tensor_storage, weight_breakdown
from rigfit.families import FAMILIES
from rigfit.frozen import frozen
from rigfit.quant import WeightFormat
from rigfit.train.setup import LossKind, Method, Optimizer, Sharding, TrainSetup, lora_roles

__all__ = [
    "Phase",
    "TrainMemory",
    "TrainTerm",
    "layer_activation_bytes",
    "train_memory",
    "trainable",
]

BF16 = 2  # bytes of a bf16/fp16 element
FP32 = 4
# The ZeRO paper's 16 bytes per parameter for mixed-precision Adam: 2 (fp16 weights) + 2 (fp16
# gradients) + 12 (fp32 master weights, momentum, variance); Rajbhandari et al. 2020, 3.1.
ZERO_MASTER_BYTES = 4


class Phase(StrEnum):
    """When a term is held: through the whole step, at the start of the backward pass (the
    activations and the loss), or during the optimizer step (its temporaries)."""

    BOTH = "both"
    BACKWARD = "backward"
    STEP = "step"


@frozen
class TrainTerm:
    key: str  # weights, master, adapters, gradients, optimizer, step, activations, logits, buffers
    label: str
    bytes: int  # per GPU
    formula: str
    on_host: bool = False  # offloaded to host RAM (not counted against the GPU)
    phase: Phase = Phase.BOTH


@frozen
class TrainMemory:
    terms: tuple[TrainTerm, ...]
    trainable_params: int
    total_params: int

    def phase_bytes(self, phase: Phase) -> int:
        return sum(t.bytes for t in self.terms if not t.on_host and t.phase in (Phase.BOTH, phase))

    @property
    def peak_phase(self) -> Phase:
        """The larger of the backward pass's start and the optimizer step."""
        back, step = self.phase_bytes(Phase.BACKWARD), self.phase_bytes(Phase.STEP)
        return Phase.BACKWARD if back >= step else Phase.STEP

    @property
    def gpu_bytes(self) -> int:
        """What the model puts on each GPU at the peak (before the runtime's own share)."""
        return self.phase_bytes(self.peak_phase)

    @property
    def host_bytes(self) -> int:
        return sum(t.bytes for t in self.terms if t.on_host)


def _check_arch(arch: Architecture) -> None:
    """Fail closed on layers whose saved activations rigfit has not counted, and on families
    the transformers releases rigfit replays cannot load (training runs on transformers)."""
    if arch.has_state:
        raise UnsupportedArchitectureError(
            f"rigfit does not yet count the training activations of {arch.model_type}'s"
            " linear-attention and Mamba layers"
        )
    if arch.model_type == "gpt_oss":
        raise UnsupportedArchitectureError(
            "gpt-oss keeps its experts as 3-D parameters, which PEFT's LoRA and bitsandbytes'"
            " 4-bit loader skip, and transformers runs it with eager attention: rigfit does"
            " not price its training yet"
        )
    if arch.attention.kind is AttentionKind.MLA:
        raise UnsupportedArchitectureError(
            f"rigfit does not yet count the training activations of {arch.model_type}'s"
            " latent attention (MLA)"
        )
    if arch.count_layers(LayerKind.FFN_ONLY):
        raise UnsupportedArchitectureError(
            f"rigfit does not yet count the training activations of {arch.model_type}'s"
            " blocks without attention (it counts every layer's attention)"
        )
    if arch.mixed_attention:
        raise UnsupportedArchitectureError(
            f"rigfit does not yet count the training activations of {arch.model_type}'s"
            " layers of different head sizes, nor replay the transformers 5.x releases it"
            " needs"
        )
    fam = FAMILIES.get(arch.model_type)
    if fam is not None and fam.transformers_refused:
        raise UnsupportedArchitectureError(
            f"rigfit does not price training here: {fam.transformers_refused}"
        )
    if fam is not None and fam.transformers_since:
        raise UnsupportedArchitectureError(
            f"{arch.model_type} needs transformers {fam.transformers_since} or later to train, and"
            " rigfit replays the 4.x releases' accounting"
        )


def trainable(arch: Architecture, s: TrainSetup) -> tuple[list[Tensor], int, int]:
    """(the matrices that train or carry adapters, trainable parameters, Σ rows + cols);
    memoized per architecture and adapter choice."""
    key = ("train trainable", s.method, s.lora_rank, s.lora_targets, s.lora_experts)
    hit = arch.cache.get(key)
    if isinstance(hit, tuple):
        return hit
    out = _trainable(arch, s)
    arch.cache[key] = out
    return out


def _shapes(arch: Architecture) -> tuple[int, int]:
    """(parameters without the vision tower, the largest quantizable matrix); memoized per
    architecture."""
    hit = arch.cache.get("train shapes")
    if isinstance(hit, tuple):
        return hit
    tensors = arch.tensors()
    total = sum(t.numel for t in tensors if t.role not in TOWER_ROLES)
    biggest = max(t.rows * t.cols for t in tensors if t.role.quantizable)
    out = (total, biggest)
    arch.cache["train shapes"] = out
    return out


def _gathered_bytes(arch: Architecture, fmt: WeightFormat) -> int:
    """The largest unit ZeRO-3/FSDP gathers whole, at its stored size: a decoder layer, or the
    embedding or the output head (each wrapped alone); memoized per format."""
    key = ("train gathered", fmt)
    hit = arch.cache.get(key)
    if isinstance(hit, int):
        return hit
    units: dict[object, int] = {}
    for t in arch.tensors():
        unit: object = t.layer if t.layer is not None else t.role
        units[unit] = units.get(unit, 0) + tensor_storage(t, fmt, arch)[1]
    out = max(units.values())
    arch.cache[key] = out
    return out


def _trainable(arch: Architecture, s: TrainSetup) -> tuple[list[Tensor], int, int]:
    tensors = arch.tensors()
    if s.method is Method.FULL:
        vision = [t for t in tensors if t.role not in TOWER_ROLES]
        return (
            vision,
            sum(t.numel for t in vision),
            sum((t.rows + t.cols) * t.count for t in vision),
        )
    roles = lora_roles(s.lora_targets, arch, s.lora_experts)
    hit = [t for t in tensors if t.role in roles and t.rows > 1]
    smallest = min(min(t.rows, t.cols) for t in hit)
    if s.lora_rank > smallest:
        raise InvalidSpecError(
            f"--lora-rank {s.lora_rank} is above the smallest targeted matrix's dimension"
            f" ({smallest}): a rank that large is not low-rank (allowed: 1 to {smallest})"
        )
    params = sum(s.lora_rank * (t.rows + t.cols) * t.count for t in hit)
    # each adapter is two matrices, r × in and out × r
    rows_cols = sum((2 * s.lora_rank + t.rows + t.cols) * t.count for t in hit)
    return hit, params, rows_cols


def layer_activation_bytes(arch: Architecture, s: TrainSetup, adapters: frozenset[Role]) -> int:
    """Bytes autograd saves in one decoder layer for one token, bf16 autocast, counted from
    what each op of a Llama-style layer (transformers' modeling_llama) keeps for backward:

    - each RMSNorm keeps its fp32 copy of the input (4h: ``pow`` and ``mul`` save it) and, when
      its weight trains, the normalized bf16 tensor (2h);
    - the attention input (the norm's bf16 output, 2h) when q/k/v's weights or adapters train;
    - flash attention keeps q, k, v and its output (2 × (q + 2 kv + q)) and an fp32
      log-sum-exp per head; eager attention also the fp32 softmax and its bf16 copy (6 heads × s
      per token);
    - the gated MLP keeps the gate projection (SiLU's input), SiLU's output and the up
      projection (the product's inputs), 3 × 2i, its input (2h) when gate/up train, and the
      product (2i) when down trains; routed experts count ``experts_per_token`` of them, plus
      the shared expert and the router's fp32 logits.

    Everything is bytes per token of one sequence; the callers multiply by tokens."""
    a = arch.attention
    h = arch.hidden_size
    q = a.num_heads * a.head_dim
    kv = a.num_kv_heads * a.head_dim
    full = s.method is Method.FULL
    attn_train = full or bool(adapters & {Role.ATTN_Q, Role.ATTN_K, Role.ATTN_V})
    out = 0
    norm = FP32 * h + (BF16 * h if full else 0)
    out += arch.norms_per_layer * norm  # Gemma 2/3 norm before and after each block: four
    if a.qk_norm:  # Qwen3's per-head RMSNorm on q and k: the same fp32 copies
        out += (FP32 + (BF16 if full else 0)) * (q + kv)
    if attn_train:
        out += BF16 * h
    out += BF16 * (q + 2 * kv + q) + FP32 * a.num_heads
    if not s.flash_attn:
        out += (FP32 + BF16) * a.num_heads * s.seq_len
    mlp_in = full or bool(adapters & {Role.FFN_GATE, Role.FFN_UP, Role.EXP_GATE, Role.EXP_UP})
    down = full or bool(adapters & {Role.FFN_DOWN, Role.EXP_DOWN})
    per_i = 3 * BF16 + (BF16 if down else 0)
    moe = arch.moe
    layers_moe = sum(1 for lay in arch.layers if lay.moe)
    dense = sum(lay.dense_intermediate_size for lay in arch.layers if not lay.moe)
    width = 0.0
    share_moe = layers_moe / arch.num_layers
    if moe is not None and layers_moe:
        width_moe = moe.experts_per_token * moe.expert_intermediate_size
        width_moe += moe.shared_intermediate_size
        width += width_moe * share_moe
        # the router's fp32 logits, and each routed token's gathered input and weighted
        # output (2 × 2 B × hidden per expert it goes to)
        out += int((FP32 * moe.num_experts + 2 * BF16 * h * moe.experts_per_token) * share_moe)
    if arch.num_layers - layers_moe:
        width += dense / arch.num_layers
    if not arch.gated_ffn:
        per_i = BF16 + (BF16 if down else 0)  # act input, and its output for down
    out += int(per_i * width)
    if mlp_in:
        out += BF16 * h
    if s.method.adapters:
        # PEFT casts each adapted module's input to the adapter's fp32 (_cast_input_dtype);
        # autocast then saves its own bf16 copy for lora_A's weight gradient (2 B per input
        # element), and LoRA dropout its mask (1 B) on top
        per_input = BF16 + (1 if s.lora_dropout > 0 else 0)
        out += int(per_input * _adapted_inputs(arch, adapters))
    return out


def _adapted_inputs(arch: Architecture, adapters: frozenset[Role]) -> float:
    """Σ input widths of the adapted matrices of one layer (on average over layers; a routed
    expert's input counts once per expert a token goes to)."""
    key = ("train adapted inputs", adapters)
    hit = arch.cache.get(key)
    if isinstance(hit, float):
        return hit
    total = 0.0
    moe = arch.moe
    for t in arch.tensors():
        if t.role in adapters and t.layer is not None and t.rows > 1:
            if t.role.is_expert and moe is not None:
                total += t.cols * moe.experts_per_token
            else:
                total += t.cols * t.count
    out = total / arch.num_layers
    arch.cache[key] = out
    return out


def train_memory(arch: Architecture, s: TrainSetup) -> TrainMemory:
    """The per-GPU peak of one training step (without the runtime's share)."""
    s.check()
    _check_arch(arch)
    n = s.n_gpus
    stage = s.sharding.stage
    tensors, params_train, rows_cols = trainable(arch, s)
    terms: list[TrainTerm] = []
    total, biggest = _shapes(arch)

    def shard(nbytes: int, from_stage: int) -> int:
        return -(-nbytes // n) if stage >= from_stage else nbytes

    fmt = WeightFormat.BNB_NF4_DQ if s.method is Method.QLORA else WeightFormat.BF16
    w = weight_breakdown(arch, fmt).total_bytes
    full = s.method is Method.FULL
    fsdp_fp32 = s.sharding is Sharding.FSDP and s.keeps_master and full
    if fsdp_fp32:
        # accelerate's FSDP with bf16 mixed precision keeps the sharded parameters in fp32
        # (it upcasts low-precision ones) and casts each gathered layer to bf16 for compute
        w = w * FP32 // BF16
    terms.append(
        TrainTerm(
            "weights",
            f"weights ({'FP32, FSDP' if fsdp_fp32 else fmt.label})",
            shard(w, 3),
            "Σ tensors at the training precision" + (" / GPUs (ZeRO-3/FSDP)" if stage >= 3 else ""),
        )
    )
    deepspeed = s.sharding.deepspeed
    state_dtype = FP32
    if full:
        if s.keeps_master and deepspeed:
            terms.append(
                TrainTerm(
                    "master",
                    "fp32 master weights",
                    shard(ZERO_MASTER_BYTES * params_train, 1),
                    "4 B × trainable parameters (ZeRO paper's mixed precision)"
                    + (" / GPUs" if stage >= 1 else ""),
                    on_host=s.offload,
                )
            )
        if fsdp_fp32:
            grad_bytes = FP32
        else:
            grad_bytes = BF16
            if not deepspeed:
                state_dtype = BF16  # torch AdamW keeps its moments in the parameters' dtype
    else:
        terms.append(
            TrainTerm(
                "adapters",
                f"LoRA adapters (rank {s.lora_rank}, fp32)",
                shard(FP32 * params_train, 3),
                f"r × (in + out) × 4 B over {len(tensors)} targeted matrices",
            )
        )
        grad_bytes = FP32
    grads = shard(grad_bytes * params_train, 2)
    grad_how = f"{grad_bytes} B × trainable parameters" + (
        " / GPUs (ZeRO-2+)" if stage >= 2 else ""
    )
    if deepspeed and stage == 1 and full:
        # DeepSpeed's BF16_Optimizer accumulates gradients in an fp32 copy of the whole
        # flattened model on every rank (bf16_optimizer.py: fp32 grads, not partitioned)
        grads = FP32 * params_train
        grad_how = "4 B × trainable parameters (ZeRO-1's fp32 gradient buffer, unsharded)"
    # gradients exist at the start of the backward pass only where they persist between
    # steps: DeepSpeed's preallocated partitions, or those accumulated over micro-batches
    # (the Trainer frees them after each optimizer step, zero_grad(set_to_none=True))
    persistent = deepspeed or s.grad_accum > 1
    terms.append(
        TrainTerm(
            "gradients",
            "gradients",
            grads,
            grad_how,
            phase=Phase.BOTH if persistent else Phase.STEP,
        )
    )
    opt = s.optimizer.state_bytes(params_train, rows_cols, state_dtype)
    terms.append(
        TrainTerm(
            "optimizer",
            f"optimizer states ({s.optimizer.value})",
            shard(opt, 1),
            _optimizer_formula(s.optimizer, state_dtype)
            + (" / GPUs (ZeRO-1+)" if stage >= 1 else ""),
            on_host=s.offload,
        )
    )
    if s.optimizer in (Optimizer.ADAMW, Optimizer.SGD) and not deepspeed and not s.offload:
        # torch's foreach optimizers build their update in a temporary the size of the
        # parameters they step (in the states' dtype) before applying it; DeepSpeed's fused
        # Adam and bitsandbytes' kernels update in place
        dtype = state_dtype if full else FP32
        terms.append(
            TrainTerm(
                "step",
                "optimizer step temporary",
                shard(dtype * params_train, 1),
                f"{dtype} B × trainable parameters (torch's foreach update)",
                phase=Phase.STEP,
            )
        )
    adapters = (
        lora_roles(s.lora_targets, arch, s.lora_experts) if s.method.adapters else frozenset()
    )
    tokens = s.seq_len * s.micro_batch
    per_layer = layer_activation_bytes(arch, s, adapters)
    if s.grad_ckpt:
        act = tokens * (BF16 * arch.hidden_size * arch.num_layers + per_layer)
        how = "tokens × (each layer's bf16 input + one layer recomputed)"
    else:
        act = tokens * per_layer * arch.num_layers
        how = "tokens × layers × bytes saved per layer (layer_activation_bytes)"
    act += tokens * (FP32 + BF16) * arch.hidden_size  # the final norm
    terms.append(TrainTerm("activations", "activations", act, how, phase=Phase.BACKWARD))
    if s.loss is LossKind.STANDARD:
        # transformers' ForCausalLMLoss upcasts the bf16 logits (2 B) to fp32 (4 B) for
        # cross_entropy, whose log-softmax saves its fp32 output (4 B): 10 B at the end of the
        # forward pass; the log-softmax backward then holds its saved output, the incoming
        # gradient and the gradient it makes (3 × 4 B) while every activation is still held
        logits = 12 * tokens * arch.vocab_size
        how = "tokens × vocab × 12 B (log-softmax's fp32 output and two fp32 gradients)"
    else:
        logits = 0
        how = "chunked/fused cross-entropy: no full logits"
    terms.append(TrainTerm("logits", "logits and loss", logits, how, phase=Phase.BACKWARD))
    buffers = 0
    notes = []
    if s.method is Method.QLORA:
        buffers += BF16 * biggest
        notes.append("the largest matrix dequantized to bf16")
    if stage >= 3:
        buffers += 2 * _gathered_bytes(arch, fmt)
        notes.append("two gathered units at their stored size (a layer, or the embedding or head)")
    if buffers:
        terms.append(TrainTerm("buffers", "working buffers", buffers, "; ".join(notes)))
    return TrainMemory(tuple(terms), params_train, total)


def _optimizer_formula(opt: Optimizer, state_dtype: int) -> str:
    if opt in (Optimizer.ADAMW, Optimizer.PAGED_ADAMW):
        return f"2 moments × {state_dtype} B × trainable parameters"
    if opt in (Optimizer.ADAMW_8BIT, Optimizer.PAGED_ADAMW_8BIT):
        return "2 moments × 1 B (+ an fp32 absmax per 2048) × trainable parameters"
    if opt is Optimizer.ADAFACTOR:
        return "4 B × (rows + columns) of each matrix (factored second moment)"
    return f"1 momentum × {state_dtype} B × trainable parameters"
