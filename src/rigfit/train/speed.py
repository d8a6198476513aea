"""How long a fine-tuning step takes: FLOPs over the GPUs' tensor throughput at a model-FLOPs
utilization calibrated on measured runs.

FLOPs per trained token (Kaplan et al. 2020, and the usual accounting):

- matrix products: 2 × the parameters a token passes through forward, 4 × backward for full
  fine-tuning (input and weight gradients), 2 × backward for adapters (input gradients only: a
  frozen weight has no gradient; the adapters' own FLOPs are r/width of that and left out);
  gradient checkpointing runs the forward again: + 2 ×;
- attention scores and values: 4 FLOPs per dimension (heads × head_dim) for each earlier
  token a position sees, forward: s/2 on average under a causal mask, w (1 − w/2s) in a
  sliding window w < s; × 3 for forward and backward, + 1 × with checkpointing.
"""

from __future__ import annotations

from rigfit.arch import Architecture, Role
from rigfit.catalog.schema import GPURecord
from rigfit.frozen import frozen
from rigfit.train.setup import Method, TrainSetup

__all__ = ["TrainSpeed", "flops_per_token", "train_speed"]


def flops_per_token(arch: Architecture, s: TrainSetup) -> float:
    # row gathers, not matrix products: the embedding and Gemma 4's per-layer input table
    embed = sum(t.numel for t in arch.tensors() if t.role in (Role.TOKEN_EMBD, Role.PER_LAYER_EMBD))
    matmul = arch.params_active - embed - arch.tower_params
    if arch.tie_word_embeddings:
        matmul += arch.hidden_size * arch.vocab_size  # the head reuses the embedding
    passes = 2 + (4 if s.method is Method.FULL else 2) + (2 if s.grad_ckpt else 0)
    a = arch.attention
    width = a.num_heads * a.head_dim
    attn = 0.0
    for layer in arch.layers:
        if not layer.kind.keeps_kv:
            continue
        seen = s.seq_len / 2  # a causal token sees half the sequence on average
        if layer.window is not None and layer.window < s.seq_len:
            w = layer.window  # a sliding layer sees at most its window
            seen = w * (1 - w / (2 * s.seq_len))
        attn += 4 * seen * width
    attn_passes = 3 + (1 if s.grad_ckpt else 0)
    return passes * matmul + attn_passes * attn


@frozen
class TrainSpeed:
    tokens_per_s: float  # all GPUs together
    step_s: float  # one optimizer step (micro-batches × accumulation)
    mfu: float  # the utilization assumed
    flops_per_token: float
    peak_flops: float  # one GPU's dense BF16 tensor throughput


def train_speed(arch: Architecture, s: TrainSetup, gpu: GPURecord, mfu: float) -> TrainSpeed | None:
    """None when the GPU has no published BF16 (or FP16) tensor figure."""
    tflops = gpu.bf16_dense_tflops or gpu.fp16_dense_tflops
    if tflops is None:
        return None
    peak = tflops * 1e12
    fpt = flops_per_token(arch, s)
    rate = s.n_gpus * peak * mfu / fpt
    return TrainSpeed(rate, s.tokens_per_step / rate, mfu, fpt, peak)
