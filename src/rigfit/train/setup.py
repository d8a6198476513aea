"""What a fine-tuning run is: method, adapters, optimizer, sharding, batch and sequence.

Closed sets are enums that carry what the memory model needs (bytes per parameter, which
states are sharded); :class:`TrainSetup` checks a run once, with one-line errors that say what
is allowed.
"""

from __future__ import annotations

from enum import StrEnum

from rigfit.arch import Architecture, Role
from rigfit.errors import InvalidSpecError, closest
from rigfit.frozen import frozen

__all__ = [
    "LORA_TARGETS",
    "LossKind",
    "Method",
    "Optimizer",
    "Sharding",
    "TrainSetup",
    "lora_roles",
]


class Method(StrEnum):
    FULL = "full"  # every weight trains
    LORA = "lora"  # 16-bit frozen base, low-rank adapters train (Hu et al. 2021)
    QLORA = "qlora"  # 4-bit NF4 frozen base, adapters train (Dettmers et al. 2023)

    @property
    def adapters(self) -> bool:
        return self is not Method.FULL


class Optimizer(StrEnum):
    """Optimizer states, in bytes per trainable parameter of their own precision."""

    ADAMW = "adamw"  # two moments (torch.optim.AdamW): 2 × the state dtype
    ADAMW_8BIT = "adamw8bit"  # bitsandbytes AdamW8bit: two 8-bit moments
    PAGED_ADAMW_8BIT = "paged_adamw8bit"  # the same, in unified (pageable) memory
    PAGED_ADAMW = "paged_adamw"  # 32-bit moments in unified memory
    ADAFACTOR = "adafactor"  # factored second moment, no first (HF Adafactor, beta1=None)
    SGD = "sgd"  # SGD with momentum: one state

    def state_bytes(self, params: int, rows_cols: int, state_dtype_bytes: int) -> int:
        """Bytes of state for ``params`` parameters (``rows_cols``: Σ rows + cols of the
        matrices, what Adafactor keeps). 8-bit states add one fp32 absmax per 2048-element
        block (bitsandbytes' blockwise quantization, blocksize 2048 for optimizer states)."""
        if self in (Optimizer.ADAMW, Optimizer.PAGED_ADAMW):
            return 2 * params * state_dtype_bytes
        if self in (Optimizer.ADAMW_8BIT, Optimizer.PAGED_ADAMW_8BIT):
            return 2 * (params + 4 * -(-params // 2048))
        if self is Optimizer.ADAFACTOR:
            return rows_cols * 4
        return params * state_dtype_bytes

    @property
    def paged(self) -> bool:
        """bitsandbytes' paged optimizers keep their states in CUDA unified memory, which the
        driver moves to host RAM under pressure (bitsandbytes docs, "Paged optimizers")."""
        return self in (Optimizer.PAGED_ADAMW, Optimizer.PAGED_ADAMW_8BIT)


class Sharding(StrEnum):
    """How data-parallel ranks split the model states (ZeRO paper, Rajbhandari et al. 2020,
    section 5: stage 1 partitions optimizer states, stage 2 also gradients, stage 3 also the
    parameters; FSDP's FULL_SHARD is stage 3's layout)."""

    SINGLE = "single"
    DDP = "ddp"
    ZERO1 = "zero1"
    ZERO2 = "zero2"
    ZERO3 = "zero3"
    FSDP = "fsdp"

    @property
    def stage(self) -> int:
        return {"single": 0, "ddp": 0, "zero1": 1, "zero2": 2, "zero3": 3, "fsdp": 3}[self.value]

    @property
    def deepspeed(self) -> bool:
        return self.value.startswith("zero")


class LossKind(StrEnum):
    STANDARD = "standard"  # logits materialized, upcast to fp32, log-softmax saved
    CHUNKED = "chunked"  # fused/chunked cross-entropy (Liger, Unsloth, torchtune): no full logits


# PEFT's target_modules by their names in Llama-style models, and the catalog roles they are
LORA_TARGETS: dict[str, frozenset[Role]] = {
    "attention": frozenset(
        {
            Role.ATTN_Q,
            Role.ATTN_K,
            Role.ATTN_V,
            Role.ATTN_OUTPUT,
            Role.ATTN_Q_A,
            Role.ATTN_Q_B,
            Role.ATTN_KV_A,
            Role.ATTN_KV_B,
        }
    ),
    "q_proj": frozenset({Role.ATTN_Q}),
    "k_proj": frozenset({Role.ATTN_K}),
    "v_proj": frozenset({Role.ATTN_V}),
    "o_proj": frozenset({Role.ATTN_OUTPUT}),
    "gate_proj": frozenset({Role.FFN_GATE, Role.SHEXP_GATE, Role.EXP_GATE}),
    "up_proj": frozenset({Role.FFN_UP, Role.SHEXP_UP, Role.EXP_UP}),
    "down_proj": frozenset({Role.FFN_DOWN, Role.SHEXP_DOWN, Role.EXP_DOWN}),
    "mlp": frozenset(
        {
            Role.FFN_GATE,
            Role.FFN_UP,
            Role.FFN_DOWN,
            Role.SHEXP_GATE,
            Role.SHEXP_UP,
            Role.SHEXP_DOWN,
            Role.EXP_GATE,
            Role.EXP_UP,
            Role.EXP_DOWN,
        }
    ),
}
LORA_TARGETS["lm_head"] = frozenset({Role.OUTPUT})  # the output head, named explicitly
# PEFT's "all-linear": every nn.Linear but the output head (peft/tuners/tuners_utils.py,
# _maybe_include_all_linear_layers excludes the output embedding)
LORA_TARGETS["all-linear"] = LORA_TARGETS["attention"] | LORA_TARGETS["mlp"]


def lora_roles(targets: str, arch: Architecture, experts: bool) -> frozenset[Role]:
    """The roles a comma-separated target list names; a name the architecture does not have
    is an error naming the ones it has."""
    present = {t.role for t in arch.tensors()}
    roles: set[Role] = set()
    for name in (x.strip().lower() for x in targets.split(",") if x.strip()):
        if name not in LORA_TARGETS:
            near = closest(name, list(LORA_TARGETS))
            raise InvalidSpecError(
                f"--lora-targets: unknown module {name!r}"
                + (f"; did you mean {near[0]}?" if near else "")
                + f" (allowed: {', '.join(LORA_TARGETS)})"
            )
        hit = LORA_TARGETS[name] & present
        if not hit:
            has = sorted(k for k, v in LORA_TARGETS.items() if v & present and "-" not in k)
            raise InvalidSpecError(
                f"--lora-targets: {arch.model_type} has no {name} modules (it has: "
                + ", ".join(has)
                + ")"
            )
        roles |= hit
    if not experts:
        roles = {r for r in roles if not r.is_expert}
    if not roles:
        raise InvalidSpecError("--lora-targets names no module to train")
    return frozenset(roles)


@frozen
class TrainSetup:
    """One fine-tuning run, per GPU where it says so."""

    method: Method = Method.LORA
    seq_len: int = 4096
    micro_batch: int = 1  # sequences per GPU per forward pass
    grad_accum: int = 1
    grad_ckpt: bool = True
    optimizer: Optimizer = Optimizer.ADAMW
    sharding: Sharding = Sharding.SINGLE
    n_gpus: int = 1
    lora_rank: int = 16
    lora_targets: str = "all-linear"
    lora_experts: bool = True  # adapters on routed experts too (PEFT all-linear does)
    flash_attn: bool = True
    lora_dropout: float = 0.05  # TRL's ModelConfig default, which the printed command keeps
    loss: LossKind = LossKind.STANDARD
    # fp32 master weights: DeepSpeed keeps them in every bf16/fp16 mode (ZeRO paper, 16 B per
    # parameter); None takes that for ZeRO and 16-bit weights and states elsewhere (a model
    # loaded with torch_dtype=bfloat16, as TRL and LLaMA-Factory load it)
    master_weights: bool | None = None
    offload: bool = False  # ZeRO-Offload / FSDP CPU offload: optimizer states (and master) on host

    def check(self) -> None:
        if self.seq_len < 1:
            raise InvalidSpecError(f"--seq must be at least 1 token, got {self.seq_len}")
        if self.micro_batch < 1:
            raise InvalidSpecError(f"--micro-batch must be at least 1, got {self.micro_batch}")
        if self.grad_accum < 1:
            raise InvalidSpecError(f"--grad-accum must be at least 1, got {self.grad_accum}")
        if self.n_gpus < 1:
            raise InvalidSpecError(f"--gpus must be at least 1, got {self.n_gpus}")
        if self.method.adapters and self.lora_rank < 1:
            raise InvalidSpecError(f"--lora-rank must be at least 1, got {self.lora_rank}")
        if self.sharding is Sharding.SINGLE and self.n_gpus > 1:
            raise InvalidSpecError(
                f"{self.n_gpus} GPUs need a way to share the work: --sharding ddp, zero1,"
                " zero2, zero3 or fsdp"
            )
        if self.offload and self.sharding.stage == 0:
            raise InvalidSpecError(
                "--offload moves ZeRO's or FSDP's sharded states to host RAM: give --sharding"
                " zero1, zero2, zero3 or fsdp"
            )

    @property
    def keeps_master(self) -> bool:
        """fp32 master copies: DeepSpeed keeps them in every 16-bit mode, and accelerate's
        FSDP with bf16 mixed precision keeps the parameters themselves in fp32; a model loaded
        in bf16 and trained with torch's AdamW (single GPU, DDP) has none."""
        if self.master_weights is not None:
            return self.master_weights
        return self.sharding.stage >= 1 and self.method is Method.FULL

    @property
    def tokens_per_step(self) -> int:
        """Tokens one optimizer step trains on, over all data-parallel GPUs."""
        return self.seq_len * self.micro_batch * self.grad_accum * self.n_gpus
