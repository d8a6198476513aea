"""MLX / mlx-lm on Apple silicon: unified memory up to the GPU wired limit.

Reference: mlx-lm 0.32.2, from its source (mlx_lm/utils.py ``quantize_model``,
mlx_lm/models/cache.py ``KVCache`` / ``RotatingKVCache`` / ``make_prompt_cache``,
mlx_lm/generate.py ``generate_step`` and ``wired_limit``, the per-model ``make_cache`` and
``quant_predicate`` of models/gemma3_text.py, gpt_oss.py, qwen3_moe.py, deepseek_v2.py).

* The usable memory is the GPU wired limit mlx-lm sets while generating, Metal's
  ``recommendedMaxWorkingSetSize`` (rigfit's Apple capacity already is that figure).
* Weights: an F16/BF16 checkpoint as is, or ``mlx_lm.convert -q`` affine quantization: every
  ``nn.Linear``, ``nn.Embedding`` and expert ``SwitchLinear`` whose input dimension divides the
  group size (64) stores ``bits`` per weight plus a scale and a bias per group in the model
  dtype (4 bits: 4 + 32/64 = 4.5 bits per weight); norms, biases and convolutions stay 16-bit.
  Qwen3-MoE's and gpt-oss's routers are kept at 8 bits by their ``quant_predicate``;
  DeepSeek's ``MoEGate`` is not a Linear and stays 16-bit.
* KV cache: ``KVCache`` grows in steps of 256 tokens in the model dtype; gemma3 and gpt-oss
  give sliding layers a ``RotatingKVCache`` of the window (during prefill it holds up to
  window + chunk - 1 tokens); DeepSeek-V2 caches per-head K and V, not the latent.
* The prompt runs in chunks of 2048 tokens (``prefill_step_size``), with Metal's fused
  attention; only the last token's logits are computed.
"""

from __future__ import annotations

from rigfit.arch import TOWER_ROLES, LayerKind, LayerSpec, Role, Tensor
from rigfit.engines.checks import refuse_mixed_attention
from rigfit.engines.tensors import per_head_kv_elems
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import ProfileBase, Request, Term, refuse_pooling
from rigfit.estimate.terms import TermKind
from rigfit.families import FAMILIES, MLXRouter, family
from rigfit.quant import KVCacheType, WeightFormat

__all__ = ["MLX", "MLXProfile", "mlx_tensor_bytes"]

REFERENCE_VERSION = "0.32.2"
# quantize_model defaults_for_mode: "affine": (group_size 64, bits 4) (utils.py l.1034-1042)
GROUP_SIZE = 64
DEFAULT_BITS = 4
# mx.quantize packs 2, 3, 4, 5, 6 or 8 bits per weight (mlx.core.quantize "bits" argument);
# with groups of 64 every row packs into whole bytes.
ALLOWED_BITS = (2, 3, 4, 5, 6, 8)
SCALE_BIAS_PER_GROUP = 2  # one scale and one bias per group, in the weights' dtype
# qwen3_moe.py / gpt_oss.py quant_predicate: the router ("mlp.gate", "router") at 8 bits, g64
# (which families: rigfit.families, mlx_router)
ROUTER_BITS = 8
KV_STEP = 256  # KVCache.step = 256 (models/cache.py l.340)
PREFILL_STEP = 2048  # generate_step(prefill_step_size=2048) (generate.py l.323)
SUPPORTED_WEIGHTS = (WeightFormat.F16, WeightFormat.BF16)


def _pad(x: int, to: int) -> int:
    return -(-x // to) * to


def _quantizable(t: Tensor) -> bool:
    """Modules nn.quantize converts: Linear, Embedding and SwitchLinear weights."""
    if t.role in TOWER_ROLES:
        return False  # mlx-lm does not load the vision (or audio) tower
    return t.role.quantizable or t.role in (
        Role.TOKEN_EMBD,
        Role.OUTPUT,
        Role.ROUTER,
        Role.SHEXP_ROUTER,
    )


def mlx_tensor_bytes(t: Tensor, bits: int | None, model_type: str) -> int:
    """Bytes of one tensor as mlx-lm stores it (16-bit, or affine-quantized in groups of 64).

    >>> from rigfit.arch import Role, Tensor
    >>> w = Tensor("blk.0.attn_q.weight", 4096, 4096, Role.ATTN_Q, 0)
    >>> mlx_tensor_bytes(w, 4, "llama") * 8 / w.numel  # 4 + 2 × 16 / 64
    4.5
    """
    if bits is None or not _quantizable(t) or t.cols % GROUP_SIZE:
        return 2 * t.numel
    router = FAMILIES[model_type].mlx_router if model_type in FAMILIES else MLXRouter.QUANTIZED
    if t.role is Role.ROUTER and router is MLXRouter.FLOAT:
        return 2 * t.numel
    if t.role is Role.ROUTER and router is MLXRouter.EIGHT_BIT:
        bits = ROUTER_BITS
    groups = t.numel // GROUP_SIZE
    return t.numel * bits // 8 + groups * SCALE_BIAS_PER_GROUP * 2


class MLXProfile(ProfileBase):
    name = "mlx"
    description = (
        "mlx-lm on Apple silicon: F16/BF16 or affine 4/8-bit weights (group 64, 16-bit scale"
        " and bias), KVCache in 256-token steps, rotating caches for sliding windows, prefill"
        " in 2048-token chunks; capacity is Metal's recommended working set"
    )
    reference_version = REFERENCE_VERSION

    def bits(self, req: Request) -> int | None:
        return req.engine.mlx_bits

    def check(self, req: Request) -> None:
        self._check(req)

    def _check(self, req: Request) -> None:
        refuse_pooling(req, "mlx-lm")
        refuse_mixed_attention(req, "mlx-lm", "its per-layer caches")
        gpu = req.system.gpu
        if not gpu.unified_memory:
            raise InvalidSpecError(
                f"MLX runs on Apple silicon only, not {gpu.name}; use --engine vllm, sglang,"
                " transformers or llama.cpp"
            )
        if req.file_weights is not None:
            raise InvalidSpecError(
                "rigfit prices MLX from the model's tensor inventory, not a GGUF or safetensors"
                " file; drop the file and give --quant BF16 (with --q-bits 4 or 8)"
            )
        if req.weight_format not in SUPPORTED_WEIGHTS:
            raise InvalidSpecError(
                f"MLX loads F16/BF16 checkpoints, quantized by mlx_lm.convert -q; not"
                f" {req.weight_format.label} (allowed: F16, BF16, with --q-bits "
                + "/".join(map(str, ALLOWED_BITS))
                + ")"
            )
        b = self.bits(req)
        if b is not None and b not in ALLOWED_BITS:
            raise InvalidSpecError(
                f"MLX quantizes to {', '.join(map(str, ALLOWED_BITS))} bits, not {b}"
            )
        if req.kv_type not in (KVCacheType.F16, KVCacheType.BF16):
            raise InvalidSpecError(
                f"mlx-lm's KVCache is in the model dtype, not {req.kv_type.flag} (allowed:"
                " f16, bf16)"
            )
        s = req.engine
        if (s.tp or 1) > 1 or s.pp > 1 or s.ngl is not None or s.cpu_moe or s.n_cpu_moe:
            raise InvalidSpecError(
                "MLX runs the whole model in unified memory: drop --tp/--pp/-ngl/--cpu-moe"
            )
        if req.arch.has_state:
            raise UnsupportedArchitectureError(
                "rigfit does not yet replay mlx-lm's linear-attention and Mamba caches (Qwen3-Next,"
                " Mamba2 hybrids); use --engine llama.cpp"
            )
        if req.arch.attention.indexer is not None:
            raise UnsupportedArchitectureError(
                "rigfit does not yet replay mlx-lm's DeepSeek-V3.2 cache (latent plus indexer"
                " keys); use --engine llama.cpp, vllm or sglang"
            )

    # ---- bytes ------------------------------------------------------------------------------

    def weight_bytes(self, req: Request) -> tuple[int, int]:
        """(total bytes, bytes of quantized tensors)."""
        total = quantized = 0
        bits, mt = self.bits(req), req.arch.model_type
        for t in req.arch.tensors():
            if t.role in TOWER_ROLES:
                continue
            b = mlx_tensor_bytes(t, bits, mt)
            total += b
            if bits is not None and b != 2 * t.numel:
                quantized += b
        return total, quantized

    def kv_elems_per_token_layer(self, req: Request) -> int:
        return per_head_kv_elems(req.arch)

    def layer_tokens(self, req: Request, layer: LayerSpec) -> int:
        """Slots one sequence's cache holds in this layer at its largest."""
        full = _pad(req.ctx_tokens, KV_STEP)
        if layer.kind is LayerKind.CHUNKED:
            # Llama 4: ChunkedKVCache(chunk_size) (models/llama4.py make_cache); before each
            # forward maybe_trim_front keeps the last chunk_size tokens, and the forward appends
            # a prefill step to them, in buffers grown by 256 (cache.py ChunkedKVCache)
            assert layer.window is not None
            if req.ctx_tokens <= layer.window:
                return full
            return min(full, _pad(layer.window + min(PREFILL_STEP, req.ctx_tokens), KV_STEP))
        rotating = (
            layer.kind is LayerKind.SLIDING and family(req.arch.model_type).mlx_rotating_cache
        )
        if not rotating:
            return full
        assert layer.window is not None
        if req.ctx_tokens <= layer.window:
            return min(full, layer.window)
        # _update_concat keeps max_size + S - 1 tokens for a chunk of S (cache.py l.462-480)
        return layer.window + min(PREFILL_STEP, req.ctx_tokens) - 1

    def activation_bytes(self, req: Request) -> int:
        """One prefill chunk's widest layer working set in the model dtype, plus the last
        token's logits (dtype and the f32 log-probabilities)."""
        arch, a, h = req.arch, req.arch.attention, req.arch.hidden_size
        chunk = min(PREFILL_STEP, req.ctx_tokens) * req.seqs
        attn = a.qkv_width() + a.out_width()
        mlp = 3 * arch.widest_ffn
        return chunk * 2 * (2 * h + max(attn, mlp)) + req.seqs * arch.vocab_size * (2 + 4)

    # ---- the profile ------------------------------------------------------------------------

    def terms(self, req: Request) -> list[Term]:
        self._check(req)
        arch = req.arch
        w, q = self.weight_bytes(req)
        bits = self.bits(req)
        row = self.kv_elems_per_token_layer(req) * 2
        # mlx-lm makes a cache only for layers with attention (nemotron-nas: none for its
        # no_op blocks)
        kv = sum(req.seqs * self.layer_tokens(req, x) * row for x in arch.layers if x.caches_kv)
        act = self.activation_bytes(req)
        label = f"{req.weight_format.label}" if bits is None else f"MLX {bits}-bit, group 64"
        return [
            Term(
                TermKind.WEIGHTS,
                f"weights ({label})",
                w,
                w,
                "16-bit tensors × 2 B; quantized Linear/Embedding/SwitchLinear: bits/8 B per"
                " weight + a 16-bit scale and bias per 64 (routers 8-bit or 16-bit per model)",
                {
                    "bits": bits or 16,
                    "group_size": GROUP_SIZE,
                    "quantized_bytes": q,
                    "vision_tower": "not loaded by mlx-lm" if arch.vision else "none",
                },
            ),
            Term(
                TermKind.KV_CACHE,
                "KV cache (model dtype, 256-token steps)",
                kv,
                kv,
                "seqs × Σ_layers slots × K+V elements × 2 B; slots = ctx rounded up to 256"
                " (rotating sliding layers: window, or window + chunk − 1 while prefilling)",
                {
                    "step": KV_STEP,
                    "elems_per_token_layer": self.kv_elems_per_token_layer(req),
                    "seqs": req.seqs,
                },
            ),
            Term(
                TermKind.ACTIVATIONS,
                "prefill chunk activations and logits",
                act,
                act,
                "min(2048, ctx) × seqs × (2 × hidden + widest of attention and MLP) × 2 B"
                " + seqs × vocab × (2 + 4) B",
                {"chunk_tokens": min(PREFILL_STEP, req.ctx_tokens)},
            ),
        ]

    def notes(self, req: Request) -> tuple[str, ...]:
        self._check(req)
        out = [
            "mlx-lm wires up to Metal's recommended working set while generating; beyond it"
            " macOS pages GPU memory (raise it with sudo sysctl iogpu.wired_limit_mb=N)",
        ]
        if req.seqs > 1:
            out.append(
                "mlx_lm.generate runs one sequence; mlx_lm.server batches requests, each with"
                " its own cache"
            )
        if req.arch.vision is not None:
            out.append("mlx-lm loads the language model only; images need mlx-vlm")
        return tuple(out)

    def command(self, req: Request, model_ref: str) -> str:
        bits = self.bits(req)
        if bits is None:
            return f"mlx_lm.generate --model {model_ref} --max-kv-size {req.ctx_tokens}"
        return (
            f"mlx_lm.convert --hf-path {model_ref} -q --q-bits {bits} --q-group-size"
            f" {GROUP_SIZE} --mlx-path mlx_model && mlx_lm.generate --model mlx_model"
            f" --max-kv-size {req.ctx_tokens}"
        )


MLX = MLXProfile()
