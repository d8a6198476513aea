"""The training-memory model: each term from its formula, and its invariants."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rigfit.catalog.lookup import get_model
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.train import Method, Optimizer, Sharding, TrainSetup, train_memory
from rigfit.train.memory import trainable

LLAMA8 = get_model("meta-llama/Llama-3.1-8B").arch


def _term(setup: TrainSetup, key: str) -> int:
    return next(t.bytes for t in train_memory(LLAMA8, setup).terms if t.key == key)


def test_lora_counts_the_adapters_from_the_shapes() -> None:
    """r × (in + out) per matrix: Llama-3.1-8B, rank 16 on all linear layers, is
    32 × 16 × (8192 + 5120 + 5120 + 8192 + 3 × 18432) = 41,943,040 parameters, the figure
    PEFT's print_trainable_parameters gives for it."""
    _, params, _ = trainable(LLAMA8, TrainSetup(method=Method.LORA, lora_rank=16))
    assert params == 32 * 16 * (8192 + 5120 + 5120 + 8192 + 3 * 18432) == 41_943_040
    _, attn, _ = trainable(LLAMA8, TrainSetup(lora_rank=8, lora_targets="q_proj,v_proj"))
    assert attn == 32 * 8 * (8192 + 5120)


def test_full_fine_tuning_with_zero_is_16_bytes_a_parameter() -> None:
    """The ZeRO paper's mixed-precision Adam: 2 + 2 + 12 B per parameter, split by stage."""
    s = TrainSetup(method=Method.FULL, sharding=Sharding.ZERO1, n_gpus=8)
    p = train_memory(LLAMA8, s).trainable_params
    states = sum(
        _term(replace(s, sharding=stage), k)
        for stage in (Sharding.ZERO3,)
        for k in ("weights", "master", "gradients", "optimizer")
    )
    assert abs(states - 16 * p / 8) < 8 * 8  # rounding up per shard
    # ZeRO-1 in bf16: DeepSpeed's BF16_Optimizer keeps an fp32 gradient buffer on every rank
    z1 = sum(_term(s, k) for k in ("weights", "master", "gradients", "optimizer"))
    assert abs(z1 - (2 + 4 + 12 / 8) * p) < 64


def test_the_peak_is_the_larger_of_backward_and_step() -> None:
    """Without DeepSpeed, a bf16 model's gradients and torch AdamW's foreach temporary exist
    at the optimizer step, when the activations are gone: 5 × 2 B per parameter there."""
    from rigfit.train.memory import Phase

    s = TrainSetup(method=Method.FULL, grad_ckpt=True, seq_len=512)
    mem = train_memory(LLAMA8, s)
    assert mem.peak_phase is Phase.STEP
    assert mem.gpu_bytes == 5 * 2 * mem.trainable_params
    long = train_memory(LLAMA8, TrainSetup(method=Method.FULL, grad_ckpt=False, seq_len=8192))
    assert long.peak_phase is Phase.BACKWARD


def test_qlora_base_is_nf4() -> None:
    lora = _term(TrainSetup(method=Method.LORA), "weights")
    qlora = _term(TrainSetup(method=Method.QLORA), "weights")
    assert qlora < lora / 2.5  # 4-bit linear weights, 16-bit embeddings and head


def test_checkpointing_keeps_one_layer() -> None:
    on = _term(TrainSetup(grad_ckpt=True), "activations")
    off = _term(TrainSetup(grad_ckpt=False), "activations")
    assert on < off / 10


@pytest.mark.parametrize("key", ["activations", "logits"])
def test_activations_and_logits_grow_linearly_with_tokens(key: str) -> None:
    one = _term(TrainSetup(seq_len=2048, grad_ckpt=False), key)
    two = _term(TrainSetup(seq_len=4096, grad_ckpt=False), key)
    assert two == pytest.approx(2 * one, rel=0.01)


def test_eager_attention_adds_the_score_matrix() -> None:
    flash = _term(TrainSetup(grad_ckpt=False), "activations")
    eager = _term(TrainSetup(grad_ckpt=False, flash_attn=False), "activations")
    heads, s, layers = 32, 4096, 32
    assert eager - flash == s * (4 + 2) * heads * s * layers


def test_8bit_optimizer_and_offload() -> None:
    s = TrainSetup(method=Method.FULL)
    assert _term(replace(s, optimizer=Optimizer.ADAMW_8BIT), "optimizer") < _term(s, "optimizer")
    off = train_memory(
        LLAMA8, TrainSetup(method=Method.FULL, sharding=Sharding.ZERO2, n_gpus=2, offload=True)
    )
    assert off.host_bytes > 0
    assert all(not t.on_host or t.key in ("master", "optimizer") for t in off.terms)


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (TrainSetup(seq_len=0), "--seq"),
        (TrainSetup(micro_batch=0), "--micro-batch"),
        (TrainSetup(lora_rank=0), "--lora-rank"),
        (TrainSetup(n_gpus=2), "a way to share the work"),
        (TrainSetup(offload=True), "--offload moves"),
        (TrainSetup(lora_targets="qproj"), "did you mean q_proj"),
    ],
)
def test_bad_setups(setup: TrainSetup, says: str) -> None:
    with pytest.raises(InvalidSpecError, match=says):
        train_memory(LLAMA8, setup)


def test_targets_that_leave_nothing_to_train() -> None:
    mixtral = get_model("mistralai/Mixtral-8x7B-Instruct-v0.1").arch
    setup = TrainSetup(lora_targets="gate_proj", lora_experts=False)  # its MLPs are experts
    with pytest.raises(InvalidSpecError, match="names no module to train"):
        train_memory(mixtral, setup)


def test_architectures_not_counted_fail_closed() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="latent attention"):
        train_memory(get_model("deepseek-ai/DeepSeek-V2-Lite-Chat").arch, TrainSetup())
    with pytest.raises(UnsupportedArchitectureError, match="linear-attention"):
        train_memory(get_model("Qwen/Qwen3-Next-80B-A3B-Instruct").arch, TrainSetup())


def test_fsdp_keeps_fp32_parameters_under_mixed_precision() -> None:
    fsdp = TrainSetup(method=Method.FULL, sharding=Sharding.FSDP, n_gpus=8)
    bf16 = replace(fsdp, master_weights=False)
    assert _term(fsdp, "weights") == 2 * _term(bf16, "weights")
    assert _term(fsdp, "gradients") == 2 * _term(bf16, "gradients")


def test_peft_saves_each_adapted_input_again() -> None:
    """PEFT casts each adapted module's input to fp32 and autocast saves a bf16 copy: more
    targets, more saved per token; dropout adds its mask."""
    from rigfit.train.memory import layer_activation_bytes
    from rigfit.train.setup import lora_roles

    def per_layer(targets: str, dropout: float) -> int:
        s = TrainSetup(lora_targets=targets, lora_dropout=dropout)
        return layer_activation_bytes(LLAMA8, s, lora_roles(targets, LLAMA8, True))

    assert per_layer("all-linear", 0.05) > per_layer("all-linear", 0.0) > per_layer("q_proj", 0.0)
    # all-linear: q, k, v and gate, up read the hidden size, o the attention width, down the
    # MLP's: 2 B each without dropout
    extra = (
        per_layer("all-linear", 0.0) - per_layer("all-linear", 0.0) + 2 * (5 * 4096 + 4096 + 14336)
    )
    assert extra == 77_824


def test_rank_is_bounded_by_the_matrices() -> None:
    with pytest.raises(InvalidSpecError, match="--lora-rank 2048 is above"):
        train_memory(LLAMA8, TrainSetup(lora_rank=2048))


def test_gpt_oss_fails_closed() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="3-D parameters"):
        train_memory(get_model("openai/gpt-oss-20b").arch, TrainSetup())


def test_sliding_layers_cost_less_attention() -> None:
    from rigfit.train.speed import flops_per_token

    gemma = get_model("google/gemma-2-9b-it").arch  # alternating 4,096-token windows
    short = flops_per_token(gemma, TrainSetup(seq_len=4096))
    long = flops_per_token(gemma, TrainSetup(seq_len=8192))
    full_only = flops_per_token(LLAMA8, TrainSetup(seq_len=8192)) - flops_per_token(
        LLAMA8, TrainSetup(seq_len=4096)
    )
    assert long - short > 0
    assert (long - short) / gemma.num_layers < full_only / LLAMA8.num_layers * 2
