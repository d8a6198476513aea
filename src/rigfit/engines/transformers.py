"""Hugging Face transformers ``generate``: whole layers over GPUs, a growing cache, one prefill.

Reference: transformers 4.57.1, from its source (modeling_utils.py ``_get_device_map``,
cache_utils.py ``DynamicCache`` / ``DynamicLayer`` / ``DynamicSlidingWindowLayer``,
generation/utils.py ``generate`` and ``_prepare_cache_for_generation``,
integrations/sdpa_attention.py, models/llama/modeling_llama.py ``eager_attention_forward``,
models/deepseek_v2/modeling_deepseek_v2.py). With ``device_map="auto"``:

* weights stay in the checkpoint's dtype or quantized layout; accelerate's big-model inference
  places whole decoder layers on GPUs in order (the embedding on the first, the head after the
  last layer), balancing the bytes over the devices;
* the cache is a ``DynamicCache`` in the model dtype: per layer K and V of exactly the tokens
  seen, no paging, no padding; sliding-window layers (``layer_types`` or ``sliding_window`` in
  the config) keep the last ``window - 1`` tokens; DeepSeek's MLA caches per-head K and V;
  every step concatenates a layer's cache with the new token, so one layer briefly exists twice;
* the prompt is one forward pass (no chunking): each layer's activations for seqs × prompt
  tokens, and with ``attn_implementation="eager"`` the scores of every head over the prompt
  squared, softmaxed in f32; ``sdpa`` (the default) and ``flash_attention_2`` keep no such
  matrix for unpadded prompts;
* ``generate`` asks for the last token's logits only (``logits_to_keep=1``) and copies them
  to f32.

rigfit prices the worst case: the whole context arrives as the prompt.
"""

from __future__ import annotations

from rigfit.arch import AttentionKind, LayerSpec
from rigfit.engines.checks import refuse_transformers_fp8
from rigfit.engines.tensors import Kind, per_head_kv_elems, request_tensors
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import ProfileBase, Request, Term, refuse_pooling
from rigfit.estimate.split import Split, SplitKind
from rigfit.estimate.terms import TermKind
from rigfit.families import family
from rigfit.quant import Family, KVCacheType, WeightFormat
from rigfit.units import GIB

__all__ = ["TRANSFORMERS", "TransformersProfile"]

REFERENCE_VERSION = "4.57.1"
# _check_and_adjust_attn_implementation (modeling_utils.py 4.57.1): sdpa when torch has it
ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")
DEFAULT_ATTN = "sdpa"
# eager_attention_forward (modeling_llama.py 4.57.1 l.184-189): the scores in the model dtype,
# softmax(..., dtype=torch.float32), then .to(query.dtype): both copies live at once.
SOFTMAX_BYTES = 4
# generate's sampling loop copies the last logits to f32 (generation/utils.py
# "next_token_logits = outputs.logits[:, -1, :].to(copy=True, dtype=torch.float32)").
LOGIT_BYTES = 4
# The memory a PyTorch process holds on a GPU before any tensor (CUDA context, cuBLAS): an
# H100 80GB (81559 MiB = 79.65 GiB) reports 78.81 GiB free after torch's start-up in SGLang's
# docs log of 2025-01-23 ("Load weight begin. avail mem=78.81 GB", tp_size=1); rigfit takes
# the difference on every GPU a plan touches. The caching allocator's slack is not included.
CUDA_CONTEXT_BYTES = int(0.84 * GIB)
# Formats transformers loads without dequantizing them to 16 bits.
# The BitsAndBytesConfig that quantizes a 16-bit checkpoint to each bitsandbytes format as it
# loads (transformers utils/quantization_config.py: bnb_4bit_quant_type nf4/fp4,
# bnb_4bit_use_double_quant for the double-quantized absmax, load_in_8bit for LLM.int8)
_BNB_CONFIG = {
    WeightFormat.BNB_NF4: "load_in_4bit=True, bnb_4bit_quant_type='nf4'",
    WeightFormat.BNB_NF4_DQ: (
        "load_in_4bit=True, bnb_4bit_quant_type='nf4', bnb_4bit_use_double_quant=True"
    ),
    WeightFormat.BNB_FP4: "load_in_4bit=True, bnb_4bit_quant_type='fp4'",
    WeightFormat.BNB_INT8: "load_in_8bit=True",
}
_REJECTED = {
    WeightFormat.MXFP4: "transformers dequantizes MXFP4 to bf16 without triton kernels",
    WeightFormat.MXFP4_EXPERTS: "transformers dequantizes MXFP4 to bf16 without triton kernels",
    WeightFormat.NVFP4: "transformers has no NVFP4 loader",
}


class TransformersProfile(ProfileBase):
    name = "transformers"
    description = (
        "transformers generate: device_map='auto' whole layers over GPUs, DynamicCache in the"
        " model dtype, the whole prompt in one pass (eager: f32 attention scores), last-token"
        " logits in f32, 0.84 GiB CUDA context per GPU"
    )
    reference_version = REFERENCE_VERSION

    # ---- settings ---------------------------------------------------------------------------

    def attn(self, req: Request) -> str:
        return req.engine.attn_implementation or DEFAULT_ATTN

    def flash_attention(self, req: Request) -> bool:
        """Eager attention writes the score matrix; sdpa and flash_attention_2 do not (the
        same split the prompt-pass term above makes)."""
        return self.attn(req) != "eager"

    def dtype_bytes(self, req: Request) -> int:
        """Activations and cache in the model dtype: f32 for F32 checkpoints, else 16-bit."""
        return 4 if req.weight_format is WeightFormat.F32 else 2

    def check(self, req: Request) -> None:
        self._check(req)

    def _check(self, req: Request) -> None:
        refuse_pooling(req, "transformers")
        fam = family(req.arch.model_type)
        if fam.transformers_refused:
            raise UnsupportedArchitectureError(
                f"{fam.transformers_refused}; use --engine vllm or llama.cpp"
            )
        since = fam.transformers_since
        if since:
            raise UnsupportedArchitectureError(
                f"{req.arch.model_type} needs transformers {since} or later, and rigfit replays"
                " the 4.x releases' accounting; use --engine llama.cpp with a GGUF --quant"
                " such as Q4_K_M"
            )
        s = req.engine
        if req.system.gpu.unified_memory:
            raise InvalidSpecError(
                f"rigfit prices transformers on CUDA/ROCm GPUs, not {req.system.gpu.name}"
                " (Apple silicon); use --engine mlx or --engine llama.cpp"
            )
        if s.version is not None and not s.version.strip().lstrip("v").startswith("4."):
            raise InvalidSpecError(
                f"rigfit replays transformers 4.x accounting, not {s.version} (allowed: 4.x)"
            )
        if self.attn(req) not in ATTN_IMPLEMENTATIONS:
            raise InvalidSpecError(
                f"attn_implementation {self.attn(req)!r} is not one rigfit models (allowed: "
                + ", ".join(ATTN_IMPLEMENTATIONS)
                + ")"
            )
        if (s.tp or 1) > 1 or s.pp > 1:
            raise InvalidSpecError(
                "transformers generate splits whole layers over GPUs with device_map='auto';"
                " drop --tp/--pp for --engine transformers"
            )
        if s.ngl is not None or s.cpu_moe or s.n_cpu_moe or s.tensor_split is not None:
            raise InvalidSpecError(
                "-ngl, --cpu-moe and --tensor-split are llama.cpp options, not transformers'"
            )
        fmt = req.weights().format
        if fmt.family is Family.GGUF:
            raise InvalidSpecError(
                f"transformers dequantizes GGUF {fmt.label} files to 16 bits on load; price"
                " --quant BF16 (or AWQ, GPTQ, BNB-NF4, FP8) for --engine transformers"
            )
        refuse_transformers_fp8(fmt, req.system.gpu)
        if fmt in _REJECTED:
            raise InvalidSpecError(
                f"{_REJECTED[fmt]}; price --quant BF16 for --engine transformers"
                " (allowed: BF16, F16, F32, FP8, INT8, AWQ, GPTQ, BNB-*)"
            )
        if req.kv_type not in (KVCacheType.F16, KVCacheType.BF16, KVCacheType.F32):
            raise InvalidSpecError(
                f"transformers' DynamicCache is in the model dtype, not {req.kv_type.flag}"
                " (allowed: f16, bf16, f32)"
            )
        if req.arch.has_state:
            raise UnsupportedArchitectureError(
                "rigfit does not yet replay transformers' linear-attention and Mamba caches"
                " (Qwen3-Next, Mamba2 hybrids); use --engine llama.cpp"
            )
        if req.arch.attention.indexer is not None:
            raise UnsupportedArchitectureError(
                "rigfit does not yet replay transformers' DeepSeek-V3.2 cache (latent plus"
                " indexer keys); use --engine llama.cpp, vllm or sglang"
            )

    # ---- placement --------------------------------------------------------------------------

    def placement(self, req: Request) -> tuple[list[int], tuple[int, ...], int, int]:
        """(device of each layer, weight bytes per device, embedding device, head device).

        Units in order (embedding and vision tower, layer 0 ... n-1, final norm and head) go
        to device 0 until its share of the total (in proportion to its memory) is reached,
        then to the next; the last device takes the rest. A tied head stays with the
        embedding (accelerate keeps tied parameters together).
        """
        n_dev = req.system.n_devices
        n_layers = req.arch.num_layers
        units = [0] * (n_layers + 2)  # 0: embedding, 1..n: layers, n+1: head
        for t in request_tensors(req):
            if t.kind in (Kind.EMBEDDING, Kind.VISION):
                units[0] += t.nbytes
            elif t.kind is Kind.OUTPUT:
                units[-1] += t.nbytes
            else:
                assert t.layer is not None
                if t.layer < n_layers:
                    units[t.layer + 1] += t.nbytes
        caps = req.system.capacities_bytes
        total = sum(units)
        targets = [total * c / sum(caps) for c in caps]
        where: list[int] = []
        per = [0] * n_dev
        d = 0
        for i, b in enumerate(units):
            tied_head = i == len(units) - 1 and req.arch.tie_word_embeddings
            if tied_head:
                where.append(where[0])
                per[where[0]] += b
                continue
            if per[d] and per[d] + b > targets[d] and d < n_dev - 1:
                d += 1
            where.append(d)
            per[d] += b
        return where[1:-1], tuple(per), where[0], where[-1]

    def split(self, req: Request) -> Split:
        layers, _, _, head = self.placement(req)
        return Split(SplitKind.LAYERS, tuple(layers), head)

    # ---- bytes ------------------------------------------------------------------------------

    def kv_elems_per_token_layer(self, req: Request) -> int:
        return per_head_kv_elems(req.arch)

    def layer_tokens(self, req: Request, layer: LayerSpec) -> int:
        if layer.kind.windowed:
            assert layer.window is not None
            # DynamicSlidingWindowLayer keeps "the last self.sliding_window - 1 tokens"; Llama 4's
            # chunked layers get one with sliding_window = attention_chunk_size
            # (cache_utils.py DynamicCache(config=...), transformers 5.x)
            return min(req.ctx_tokens, layer.window - 1)
        return req.ctx_tokens

    def _layer_activation(self, req: Request, layer: LayerSpec) -> int:
        """Peak bytes of one layer's prefill over seqs × ctx tokens."""
        arch, a, h = req.arch, req.arch.attention, req.arch.hidden_size
        tok = req.seqs * req.ctx_tokens
        dt = self.dtype_bytes(req)
        attn_impl = self.attn(req)
        if a.kind is AttentionKind.MLA:
            assert a.v_head_dim is not None
            assert a.qk_nope_head_dim is not None
            assert a.kv_lora_rank is not None
            assert a.qk_rope_head_dim is not None
            # q, the latent, kv_b's output, the assembled keys, values and attention output
            attn = a.num_heads * a.head_dim + a.kv_lora_rank + a.qk_rope_head_dim
            attn += a.num_heads * (a.qk_nope_head_dim + a.v_head_dim)
            attn += a.num_heads * a.head_dim + 2 * a.num_heads * a.v_head_dim
            repeat = 0
        else:
            attn = a.qkv_width() + a.out_width()
            # eager repeats K and V to every query head (repeat_kv copies); sdpa passes
            # enable_gqa=True when no mask is needed (sdpa_attention.py use_gqa_in_sdpa)
            grouped = a.num_kv_heads < a.num_heads
            repeat = 2 * a.num_heads * a.head_dim if attn_impl == "eager" and grouped else 0
        if layer.moe and arch.moe is not None:
            m = arch.moe
            # the expert loop: router logits, the output accumulator, and on average
            # tokens × top-k / experts rows through one expert's gate, up and product
            routed = -(-3 * m.expert_intermediate_size * m.experts_per_token // m.num_experts)
            mlp = m.num_experts + h + routed
            mlp += 3 * m.shared_intermediate_size
        else:
            mlp = 3 * layer.dense_intermediate_size  # act(gate), up and their product
        out = tok * dt * (2 * h + max(attn + repeat, mlp))
        if attn_impl == "eager":
            # prefill attends over the whole prompt (a sliding layer masks, it does not
            # shorten): scores and the 4D mask are ctx × ctx
            scores = req.seqs * a.num_heads * req.ctx_tokens * req.ctx_tokens
            mask = req.seqs * req.ctx_tokens * req.ctx_tokens * dt
            out += scores * (2 * dt + SOFTMAX_BYTES) + mask
        return out

    def logits_bytes(self, req: Request) -> int:
        """Final norm over the prompt, then the head on the last position, copied to f32."""
        dt = self.dtype_bytes(req)
        tok = req.seqs * req.ctx_tokens
        return tok * req.arch.hidden_size * dt + req.seqs * req.arch.vocab_size * (dt + LOGIT_BYTES)

    # ---- the profile ------------------------------------------------------------------------

    def terms(self, req: Request) -> list[Term]:
        self._check(req)
        arch, n_dev = req.arch, req.system.n_devices
        layer_dev, w_dev, _, head_dev = self.placement(req)
        dt = self.dtype_bytes(req)
        row = self.kv_elems_per_token_layer(req) * dt
        kv = [0] * n_dev
        concat = [0] * n_dev
        act = [0] * n_dev
        for layer in arch.layers:
            d = layer_dev[layer.index]
            kv[d] += req.seqs * self.layer_tokens(req, layer) * row
            concat[d] = max(concat[d], req.seqs * req.ctx_tokens * row)
            act[d] = max(act[d], self._layer_activation(req, layer))
        act[head_dev] = max(act[head_dev], self.logits_bytes(req))
        used = [d for d in range(n_dev) if w_dev[d] or kv[d]]
        reserve = tuple(CUDA_CONTEXT_BYTES if d in used else 0 for d in range(n_dev))
        attn_impl = self.attn(req)
        return [
            Term(
                TermKind.WEIGHTS,
                f"weights ({req.weights().format.label})",
                sum(w_dev),
                max(w_dev),
                "device_map='auto': embedding, layers and head in order, whole layers per GPU,"
                " balanced over the GPUs' memory; a tied head stays with the embedding",
                {"layers": arch.num_layers, "gpus_used": len(used)},
                per_device=w_dev,
            ),
            Term(
                TermKind.KV_CACHE,
                f"DynamicCache ({'f32' if dt == 4 else '16-bit'}, model dtype)",
                sum(kv),
                max(kv),
                "seqs × Σ_layers tokens × K+V elements × dtype; sliding layers keep window − 1"
                " tokens; MLA caches per-head K (nope + rope) and V",
                {
                    "seqs": req.seqs,
                    "ctx_tokens": req.ctx_tokens,
                    "elems_per_token_layer": self.kv_elems_per_token_layer(req),
                },
                per_device=tuple(kv),
            ),
            Term(
                TermKind.KV_CONCAT,
                "cache concatenation (one layer twice)",
                sum(concat),
                max(concat),
                "torch.cat of a layer's cache with the new token: seqs × ctx × K+V row of one"
                " layer, on each GPU",
                {"bytes_per_token_layer": row},
                per_device=tuple(concat),
            ),
            Term(
                TermKind.ACTIVATIONS,
                f"prefill activations ({attn_impl})",
                sum(act),
                max(act),
                "seqs × ctx × (2 × hidden + widest of q/k/v/out and the MLP) × dtype"
                + (
                    " + seqs × heads × ctx² × (2 × dtype + 4 B) f32-softmaxed scores + mask"
                    if attn_impl == "eager"
                    else ""
                )
                + "; on the head's GPU max(that, hidden × ctx + last logits in dtype and f32)",
                {"attn_implementation": attn_impl, "prompt_tokens": req.ctx_tokens},
                per_device=tuple(act),
            ),
            Term(
                TermKind.RESERVE,
                "CUDA context",
                sum(reserve),
                max(reserve),
                "0.84 GiB on every GPU the model uses (torch start-up on an H100)",
                {"per_gpu_bytes": CUDA_CONTEXT_BYTES},
                per_device=reserve,
            ),
        ]

    def notes(self, req: Request) -> tuple[str, ...]:
        out = [
            "transformers reads the whole prompt at once: rigfit assumes the full context is"
            " the prompt (the worst case); PyTorch's caching allocator adds fragmentation"
            " that rigfit does not model",
        ]
        if self.attn(req) == "eager":
            out.append(
                "eager attention keeps seqs × heads × prompt² scores; attn_implementation="
                "'sdpa' or 'flash_attention_2' avoids them"
            )
        if req.seqs > 1:
            out.append(
                f"{req.seqs} sequences are one padded batch; unequal prompt lengths need an"
                " attention mask, which sends sdpa to its math kernel (scores materialized)"
            )
        return tuple(out)

    def command(self, req: Request, model_ref: str) -> str:
        bnb = _BNB_CONFIG.get(req.weight_format) if req.quantized_at_load() else None
        # a model with a vision tower loads through the image-text-to-text class: its
        # ...ForConditionalGeneration is not in the causal-LM mapping (Mistral3Config,
        # Qwen3VLConfig; models/auto/modeling_auto.py MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES),
        # and Llama 4's causal-LM class would leave the priced tower out
        auto = "AutoModelForImageTextToText" if req.arch.vision else "AutoModelForCausalLM"
        imports = auto + (", BitsAndBytesConfig" if bnb else "")
        quant = f" quantization_config=BitsAndBytesConfig({bnb})," if bnb else ""
        return (
            f'python -c "from transformers import {imports};'
            f" {auto}.from_pretrained('{model_ref}', device_map='auto',"
            f"{quant} dtype='auto', attn_implementation='{self.attn(req)}')\""
        )


TRANSFORMERS = TransformersProfile()
