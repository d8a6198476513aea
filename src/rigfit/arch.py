"""Model architecture, per layer: attention kind, KV heads, windows, experts, tensor inventory.

:func:`from_config` reads the keys of a Hugging Face ``config.json`` (as stored verbatim in the
catalog, or read from a user's file later) into an :class:`Architecture`. Each supported
``model_type`` is read by rules that mirror its transformers modeling file; any other
``model_type`` fails closed with :class:`UnsupportedArchitectureError` rather than being priced
by a generic guess.

The architecture lists every weight tensor with its shape (:meth:`Architecture.tensors`), named
as in GGUF files (``blk.0.attn_q.weight``). Parameter counts, checkpoint sizes and quantized
sizes are sums over that inventory, so they can never disagree with each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import field, replace
from enum import Enum, StrEnum
from functools import cached_property

from rigfit.catalog.schema import HFConfig, VisionConfig
from rigfit.errors import UnsupportedArchitectureError
from rigfit.families import FAMILIES
from rigfit.frozen import frozen
from rigfit.quant import KVCacheType

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "Architecture",
    "AttentionKind",
    "AttentionSpec",
    "IndexerSpec",
    "KVLayout",
    "LayerKind",
    "LayerSpec",
    "LinearAttentionSpec",
    "MambaSpec",
    "MoESpec",
    "Role",
    "Tensor",
    "from_config",
    "heads_note",
    "kv_heads_note",
    "nas_intermediate",
]


class AttentionKind(StrEnum):
    MHA = "multi-head attention"
    GQA = "grouped-query attention"
    MQA = "multi-query attention"
    MLA = "multi-head latent attention"

    @classmethod
    def of(cls, heads: int, kv_heads: int) -> AttentionKind:
        """The grouping of ``heads`` query heads over ``kv_heads`` KV heads."""
        if kv_heads == heads:
            return cls.MHA
        return cls.MQA if kv_heads == 1 else cls.GQA


class KVLayout(Enum):
    """How an engine caches one token of one attention layer. Grouped-query layers cache K and V
    per KV head in every layout; the layouts differ for MLA (multi-head latent attention)."""

    LATENT = "MLA: the latent plus the rope key, V a view of it (vLLM, SGLang, llama.cpp PR #19067)"
    LATENT_KV = "MLA: latent + rope K and a kv_lora_rank V (llama.cpp PR #12801 to #19067)"
    PER_HEAD = "MLA decompressed: per-head K and V (transformers, mlx-lm, llama.cpp before #12801)"


class LayerKind(StrEnum):
    """What a layer keeps per sequence: a growing KV cache, a windowed one, or a fixed state."""

    FULL = "full_attention"
    SLIDING = "sliding_attention"
    # Llama 4: attention within fixed chunks of attention_chunk_size tokens; a layer needs at
    # most the current chunk, so engines cap its cache like a window
    CHUNKED = "chunked_attention"
    LINEAR = "linear_attention"
    # a Mamba2 mixer (Nemotron-H 'M', Granite 4 'mamba'): a fixed conv and SSM state per sequence
    MAMBA = "mamba"
    # Falcon-H1: attention and a Mamba2 mixer side by side on one input, both cached
    HYBRID = "hybrid"
    # Nemotron-H '-' and 'E': an MLP or MoE block with no token mixer, so nothing cached
    FFN_ONLY = "ffn_only"

    @property
    def windowed(self) -> bool:
        """Whether the layer's cache stops at ``LayerSpec.window`` tokens (of some engine)."""
        return self in _WINDOWED

    @property
    def keeps_kv(self) -> bool:
        return self in _KEEPS_KV

    @property
    def keeps_state(self) -> bool:
        return self in _KEEPS_STATE


_WINDOWED = frozenset({LayerKind.SLIDING, LayerKind.CHUNKED})
_KEEPS_KV = frozenset({LayerKind.FULL, LayerKind.SLIDING, LayerKind.CHUNKED, LayerKind.HYBRID})
_KEEPS_STATE = frozenset({LayerKind.LINEAR, LayerKind.MAMBA, LayerKind.HYBRID})


class Role(Enum):
    """What a tensor is for: ``(name, quantizable by GPU formats, is a routed expert)``."""

    TOKEN_EMBD = ("token_embd", False, False)
    OUTPUT = ("output", False, False)
    NORM = ("norm", False, False)
    BIAS = ("bias", False, False)
    ATTN_Q = ("attn_q", True, False)
    ATTN_K = ("attn_k", True, False)
    ATTN_V = ("attn_v", True, False)
    ATTN_OUTPUT = ("attn_output", True, False)
    ATTN_SINKS = ("attn_sinks", False, False)
    ATTN_Q_A = ("attn_q_a", True, False)  # MLA low-rank query down-projection
    ATTN_Q_B = ("attn_q_b", True, False)
    ATTN_KV_A = ("attn_kv_a_mqa", True, False)  # MLA latent + rope key projection
    ATTN_KV_B = ("attn_kv_b", True, False)
    FFN_GATE = ("ffn_gate", True, False)
    FFN_UP = ("ffn_up", True, False)
    FFN_DOWN = ("ffn_down", True, False)
    ROUTER = ("ffn_gate_inp", False, False)
    EXP_GATE = ("ffn_gate_exps", True, True)
    EXP_UP = ("ffn_up_exps", True, True)
    EXP_DOWN = ("ffn_down_exps", True, True)
    SHEXP_GATE = ("ffn_gate_shexp", True, False)
    SHEXP_UP = ("ffn_up_shexp", True, False)
    SHEXP_DOWN = ("ffn_down_shexp", True, False)
    SHEXP_ROUTER = ("ffn_gate_inp_shexp", False, False)
    # Nemotron 3 Super/Ultra's latent MoE: hidden -> latent before the routed experts and back
    # after (fc1_latent_proj / fc2_latent_proj; GGUF ffn_latent_down / ffn_latent_up, gguf-py
    # constants.py MOE_LATENT_DOWN/UP). NVIDIA's FP8 and NVFP4 checkpoints keep them BF16
    # ("MoE Latent Projection GEMM | BF16", NVIDIA-NeMo/Nemotron docs/nemotron/super3/
    # quantization.md), so GPU formats leave them alone
    LATENT_DOWN = ("ffn_latent_down", False, False)
    LATENT_UP = ("ffn_latent_up", False, False)
    SSM_IN = ("ssm_in", True, False)  # gated DeltaNet input projections
    SSM_OUT = ("ssm_out", True, False)
    SSM_CONV = ("ssm_conv1d", False, False)
    SSM_OTHER = ("ssm_other", False, False)  # A_log, dt_bias
    # DeepSeek-V3.2's lightning indexer: query and key projections, and the per-head weights
    INDEXER = ("indexer", True, False)
    INDEXER_PROJ = ("indexer_proj", False, False)
    VISION = ("vision", False, False)
    # Gemma 4 E2B/E4B's audio encoder (Gemma4AudioModel) and its embedder: in the mmproj
    # file with the vision tower under llama.cpp, priced like it everywhere (TOWER_ROLES)
    AUDIO = ("audio", False, False)
    # Gemma 4 E2B/E4B's per-layer input embeddings (PLE): one table of every layer's slice,
    # looked up per token like token_embd (llama.cpp LLM_TENSOR_LAYER_INPUT, kept in host
    # memory), and the small projections each layer mixes it in with
    PER_LAYER_EMBD = ("per_layer_token_embd", False, False)
    PER_LAYER = ("per_layer", True, False)

    @property
    def gguf_name(self) -> str:
        return self.value[0]

    @property
    def quantizable(self) -> bool:
        return self.value[1]

    @property
    def is_expert(self) -> bool:
        return self.value[2]


# the encoder towers a multimodal model carries beside its language model: llama.cpp keeps them
# in the mmproj file, mlx-lm and training leave them out, the speed model does not read them
TOWER_ROLES = frozenset({Role.VISION, Role.AUDIO})


@frozen(slots=True)
class Tensor:
    """One weight tensor: ``count`` stacked matrices of ``rows x cols`` (cols = row length).

    ``cols`` is the input dimension, GGML's ``ne[0]``: block quantization runs along it.
    A vector has ``rows == 1``.
    """

    name: str
    rows: int
    cols: int
    role: Role
    layer: int | None = None
    count: int = 1

    @property
    def numel(self) -> int:
        return self.rows * self.cols * self.count


@frozen(slots=True)
class IndexerSpec:
    """DeepSeek-V3.2's lightning indexer (DSA): one cached key of ``head_dim`` per token and
    layer, scored by ``n_heads`` query heads to pick the ``topk`` tokens MLA attends to
    (transformers modeling_deepseek_v32.py DeepseekV32Indexer)."""

    n_heads: int
    head_dim: int
    topk: int

    def tensors(self, h: int, q_lora_rank: int, p: str, i: int) -> Iterator[Tensor]:
        d = self.head_dim
        yield Tensor(p + "indexer.attn_q_b.weight", self.n_heads * d, q_lora_rank, Role.INDEXER, i)
        yield Tensor(p + "indexer.attn_k.weight", d, h, Role.INDEXER, i)
        yield Tensor(p + "indexer.k_norm.weight", 1, d, Role.NORM, i)
        yield Tensor(p + "indexer.k_norm.bias", 1, d, Role.BIAS, i)
        yield Tensor(p + "indexer.proj.weight", self.n_heads, h, Role.INDEXER_PROJ, i)


@frozen(slots=True)
class AttentionSpec:
    kind: AttentionKind
    num_heads: int
    num_kv_heads: int
    head_dim: int  # for MLA: qk head dim (nope + rope)
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: bool = False
    # MiniMax-M2's qk_norm_type "per_layer": one RMSNorm over all heads' q (and k) at once
    qk_norm_all_heads: bool = False
    q_gate: bool = False  # Qwen3-Next gated attention: q_proj also emits a gate
    sinks: bool = False  # gpt-oss learned attention sinks, one per head
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    indexer: IndexerSpec | None = None
    # Gemma 4's full-attention layers (attention_k_eq_v): no v_proj, V is the raw K projection
    # under a weightless RMSNorm (modeling_gemma4.py Gemma4TextAttention, transformers 5.5.0
    # l.1168-1172, l.1204-1212); the cache still keeps K and V apart, so only weights shrink
    k_eq_v: bool = False

    def kv_heads_per_rank(self, tp: int = 1) -> int:
        """KV heads one of ``tp`` tensor-parallel ranks keeps: its share, or one replicated
        head when there are fewer KV heads than ranks (vLLM and SGLang replicate them)."""
        return max(1, self.num_kv_heads // tp)

    def kv_row(self, layout: KVLayout = KVLayout.LATENT, tp: int = 1) -> tuple[int, int]:
        """(K, V) elements one token caches in one layer of one of ``tp`` ranks: the one home
        of the KV row, which every engine asks for in its own layout.

        Grouped-query: K and V per KV head of the rank (``n_kv/tp × head_dim`` each). MLA: the
        compressed latent plus the decoupled rope key (``kv_lora_rank + qk_rope_head_dim``),
        whole on every rank (DeepSeek-V2 section 2.1), with V a view of it (``LATENT``) or
        stored again (``LATENT_KV``); or decompressed per head, ``n_heads × (nope + rope)`` K
        and ``n_heads × v_head_dim`` V (``PER_HEAD``).

        >>> AttentionSpec(AttentionKind.GQA, 64, 8, 128).kv_row(tp=4)
        (256, 256)
        >>> mla = AttentionSpec(AttentionKind.MLA, 128, 128, 192, kv_lora_rank=512,
        ...                     qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)
        >>> mla.kv_row(), mla.kv_row(KVLayout.LATENT_KV), mla.kv_row(KVLayout.PER_HEAD)
        ((576, 0), (576, 512), (24576, 16384))
        """
        if self.kind is not AttentionKind.MLA:
            row = self.kv_heads_per_rank(tp) * self.head_dim
            return row, row
        assert self.kv_lora_rank is not None
        assert self.qk_rope_head_dim is not None
        assert self.v_head_dim is not None
        if layout is KVLayout.PER_HEAD:
            return self.num_heads * self.head_dim, self.num_heads * self.v_head_dim
        latent = self.kv_lora_rank + self.qk_rope_head_dim
        return latent, (self.kv_lora_rank if layout is KVLayout.LATENT_KV else 0)

    def qkv_width(self) -> int:
        """Elements per token of the queries, keys and values attention reads: every head's
        q, and K and V per KV head (grouped-query); MLA decompressed per head, q and K of
        ``nope + rope`` and V of ``v_head_dim`` (llama.cpp's and vLLM's prefill path). Engines
        scale it by their own tokens, dtype and tensor-parallel share.

        >>> AttentionSpec(AttentionKind.GQA, 32, 8, 128).qkv_width()
        6144
        >>> AttentionSpec(AttentionKind.MLA, 128, 128, 192, kv_lora_rank=512,
        ...     qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128).qkv_width()
        65536
        """
        if self.kind is AttentionKind.MLA:
            assert self.v_head_dim is not None
            return self.num_heads * (2 * self.head_dim + self.v_head_dim)
        return (self.num_heads + 2 * self.num_kv_heads) * self.head_dim

    def out_width(self) -> int:
        """Elements per token of the attention output, before o_proj: every head's V."""
        if self.kind is AttentionKind.MLA:
            assert self.v_head_dim is not None
            return self.num_heads * self.v_head_dim
        return self.num_heads * self.head_dim

    def kv_elems_per_token(self, layout: KVLayout = KVLayout.LATENT, tp: int = 1) -> int:
        """Cached elements per token per layer (of one rank): K and V of :meth:`kv_row`."""
        return sum(self.kv_row(layout, tp))

    def tensors(self, h: int, p: str, i: int) -> Iterator[Tensor]:
        """The attention tensors of layer ``i`` (``p`` names the block), GGUF-named."""
        if self.kind is AttentionKind.MLA:
            yield from self._mla_tensors(h, p, i)
            return
        # grouped-query, multi-query or multi-head attention
        a = self
        q_rows = a.num_heads * a.head_dim * (2 if a.q_gate else 1)
        kv_rows = a.num_kv_heads * a.head_dim
        yield Tensor(p + "attn_q.weight", q_rows, h, Role.ATTN_Q, i)
        yield Tensor(p + "attn_k.weight", kv_rows, h, Role.ATTN_K, i)
        if not a.k_eq_v:
            yield Tensor(p + "attn_v.weight", kv_rows, h, Role.ATTN_V, i)
        yield Tensor(p + "attn_output.weight", h, a.num_heads * a.head_dim, Role.ATTN_OUTPUT, i)
        if a.qkv_bias:
            yield Tensor(
                p + "attn_qkv.bias", 1, a.num_heads * a.head_dim + 2 * kv_rows, Role.BIAS, i
            )
        if a.o_bias:
            yield Tensor(p + "attn_output.bias", 1, h, Role.BIAS, i)
        if a.qk_norm:
            q_norm = a.num_heads * a.head_dim if a.qk_norm_all_heads else a.head_dim
            k_norm = kv_rows if a.qk_norm_all_heads else a.head_dim
            yield Tensor(p + "attn_q_norm.weight", 1, q_norm, Role.NORM, i)
            yield Tensor(p + "attn_k_norm.weight", 1, k_norm, Role.NORM, i)
        if a.sinks:
            yield Tensor(p + "attn_sinks.weight", 1, a.num_heads, Role.ATTN_SINKS, i)

    def _mla_tensors(self, h: int, p: str, i: int) -> Iterator[Tensor]:
        # DeepSeek-V2/V3 MLA, transformers modeling_deepseek_v3.py DeepseekV3Attention
        assert self.kv_lora_rank
        assert self.qk_rope_head_dim
        assert self.qk_nope_head_dim
        assert self.v_head_dim
        q_dim = self.num_heads * (self.qk_nope_head_dim + self.qk_rope_head_dim)
        if self.q_lora_rank:
            yield Tensor(p + "attn_q_a.weight", self.q_lora_rank, h, Role.ATTN_Q_A, i)
            yield Tensor(p + "attn_q_a_norm.weight", 1, self.q_lora_rank, Role.NORM, i)
            yield Tensor(p + "attn_q_b.weight", q_dim, self.q_lora_rank, Role.ATTN_Q_B, i)
        else:
            yield Tensor(p + "attn_q.weight", q_dim, h, Role.ATTN_Q, i)
        yield Tensor(
            p + "attn_kv_a_mqa.weight",
            self.kv_lora_rank + self.qk_rope_head_dim,
            h,
            Role.ATTN_KV_A,
            i,
        )
        yield Tensor(p + "attn_kv_a_norm.weight", 1, self.kv_lora_rank, Role.NORM, i)
        yield Tensor(
            p + "attn_kv_b.weight",
            self.num_heads * (self.qk_nope_head_dim + self.v_head_dim),
            self.kv_lora_rank,
            Role.ATTN_KV_B,
            i,
        )
        yield Tensor(
            p + "attn_output.weight", h, self.num_heads * self.v_head_dim, Role.ATTN_OUTPUT, i
        )
        if self.indexer is not None:
            assert self.q_lora_rank
            yield from self.indexer.tensors(h, self.q_lora_rank, p, i)


@frozen(slots=True)
class MoESpec:
    num_experts: int
    experts_per_token: int
    expert_intermediate_size: int
    num_shared_experts: int = 0
    shared_intermediate_size: int = 0  # total width of the shared expert MLP
    shared_expert_gate: bool = False  # Qwen-MoE's sigmoid gate on the shared expert
    router_bias: bool = False  # gpt-oss router bias; DeepSeek-V3's e_score_correction_bias
    expert_bias: bool = False  # gpt-oss expert biases
    # Gemma 4 (modeling_gemma4.py, transformers 5.5.0 l.1252-1253, l.1291-1294, l.1340-1346):
    # gate and up in one gate_up_proj (GGUF ffn_gate_up_exps), a router scale over the hidden
    # size and one per expert, and three more norms around the expert branch
    fused_gate_up: bool = False
    router_scales: bool = False
    branch_norms: int = 0
    # Nemotron 3 Super/Ultra (moe_latent_size; transformers modeling_nemotron_h.py
    # NemotronHMoE and NemotronHExperts): the routed experts read and write a latent of this
    # width, projected from and back to the hidden size; the router and the shared expert stay
    # on the hidden size (0 = no latent: experts work on the hidden size)
    latent_size: int = 0

    def expert_width(self, h: int) -> int:
        """The width the routed experts read and write: the latent, else the hidden size."""
        return self.latent_size or h

    def tensors(self, h: int, p: str, i: int, gated: bool) -> Iterator[Tensor]:
        """The layer's routed experts, router and shared expert (``p`` names the block)."""
        e, inter = self.num_experts, self.expert_intermediate_size
        yield Tensor(p + "ffn_gate_inp.weight", e, h, Role.ROUTER, i)
        if self.router_bias:
            yield Tensor(p + "ffn_gate_inp.bias", 1, e, Role.BIAS, i)
        if self.router_scales:
            yield Tensor(p + "ffn_gate_inp.scale", 1, h, Role.NORM, i)
            yield Tensor(p + "ffn_down_exps.scale", 1, e, Role.NORM, i)
        for n in range(self.branch_norms):
            yield Tensor(p + f"ffn_branch_norm_{n}.weight", 1, h, Role.NORM, i)
        if self.latent_size:
            yield Tensor(p + "ffn_latent_down.weight", self.latent_size, h, Role.LATENT_DOWN, i)
            yield Tensor(p + "ffn_latent_up.weight", h, self.latent_size, Role.LATENT_UP, i)
        # the router, its scales and norms and the shared expert work on the hidden size; the
        # routed experts on expert_width
        shared_h, h = h, self.expert_width(h)
        if gated and self.fused_gate_up:
            yield Tensor(p + "ffn_gate_up_exps.weight", 2 * inter, h, Role.EXP_UP, i, count=e)
        elif gated:
            yield Tensor(p + "ffn_gate_exps.weight", inter, h, Role.EXP_GATE, i, count=e)
        if not (gated and self.fused_gate_up):
            yield Tensor(p + "ffn_up_exps.weight", inter, h, Role.EXP_UP, i, count=e)
        yield Tensor(p + "ffn_down_exps.weight", h, inter, Role.EXP_DOWN, i, count=e)
        if self.expert_bias:
            yield Tensor(
                p + "ffn_exps.bias", 1, e * ((2 if gated else 1) * inter + h), Role.BIAS, i
            )
        if self.shared_intermediate_size:
            yield from _mlp_tensors(
                shared_h, self.shared_intermediate_size, p, i, gated, False, shared=True
            )
            if self.shared_expert_gate:
                yield Tensor(p + "ffn_gate_inp_shexp.weight", 1, shared_h, Role.SHEXP_ROUTER, i)


@frozen(slots=True)
class LinearAttentionSpec:
    """Qwen3-Next's gated DeltaNet: a fixed recurrent state and a short conv per sequence."""

    num_key_heads: int
    num_value_heads: int
    key_head_dim: int
    value_head_dim: int
    conv_kernel: int

    @property
    def key_dim(self) -> int:
        return self.num_key_heads * self.key_head_dim

    @property
    def value_dim(self) -> int:
        return self.num_value_heads * self.value_head_dim

    @property
    def conv_dim(self) -> int:
        return 2 * self.key_dim + self.value_dim

    def working_width(self) -> int:
        """Elements per token live in the mixer: in_proj's q, k, v, z, b and a, and the
        output before out_proj (Qwen3NextGatedDeltaNet.forward)."""
        return 2 * self.key_dim + 2 * self.value_dim + 2 * self.num_value_heads + self.value_dim

    def state_elems(self) -> int:
        """Elements of state per sequence per layer: conv window + the DeltaNet state matrix.

        conv: ``(kernel - 1) * conv_dim``; recurrent: ``num_value_heads * k_dim * v_dim``
        (transformers Qwen3NextDynamicCache conv_states / recurrent_states shapes).
        """
        conv = (self.conv_kernel - 1) * self.conv_dim
        recurrent = self.num_value_heads * self.key_head_dim * self.value_head_dim
        return conv + recurrent

    def tensors(self, h: int, p: str, i: int) -> Iterator[Tensor]:
        """The gated DeltaNet tensors of layer ``i`` (``p`` names the block)."""
        # transformers modeling_qwen3_next.py Qwen3NextGatedDeltaNet
        yield Tensor(
            p + "ssm_in_qkvz.weight", 2 * self.key_dim + 2 * self.value_dim, h, Role.SSM_IN, i
        )
        yield Tensor(p + "ssm_in_ba.weight", 2 * self.num_value_heads, h, Role.SSM_IN, i)
        yield Tensor(p + "ssm_conv1d.weight", self.conv_dim, self.conv_kernel, Role.SSM_CONV, i)
        yield Tensor(p + "ssm_a_dt.weight", 1, 2 * self.num_value_heads, Role.SSM_OTHER, i)
        yield Tensor(p + "ssm_norm.weight", 1, self.value_head_dim, Role.NORM, i)
        yield Tensor(p + "ssm_out.weight", h, self.value_dim, Role.SSM_OUT, i)


@frozen(slots=True)
class MambaSpec:
    """A Mamba2 mixer, the same in Nemotron-H, Granite 4 and Falcon-H1 (transformers
    modeling_nemotron_h.py NemotronHMamba2Mixer l.593-635, modeling_granitemoehybrid.py
    l.707-753, modeling_falcon_h1.py l.786-841): in_proj emits z, x, B, C and dt; a depthwise
    conv over x, B and C; per-head dt_bias, A_log and D; a gated RMSNorm; out_proj."""

    num_heads: int
    head_dim: int
    state_size: int
    n_groups: int
    conv_kernel: int
    in_bias: bool = False
    out_bias: bool = False
    conv_bias: bool = True
    gated_norm: bool = True

    @property
    def d_inner(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def conv_dim(self) -> int:
        return self.d_inner + 2 * self.n_groups * self.state_size

    def working_width(self) -> int:
        """Elements per token live in the mixer: in_proj's z, x, B, C and dt, and the gated
        output before out_proj (NemotronHMamba2Mixer.torch_forward)."""
        return (
            2 * self.d_inner + 2 * self.n_groups * self.state_size + self.num_heads + self.d_inner
        )

    def state_elems(self) -> int:
        """Elements of state per sequence per layer: ``(conv_kernel - 1) × conv_dim`` of conv
        window and ``heads × head_dim × state_size`` of SSM state (llama.cpp n_embd_r and
        n_embd_s, vLLM MambaStateShapeCalculator.mamba2_state_shape)."""
        return (self.conv_kernel - 1) * self.conv_dim + self.d_inner * self.state_size

    def tensors(self, h: int, p: str, i: int) -> Iterator[Tensor]:
        in_rows = 2 * self.d_inner + 2 * self.n_groups * self.state_size + self.num_heads
        yield Tensor(p + "ssm_in.weight", in_rows, h, Role.SSM_IN, i)
        if self.in_bias:
            yield Tensor(p + "ssm_in.bias", 1, in_rows, Role.BIAS, i)
        yield Tensor(p + "ssm_conv1d.weight", self.conv_dim, self.conv_kernel, Role.SSM_CONV, i)
        if self.conv_bias:
            yield Tensor(p + "ssm_conv1d.bias", 1, self.conv_dim, Role.BIAS, i)
        for name in ("ssm_dt.bias", "ssm_a", "ssm_d"):
            yield Tensor(p + name, 1, self.num_heads, Role.SSM_OTHER, i)
        if self.gated_norm:
            yield Tensor(p + "ssm_norm.weight", 1, self.d_inner, Role.NORM, i)
        yield Tensor(p + "ssm_out.weight", h, self.d_inner, Role.SSM_OUT, i)
        if self.out_bias:
            yield Tensor(p + "ssm_out.bias", 1, h, Role.BIAS, i)


@frozen(slots=True)
class LayerSpec:
    index: int
    kind: LayerKind
    window: int | None  # tokens, for sliding layers
    moe: bool
    dense_intermediate_size: int  # the MLP width when not MoE
    has_ffn: bool = True  # False for Nemotron-H's mixer-only layers ('M' and '*')
    # this layer's own attention geometry where it differs from Architecture.attention (Gemma
    # 4's full layers: global_head_dim and num_global_key_value_heads); read through
    # Architecture.attn
    attention: AttentionSpec | None = None
    # this layer's norms where they differ from Architecture.norms_per_layer (a DeciLM block
    # without attention has no input_layernorm, one without an MLP no post_attention_layernorm)
    norms: int | None = None
    # the layer whose KV cache this one attends over (Gemma 4 E2B/E4B's KV-shared layers):
    # it caches nothing. Its K and V projections are still in the published checkpoint and
    # in GGUF files (convert_hf_to_gguf keeps them, llama.cpp loads them as optional tensors:
    # src/models/gemma4.cpp), so they are counted; transformers and vLLM drop them on load
    kv_source: int | None = None

    @property
    def caches_kv(self) -> bool:
        """Whether the layer keeps a KV cache of its own."""
        return self.kind.keeps_kv and self.kv_source is None


@frozen(slots=True)
class PatchMerger:
    """Mistral 3's projector from the Pixtral tower into the language model
    (Mistral3MultiModalProjector, transformers modeling_mistral3.py): an RMSNorm over the
    tower's width, a bias-free merging Linear over spatial_merge_size² patches, then linear_1
    (the tower's width × the feature layers -> the text width) and linear_2 (text -> text),
    both biased when multimodal_projector_bias."""

    spatial_merge_size: int
    bias: bool
    feature_layers: int  # 1 for an int vision_feature_layer, else how many are concatenated


@frozen(slots=True)
class Gemma4Audio:
    """Gemma 4 E2B/E4B's audio encoder (Gemma4AudioModel, transformers modeling_gemma4.py) and
    the embedder into the text model, from the keys of ``audio_config`` it needs."""

    hidden_size: int
    layers: int
    heads: int
    conv_kernel: int
    subsample_channels: tuple[int, int]
    output_dims: int
    clipped: bool

    @classmethod
    def from_config(cls, raw: dict[str, object], model_type: str) -> Gemma4Audio:
        def need(key: str) -> int:
            v = raw.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise UnsupportedArchitectureError(
                    f"{model_type}: audio_config lacks a positive integer {key!r}, which its"
                    " audio tower needs"
                )
            return v

        kind = raw.get("model_type")
        if kind != "gemma4_audio":
            raise UnsupportedArchitectureError(
                f"{model_type}: audio_config of {kind!r}; rigfit counts Gemma 4's own"
                " gemma4_audio tower only"
            )
        channels = raw.get("subsampling_conv_channels")
        if not (
            isinstance(channels, list)
            and len(channels) == 2
            and all(isinstance(c, int) and c > 0 for c in channels)
        ):
            raise UnsupportedArchitectureError(
                f"{model_type}: audio_config's subsampling_conv_channels is not two positive"
                " integers"
            )
        d, heads = need("hidden_size"), need("num_attention_heads")
        if d % heads:
            raise UnsupportedArchitectureError(
                f"{model_type}: audio hidden_size {d} is not a multiple of its {heads} heads"
            )
        return cls(
            d,
            need("num_hidden_layers"),
            heads,
            need("conv_kernel_size"),
            (channels[0], channels[1]),
            need("output_proj_dims"),
            raw.get("use_clipped_linears") is True,
        )

    def tensors(self, text_hidden: int) -> Iterator[Tensor]:
        # Gemma4AudioSubSampleConvProjection: two bias-free 3×3 Conv2d (1 -> c0 -> c1), a
        # weight-only LayerNorm after each, and input_proj_linear [D, (c0 // 4) · c1]
        # (the code's expression). Each conformer block: two feed-forwards (D -> 4D -> D, two
        # norms each), q/k/v/post of D × D plus relative_k_proj and a per_dim_scale of the
        # head size, the light conv (linear_start 2D × D, a depthwise conv of conv_kernel,
        # linear_end D × D, two norms) and three block norms: 24·D² + 9·D + K·D + D/heads.
        # ClippableLinears save 4 scalar bounds each (10 a block) when use_clipped_linears.
        # Then output_proj [O, D] with its bias, and embed_audio's bias-free [H_text, O]
        # projection (its pre-norm has no weight).
        d, k = self.hidden_size, self.conv_kernel
        c0, c1 = self.subsample_channels
        sub = 9 * c0 + c0 + 9 * c0 * c1 + c1 + d * (c0 // 4) * c1
        yield Tensor("a.subsample", 1, sub, Role.AUDIO)
        block = 24 * d * d + 9 * d + k * d + d // self.heads + (40 if self.clipped else 0)
        yield Tensor("a.blocks", self.layers, block, Role.AUDIO)
        yield Tensor("a.output_proj", 1, self.output_dims * d + self.output_dims, Role.AUDIO)
        yield Tensor("mm.a.input_projection.weight", text_hidden, self.output_dims, Role.AUDIO)


@frozen(eq=False)
class Architecture:
    """A model's shape, per layer, with everything needed to count bytes exactly."""

    model_type: str
    hidden_size: int
    vocab_size: int
    context_length: int
    attention: AttentionSpec
    layers: tuple[LayerSpec, ...]
    tie_word_embeddings: bool
    activation: str
    normalization: str
    position_embedding: str
    norms_per_layer: int = 2
    gated_ffn: bool = True
    mlp_bias: bool = False
    moe: MoESpec | None = None
    linear_attention: LinearAttentionSpec | None = None
    mamba: MambaSpec | None = None
    mtp_layers: int = 0
    vision: VisionConfig | None = None
    mm_text_hidden: int | None = None
    patch_merger: PatchMerger | None = None  # Mistral 3's projector (Pixtral towers)
    audio: Gemma4Audio | None = None  # Gemma 4 E2B/E4B's audio encoder
    # Gemma 4 E2B/E4B's per-layer inputs: each token's slice of hidden_size_per_layer_input
    # for every layer, from a table of vocab_size_per_layer_input rows (0: none)
    per_layer_input: int = 0
    per_layer_vocab: int = 0
    # Gemma 4's MoE layers run the dense MLP beside the experts (modeling_gemma4.py l.1374-1391)
    dense_beside_moe: bool = False
    # Gemma 4's saved per-layer output scalar (layer_scalar, one element; GGUF
    # layer_output_scale.weight)
    layer_scalar: bool = False
    notes: tuple[str, ...] = field(default=())
    # per-instance memo of derived figures (weights per format...), never compared or hashed;
    # not an init field, so dataclasses.replace gives the copy a memo of its own
    cache: dict[object, object] = field(default_factory=dict, init=False, compare=False, repr=False)

    # ---- summaries ------------------------------------------------------------------------

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @cached_property
    def _kind_counts(self) -> dict[LayerKind, int]:
        counts = dict.fromkeys(LayerKind, 0)
        for layer in self.layers:
            counts[layer.kind] += 1
        return counts

    @cached_property
    def kv_layers(self) -> int:
        """Layers that keep a KV cache of their own (full, sliding or chunked attention)."""
        return sum(1 for x in self.layers if x.caches_kv)

    @cached_property
    def sliding_kv_layers(self) -> int:
        """Sliding-window layers that keep a KV cache of their own."""
        return sum(1 for x in self.layers if x.kind is LayerKind.SLIDING and x.caches_kv)

    @cached_property
    def kv_shared_layers(self) -> tuple[int, ...]:
        """Indices of the layers that attend over another layer's cache (Gemma 4 E2B/E4B)."""
        return tuple(x.index for x in self.layers if x.kv_source is not None)

    @property
    def state_layers(self) -> int:
        """Layers that keep a fixed recurrent state (linear attention or Mamba)."""
        return sum(n for k, n in self._kind_counts.items() if k.keeps_state)

    @property
    def has_state(self) -> bool:
        return self.linear_attention is not None or self.mamba is not None

    def recurrent_width(self, layer: LayerSpec) -> int:
        """Elements per token the layer's linear-attention or Mamba mixer keeps live (0 for
        attention-only layers); engines add it to their own attention working set."""
        if layer.kind is LayerKind.LINEAR:
            assert self.linear_attention is not None
            return self.linear_attention.working_width()
        if layer.kind in (LayerKind.MAMBA, LayerKind.HYBRID):
            assert self.mamba is not None
            return self.mamba.working_width()
        return 0

    def ffn_width(self, layer: LayerSpec) -> int:
        """Intermediate elements per token the layer's FFN computes: top-k routed experts and
        the shared ones on a MoE layer, the dense width otherwise."""
        if layer.moe and self.moe is not None:
            m = self.moe
            width = m.experts_per_token * m.expert_intermediate_size + m.shared_intermediate_size
            return width + (layer.dense_intermediate_size if self.dense_beside_moe else 0)
        return layer.dense_intermediate_size

    def attn(self, layer: LayerSpec) -> AttentionSpec:
        """The attention geometry of ``layer``: its own where it has one, else the model's."""
        return layer.attention or self.attention

    @property
    def mixed_attention(self) -> bool:
        """Whether layers differ in attention geometry (Gemma 4: sliding layers of head_dim and
        KV heads, full layers of global_head_dim and num_global_key_value_heads)."""
        return len(self.attention_specs) > 1

    @cached_property
    def attention_specs(self) -> tuple[AttentionSpec, ...]:
        """The distinct attention geometries of the layers, the model's own first."""
        specs = [self.attention]
        for x in self.layers:
            if x.attention is not None and x.attention not in specs:
                specs.append(x.attention)
        return tuple(specs)

    @cached_property
    def widest_qkv(self) -> int:
        """The largest :meth:`AttentionSpec.qkv_width` over the layers' geometries."""
        return max(a.qkv_width() for a in self.attention_specs)

    @cached_property
    def widest_attn_out(self) -> int:
        """The largest :meth:`AttentionSpec.out_width` over the layers' geometries."""
        return max(a.out_width() for a in self.attention_specs)

    @cached_property
    def widest_ffn(self) -> int:
        """The largest :meth:`ffn_width` over the layers."""
        return max((self.ffn_width(x) for x in self.layers), default=0)

    @cached_property
    def mixer_shapes(self) -> tuple[tuple[bool, int], ...]:
        """The distinct (keeps a KV cache, recurrent working width) pairs of the layers: what
        an engine needs to find its widest mixer without walking every layer."""
        return tuple(sorted({(x.kind.keeps_kv, self.recurrent_width(x)) for x in self.layers}))

    def layers_with(self, spec: AttentionSpec) -> tuple[LayerSpec, ...]:
        """The attention layers whose geometry is ``spec`` (KV-shared layers included: they
        attend with it over another layer's cache)."""
        return tuple(x for x in self.layers if x.kind.keeps_kv and self.attn(x) == spec)

    @cached_property
    def row_parallel_outputs(self) -> int:
        """Row-parallel output projections of one forward pass, each followed by an all-reduce
        under Megatron-style tensor parallelism: a layer's attention (o_proj), Mamba mixer
        (out_proj) and MLP or MoE block (down_proj); Falcon-H1 has both mixers, Nemotron-H's
        blocks one part, a DeciLM block without attention only its MLP."""
        n = 0
        for x in self.layers:
            n += {LayerKind.FFN_ONLY: 0, LayerKind.HYBRID: 2}.get(x.kind, 1)
            n += x.has_ffn
        return n

    @property
    def windowed_layers(self) -> int:
        return self.count_layers(LayerKind.SLIDING) + self.count_layers(LayerKind.CHUNKED)

    def layer_state_elems(self, layer: LayerSpec) -> int:
        """State elements one sequence keeps in ``layer`` (0 for attention-only layers)."""
        if layer.kind is LayerKind.LINEAR:
            assert self.linear_attention is not None
            return self.linear_attention.state_elems()
        if layer.kind in (LayerKind.MAMBA, LayerKind.HYBRID):
            assert self.mamba is not None
            return self.mamba.state_elems()
        return 0

    @cached_property
    def kv_flags(self) -> tuple[bool, ...]:
        """Per layer, whether it keeps a KV cache (sum a slice for a pipeline stage)."""
        return tuple(x.caches_kv for x in self.layers)

    @cached_property
    def state_flags(self) -> tuple[bool, ...]:
        """Per layer, whether it keeps a recurrent state."""
        return tuple(x.kind.keeps_state for x in self.layers)

    def count_layers(self, kind: LayerKind) -> int:
        return self._kind_counts[kind]

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    # ---- tensors --------------------------------------------------------------------------

    @cached_property
    def tensor_list(self) -> tuple[Tensor, ...]:
        return tuple(self._tensors())

    def tensors(self) -> tuple[Tensor, ...]:
        """Every weight tensor of the main model (MTP layers excluded), with its shape."""
        return self.tensor_list

    def _tensors(self) -> Iterator[Tensor]:
        h = self.hidden_size
        yield Tensor("token_embd.weight", self.vocab_size, h, Role.TOKEN_EMBD)
        if self.per_layer_input:
            # modeling_gemma4.py Gemma4TextModel: embed_tokens_per_layer [Vp, L·P] (its
            # sqrt(P) scale is not saved), per_layer_model_projection [L·P, H] without bias and
            # per_layer_projection_norm [P]; llama.cpp keeps the projection with layer 0
            width = self.num_layers * self.per_layer_input
            yield Tensor(
                "per_layer_token_embd.weight", self.per_layer_vocab, width, Role.PER_LAYER_EMBD
            )
            yield Tensor("per_layer_model_proj.weight", width, h, Role.PER_LAYER, 0)
            yield Tensor("per_layer_proj_norm.weight", 1, self.per_layer_input, Role.NORM, 0)
        for layer in self.layers:
            yield from self._layer_tensors(layer)
        yield Tensor("output_norm.weight", 1, h, Role.NORM)
        if not self.tie_word_embeddings:
            yield Tensor("output.weight", self.vocab_size, h, Role.OUTPUT)
        if self.vision is not None:
            if self.vision.model_type == "llama4_vision_model":
                yield from _llama4_vision_tensors(self.vision, self.mm_text_hidden or h)
            elif self.model_type in ("qwen3_vl", "qwen3_vl_moe", *_QWEN3_5):
                yield from _qwen3_vl_vision_tensors(self.vision)
            elif self.vision.model_type == "gemma4_vision":
                yield from _gemma4_vision_tensors(self.vision, self.mm_text_hidden or h)
            elif self.vision.model_type == "pixtral" and self.patch_merger is not None:
                yield from _pixtral_tensors(self.vision, self.patch_merger, h)
            else:
                yield from _vision_tensors(self.vision, self.mm_text_hidden or h)
        if self.audio is not None:
            yield from self.audio.tensors(h)

    def _layer_tensors(self, layer: LayerSpec) -> Iterator[Tensor]:
        h, i, a = self.hidden_size, layer.index, self.attn(layer)
        p = f"blk.{i}."
        for n in range(self.norms_per_layer if layer.norms is None else layer.norms):
            yield Tensor(p + f"norm_{n}.weight", 1, h, Role.NORM, i)
        if self.layer_scalar:
            yield Tensor(p + "layer_output_scale.weight", 1, 1, Role.NORM, i)
        # each layer kind owns its tensors (AttentionSpec, LinearAttentionSpec, MambaSpec, MoESpec)
        if layer.kind is LayerKind.LINEAR:
            assert self.linear_attention is not None
            yield from self.linear_attention.tensors(h, p, i)
        elif layer.kind is LayerKind.MAMBA:
            assert self.mamba is not None
            yield from self.mamba.tensors(h, p, i)
        elif layer.kind is LayerKind.HYBRID:
            assert self.mamba is not None
            yield from a.tensors(h, p, i)
            yield from self.mamba.tensors(h, p, i)
        elif layer.kind is not LayerKind.FFN_ONLY:
            yield from a.tensors(h, p, i)
        if self.per_layer_input:
            # Gemma4TextDecoderLayer: per_layer_input_gate [P, H], per_layer_projection [H, P]
            # (no biases) and post_per_layer_input_norm [H]; GGUF inp_gate, proj, post_norm
            ple = self.per_layer_input
            yield Tensor(p + "inp_gate.weight", ple, h, Role.PER_LAYER, i)
            yield Tensor(p + "proj.weight", h, ple, Role.PER_LAYER, i)
            yield Tensor(p + "post_norm.weight", 1, h, Role.NORM, i)
        if not layer.has_ffn:
            return
        if layer.moe:
            assert self.moe is not None
            yield from self.moe.tensors(h, p, i, self.gated_ffn)
        if not layer.moe or self.dense_beside_moe:
            yield from _mlp_tensors(
                h, layer.dense_intermediate_size, p, i, self.gated_ffn, self.mlp_bias, shared=False
            )

    # ---- parameter counts -----------------------------------------------------------------

    @cached_property
    def params_total(self) -> int:
        """All weights of the main model (MTP layers excluded, vision tower included)."""
        return sum(t.numel for t in self.tensor_list)

    @cached_property
    def vision_params(self) -> int:
        """Weights of the vision tower, its adapter and projector (0 for a text model)."""
        return sum(t.numel for t in self.tensor_list if t.role is Role.VISION)

    @cached_property
    def tower_params(self) -> int:
        """Weights of every encoder tower with its projector: vision and audio."""
        return sum(t.numel for t in self.tensor_list if t.role in TOWER_ROLES)

    @cached_property
    def params_active(self) -> int:
        """Weights used per token: routed experts count ``experts_per_token`` of ``num_experts``.

        Embedding and output head are included, as DeepSeek's "37B activated" counts them.
        """
        if self.moe is None:
            return self.params_total
        routed = sum(t.numel for t in self.tensor_list if t.role.is_expert)
        return (
            self.params_total - routed + routed * self.moe.experts_per_token // self.moe.num_experts
        )

    @cached_property
    def params_embedding(self) -> int:
        return sum(t.numel for t in self.tensor_list if t.role in (Role.TOKEN_EMBD, Role.OUTPUT))

    # ---- KV cache and recurrent state -----------------------------------------------------

    def kv_bytes_per_token(self, kv: KVCacheType) -> int:
        """KV bytes one token adds across all attention layers, before any window cap.

        >>> # Llama-3.3-70B: 80 layers x 2 (K,V) x 8 KV heads x 128 x 2 bytes
        >>> 80 * 2 * 8 * 128 * 2
        327680
        """
        return sum(n * kv.row_bytes(elems) for elems, _, n in self._kv_layout)

    def kv_read_bytes(self, ctx_tokens: int, kv: KVCacheType) -> int:
        """KV bytes one sequence's decode step reads: :meth:`kv_cache_bytes`, plus the cache a
        KV-shared layer reads again from the layer it shares with."""
        return sum(
            n * kv.row_bytes(elems) * (min(ctx_tokens, w) if w else ctx_tokens)
            for elems, w, n in self._kv_read_layout
        )

    @cached_property
    def _kv_layout(self) -> tuple[tuple[int, int | None, int], ...]:
        """((K+V elements per token, window or None, layers), ...) over the KV-keeping layers:
        a window caps a sliding or chunked layer; each layer's geometry sets its row."""
        return self._kv_groups(reads=False)

    @cached_property
    def _kv_read_layout(self) -> tuple[tuple[int, int | None, int], ...]:
        return self._kv_groups(reads=True)

    def _kv_groups(self, *, reads: bool) -> tuple[tuple[int, int | None, int], ...]:
        groups: dict[tuple[int, int | None], int] = {}
        for layer in self.layers:
            if not (layer.kind.keeps_kv if reads else layer.caches_kv):
                continue
            window = layer.window if layer.kind.windowed else None
            key = (self.attn(layer).kv_elems_per_token(), window)
            groups[key] = groups.get(key, 0) + 1
        return tuple(
            sorted(((e, w, n) for (e, w), n in groups.items()), key=lambda g: (g[0], g[1] or 0))
        )

    def kv_cache_bytes(self, ctx_tokens: int, kv: KVCacheType) -> int:
        """KV bytes of one sequence of ``ctx_tokens``: sliding and chunked layers stop at their
        window (the chunk).

        ``sum over attention layers of min(ctx, window or ctx) * bytes per token of the layer``
        """
        return sum(
            n * kv.row_bytes(elems) * (min(ctx_tokens, w) if w else ctx_tokens)
            for elems, w, n in self._kv_layout
        )

    @cached_property
    def _state_elems(self) -> int:
        return sum(self.layer_state_elems(x) for x in self.layers)

    def state_bytes(self, state_bytes_per_elem: int) -> int:
        """Fixed recurrent state of one sequence across its linear-attention and Mamba layers."""
        return state_bytes_per_elem * self._state_elems


# --------------------------------------------------------------------------------------------
# tensor inventories of the building blocks
# --------------------------------------------------------------------------------------------


def _mlp_tensors(
    h: int, inter: int, p: str, i: int, gated: bool, bias: bool, *, shared: bool
) -> Iterator[Tensor]:
    gate, up, down = (
        (Role.SHEXP_GATE, Role.SHEXP_UP, Role.SHEXP_DOWN)
        if shared
        else (Role.FFN_GATE, Role.FFN_UP, Role.FFN_DOWN)
    )
    if gated:
        yield Tensor(p + gate.gguf_name + ".weight", inter, h, gate, i)
    yield Tensor(p + up.gguf_name + ".weight", inter, h, up, i)
    yield Tensor(p + down.gguf_name + ".weight", h, inter, down, i)
    if bias:
        yield Tensor(p + "ffn.bias", 1, (2 if gated else 1) * inter + h, Role.BIAS, i)


def _vision_key(value: int | None, key: str, v: VisionConfig) -> int:
    if value is None:
        raise UnsupportedArchitectureError(
            f"vision_config of {v.model_type!r} lacks {key!r}, which rigfit needs"
        )
    return value


def _vision_tensors(v: VisionConfig, text_hidden: int) -> Iterator[Tensor]:
    # SigLIP vision tower (transformers modeling_siglip.py) + Gemma 3's projector
    # (modeling_gemma3.py Gemma3MultiModalProjector: mm_input_projection_weight, mm_soft_emb_norm)
    d, f, c, ps = v.hidden_size, v.intermediate_size, v.num_channels, v.patch_size
    patches = (_vision_key(v.image_size, "image_size", v) // ps) ** 2
    yield Tensor("v.patch_embd", 1, d * c * ps * ps + d, Role.VISION)
    yield Tensor("v.position_embd", patches, d, Role.VISION)
    per_layer = 4 * (d * d + d) + 2 * (2 * d) + (f * d + f) + (d * f + d)
    layers = _vision_key(v.num_hidden_layers, "num_hidden_layers", v)
    yield Tensor("v.blocks", layers, per_layer, Role.VISION)
    yield Tensor("v.post_ln", 1, 2 * d, Role.VISION)
    if v.vision_use_head:
        raise UnsupportedArchitectureError("vision towers with a pooling head are not supported")
    yield Tensor("mm.input_projection", d, text_hidden, Role.VISION)
    yield Tensor("mm.soft_emb_norm", 1, d, Role.VISION)


def _llama4_vision_tensors(v: VisionConfig, text_hidden: int) -> Iterator[Tensor]:
    # Llama4VisionModel + its pixel-shuffle adapter + the projector (transformers
    # modeling_llama4.py: patch Linear without bias l.957-968, class and positional embeddings
    # l.1021-1027, LayerNorms l.1031-1032 and l.839-840, biased attention l.763-771 and MLP
    # l.821-822, adapter MLP l.672-678 without bias, projector linear_1 l.689-696 without bias)
    d, f, c, ps = v.hidden_size, v.intermediate_size, v.num_channels, v.patch_size
    # the patches and the class token
    positions = (_vision_key(v.image_size, "image_size", v) // ps) ** 2 + 1
    if v.projector_input_dim is None or v.projector_output_dim is None:
        raise UnsupportedArchitectureError(
            "Llama 4 vision_config lacks projector_input_dim/projector_output_dim"
        )
    vision_out = v.vision_output_dim or v.projector_output_dim
    yield Tensor("v.patch_embd", d, c * ps * ps, Role.VISION)
    yield Tensor("v.class_embd", 1, d, Role.VISION)
    yield Tensor("v.position_embd", positions, d, Role.VISION)
    yield Tensor("v.pre_post_ln", 1, 4 * d, Role.VISION)  # layernorm_pre and _post, with biases
    per_layer = 4 * (d * d + d) + 4 * d + (f * d + f) + (d * f + d)
    layers = _vision_key(v.num_hidden_layers, "num_hidden_layers", v)
    yield Tensor("v.blocks", layers, per_layer, Role.VISION)
    yield Tensor("v.adapter_fc1", v.projector_input_dim, f, Role.VISION)
    yield Tensor("v.adapter_fc2", v.projector_output_dim, v.projector_output_dim, Role.VISION)
    yield Tensor("mm.linear_1", text_hidden, vision_out, Role.VISION)


def _gemma4_vision_tensors(v: VisionConfig, text_hidden: int) -> Iterator[Tensor]:
    # Gemma4VisionModel (transformers 5.5.0 modeling_gemma4.py): a bias-free patch projection
    # (l.547), a [2, position_embedding_size, hidden] table of x and y positions (l.548), layers
    # of grouped-query attention with q/k norms (v_norm has no weight) and a gated MLP, four
    # norms each (l.859-970); a parameter-free pooler (l.573-629); std_bias/std_scale when
    # standardize (l.1878-1880); embed_vision's bias-free projection into the text model
    # (l.1928-1953). use_clipped_linears gives each of a layer's 7 linears 4 saved scalar bounds
    # (Gemma4ClippableLinear l.139-143).
    d, f, c, ps = v.hidden_size, v.intermediate_size, v.num_channels, v.patch_size
    layers = _vision_key(v.num_hidden_layers, "num_hidden_layers", v)
    heads = _vision_key(v.num_attention_heads, "num_attention_heads", v)
    # no default taken: Gemma4VisionConfig's own (head_dim 64, 12 KV heads) differ from d //
    # heads and from heads, so a config without them is refused
    head_dim = _vision_key(v.head_dim, "head_dim", v)
    kv = _vision_key(v.num_key_value_heads, "num_key_value_heads", v)
    positions = _vision_key(v.position_embedding_size, "position_embedding_size", v)
    yield Tensor("v.patch_embd.weight", d, c * ps * ps, Role.VISION)
    yield Tensor("v.position_embd.weight", 2 * positions, d, Role.VISION)
    attn = 2 * d * heads * head_dim + 2 * d * kv * head_dim + 2 * head_dim
    per_layer = attn + 4 * d + 3 * d * f + (7 * 4 if v.use_clipped_linears else 0)
    yield Tensor("v.blocks", layers, per_layer, Role.VISION)
    if v.standardize:
        yield Tensor("v.std_bias_scale", 2, d, Role.VISION)
    yield Tensor("mm.input_projection.weight", text_hidden, d, Role.VISION)


def _pixtral_tensors(v: VisionConfig, merger: PatchMerger, text_hidden: int) -> Iterator[Tensor]:
    # PixtralVisionModel (transformers modeling_pixtral.py): a bias-free Conv2d patch embedding,
    # ln_pre (RMSNorm), num_hidden_layers blocks of bias-free q/k/v/o projections of the full
    # width (head_dim = hidden_size // num_attention_heads), a bias-free gated MLP and two
    # RMSNorms; the 2-D RoPE holds no saved weights (its inv_freq buffer is not persistent).
    # Then Mistral 3's projector (PatchMerger above). Every layer is counted: vLLM loads only
    # the layers a vision_feature_layer other than -1 needs, which no known checkpoint sets.
    d, f, c, ps = v.hidden_size, v.intermediate_size, v.num_channels, v.patch_size
    layers = _vision_key(v.num_hidden_layers, "num_hidden_layers", v)
    yield Tensor("v.patch_embd.weight", d, c * ps * ps, Role.VISION)
    yield Tensor("v.pre_ln.weight", 1, d, Role.VISION)
    yield Tensor("v.blocks", layers, 4 * d * d + 3 * d * f + 2 * d, Role.VISION)
    m, wide = merger.spatial_merge_size, d * merger.feature_layers
    bias = text_hidden if merger.bias else 0
    yield Tensor("mm.input_norm.weight", 1, d, Role.VISION)
    yield Tensor("mm.patch_merger.weight", d, d * m * m, Role.VISION)
    yield Tensor("mm.1", 1, wide * text_hidden + bias, Role.VISION)
    yield Tensor("mm.2", 1, text_hidden * text_hidden + bias, Role.VISION)


def _qwen3_vl_vision_tensors(v: VisionConfig) -> Iterator[Tensor]:
    # Qwen3VLVisionModel (transformers modeling_qwen3_vl.py): a biased Conv3d patch embedding
    # over temporal_patch_size × patch_size², learned positions (nn.Embedding of
    # num_position_embeddings), depth blocks of two biased LayerNorms, a biased fused qkv and
    # proj, a biased fc1/fc2 MLP; the merger (LayerNorm of hidden_size, then fc1 and fc2 on
    # hidden_size × spatial_merge_size² to out_hidden_size) and one DeepStack merger per
    # deepstack_visual_indexes entry (the same, its LayerNorm after the shuffle)
    d, f = v.hidden_size, v.intermediate_size
    c = v.in_channels or v.num_channels
    tps = _vision_key(v.temporal_patch_size, "temporal_patch_size", v)
    merge = _vision_key(v.spatial_merge_size, "spatial_merge_size", v)
    out = _vision_key(v.out_hidden_size, "out_hidden_size", v)
    depth = _vision_key(v.depth, "depth", v)
    yield Tensor("v.patch_embd", d, c * tps * v.patch_size**2 + 1, Role.VISION)
    positions = _vision_key(v.num_position_embeddings, "num_position_embeddings", v)
    yield Tensor("v.position_embd", positions, d, Role.VISION)
    per_block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (f * d + f) + (d * f + d)
    yield Tensor("v.blocks", depth, per_block, Role.VISION)
    wide = d * merge * merge
    merger = (wide * wide + wide) + (out * wide + out)
    yield Tensor("mm.merger", 1, 2 * d + merger, Role.VISION)
    if v.deepstack_visual_indexes:
        n = len(v.deepstack_visual_indexes)
        yield Tensor("mm.deepstack_mergers", n, 2 * wide + merger, Role.VISION)


# --------------------------------------------------------------------------------------------
# config.json -> Architecture
# --------------------------------------------------------------------------------------------

# every model_type with a family record (rigfit.families); the readers below cover them
SUPPORTED_MODEL_TYPES = frozenset(FAMILIES)
# model_types whose vision tower rigfit counts, each with the tower it carries
# (vision_config.model_type); another family's vision_config, or another tower under one of
# these, is refused rather than priced as the wrong tower
VISION_TOWERS: dict[str, str] = {
    **dict.fromkeys(("gemma3", "gemma3_text"), "siglip_vision_model"),
    "gemma4": "gemma4_vision",
    "llama4": "llama4_vision_model",
    **{t: t for t in ("qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe")},
    **dict.fromkeys(("mistral3", "ministral3"), "pixtral"),
}
VISION_MODEL_TYPES = frozenset(VISION_TOWERS)
# Qwen3.5/3.6 (transformers modeling_qwen3_5*.py): Qwen3-Next's gated DeltaNet and gated
# attention, Qwen3-VL's vision tower without the DeepStack mergers
_QWEN3_5 = frozenset({"qwen3_5", "qwen3_5_moe"})
# DeepSeek sparse attention: MLA plus the lightning indexer's key cache. GLM-5's glm_moe_dsa
# builds the same modules with the same config keys (transformers modeling_glm_moe_dsa.py
# GlmMoeDsaIndexer and GlmMoeDsaAttention follow DeepSeek-V3.2's MLA, "Named to match
# checkpoint: wq_b, wk, k_norm ... weights_proj")
_DSA_TYPES = frozenset({"deepseek_v32", "glm_moe_dsa"})
# multi-head latent attention with DeepSeek-V3's expert layout (DeepseekV3MoE)
_MLA_TYPES = frozenset({"deepseek_v2", "deepseek_v3", "kimi_k2", *_DSA_TYPES})
# per-head RMSNorm on q and k (Qwen3Attention q_norm/k_norm, Gemma 3)
_QK_NORM_TYPES = frozenset(
    {
        *("qwen3", "qwen3_moe", "qwen3_next", "qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe"),
        *("gemma3", "gemma3_text"),
        # modeling_exaone4.py Exaone4Attention: q_norm/k_norm RMSNorm(head_dim)
        "exaone4",
    }
)


def _need(value: int | None, key: str, model_type: str) -> int:
    if value is None:
        raise UnsupportedArchitectureError(
            f"config for model_type {model_type!r} lacks {key!r}, which rigfit needs"
        )
    return value


def _layer_kinds(c: HFConfig, n: int) -> list[LayerKind]:
    """Per-layer attention kind, from ``layer_types`` or the family's fixed pattern."""
    mt = c.model_type
    if c.layer_types is not None:
        if len(c.layer_types) != n:
            raise UnsupportedArchitectureError(
                f"layer_types has {len(c.layer_types)} entries for {n} layers"
            )
        kinds = []
        for t in c.layer_types:
            try:
                kinds.append(LayerKind(t))
            except ValueError:
                raise UnsupportedArchitectureError(
                    f"unknown layer type {t!r} (rigfit knows "
                    + ", ".join(k.value for k in LayerKind)
                    + ")"
                ) from None
        return kinds
    if mt == "gemma2":
        # modeling_gemma2.py: even layers use the sliding window
        return [LayerKind.SLIDING if i % 2 == 0 else LayerKind.FULL for i in range(n)]
    if mt in ("gemma3", "gemma3_text"):
        # modeling_gemma3.py: every sliding_window_pattern-th layer is global (default 6)
        pattern = c.sliding_window_pattern or 6
        return [LayerKind.FULL if (i + 1) % pattern == 0 else LayerKind.SLIDING for i in range(n)]
    if mt in ("llama4", "llama4_text"):
        # Llama4TextConfig: no_rope_layers[i] == 1 marks a RoPE layer, which attends within
        # chunks; the NoPE layers (default every no_rope_layer_interval-th, 4) are global.
        # An empty list takes the default (configuration_llama4.py "if no_rope_layers").
        interval = c.no_rope_layer_interval or 4
        rope = c.no_rope_layers or tuple(int((i + 1) % interval != 0) for i in range(n))
        if len(rope) != n:
            raise UnsupportedArchitectureError(
                f"no_rope_layers has {len(rope)} entries for {n} layers"
            )
        chunked = LayerKind.CHUNKED if c.attention_chunk_size else LayerKind.FULL
        return [chunked if r else LayerKind.FULL for r in rope]
    if mt in ("qwen3_next", *_QWEN3_5):
        interval = c.full_attention_interval or 4  # Qwen3NextConfig / Qwen3_5TextConfig default
        return [LayerKind.FULL if (i + 1) % interval == 0 else LayerKind.LINEAR for i in range(n)]
    if mt in ("qwen2", "qwen3", "qwen3_moe") and c.use_sliding_window and c.sliding_window:
        # modeling_qwen2.py: layers from max_window_layers on use the window
        start = c.max_window_layers if c.max_window_layers is not None else n
        return [LayerKind.SLIDING if i >= start else LayerKind.FULL for i in range(n)]
    if mt in ("mistral", "mixtral", "phi3", "mistral3") and c.sliding_window:
        return [LayerKind.SLIDING] * n
    return [LayerKind.FULL] * n


# --------------------------------------------------------------------------------------------
# Mamba2 hybrids
# --------------------------------------------------------------------------------------------

MAMBA_HYBRIDS = frozenset({"nemotron_h", "granitemoehybrid", "falcon_h1"})

# Nemotron-H's hybrid_override_pattern (configuration_nemotron_h.py l.281): M a Mamba2 mixer,
# * attention, - an MLP, E a mixture of experts; each layer is one of them after one norm
_NEMOTRON_CHARS = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}
# the names layers_block_type / layer_types use, old and new (configuration_utils.py l.94-96)
_BLOCK_NAMES = {
    "mamba": "mamba",
    "linear_attention": "mamba",
    "attention": "attention",
    "full_attention": "attention",
    "mlp": "mlp",
    "moe": "moe",
}


def _block_types(c: HFConfig, n: int) -> list[str]:
    """Per-layer block of a Nemotron-H or Granite 4 config: mamba, attention, mlp or moe."""
    if c.hybrid_override_pattern is not None:
        bad = sorted(set(c.hybrid_override_pattern) - set(_NEMOTRON_CHARS))
        if bad:
            raise UnsupportedArchitectureError(
                f"hybrid_override_pattern has {', '.join(map(repr, bad))} (rigfit knows M, *, -, E)"
            )
        blocks = [_NEMOTRON_CHARS[ch] for ch in c.hybrid_override_pattern]
    else:
        raw = c.layers_block_type or c.layer_types
        if raw is None:
            raise UnsupportedArchitectureError(
                f"config for {c.model_type!r} lacks 'hybrid_override_pattern' or 'layer_types'"
            )
        unknown = sorted({t for t in raw if t not in _BLOCK_NAMES})
        if unknown:
            raise UnsupportedArchitectureError(
                f"unknown layer type {unknown[0]!r} (rigfit knows " + ", ".join(_BLOCK_NAMES) + ")"
            )
        blocks = [_BLOCK_NAMES[t] for t in raw]
    if len(blocks) != n:
        raise UnsupportedArchitectureError(
            f"the layer pattern has {len(blocks)} entries for {n} layers"
        )
    return blocks


def _hybrid_from_config(c: HFConfig) -> Architecture:
    """Nemotron-H, Granite 4 (granitemoehybrid) and Falcon-H1: Mamba2 mixers with attention."""
    mt, n, h = c.model_type, c.num_hidden_layers, c.hidden_size
    heads = c.num_attention_heads
    kv_heads = c.num_key_value_heads or heads
    notes: list[str] = []
    moe: MoESpec | None = None
    gated, norms, rope, tied_default = True, 2, True, False
    if mt == "nemotron_h":
        # NemotronHConfig defaults (configuration_nemotron_h.py l.98-147); checkpoints may give
        # attention_head_dim instead of head_dim, read like llama.cpp's converter does
        head_dim = c.head_dim or c.attention_head_dim or 128
        mamba = MambaSpec(
            _need(c.mamba_num_heads, "mamba_num_heads", mt),
            _need(c.mamba_head_dim, "mamba_head_dim", mt),
            _need(c.ssm_state_size, "ssm_state_size", mt),
            c.n_groups or 8,
            c.conv_kernel or 4,
            in_bias=bool(c.use_bias),
            out_bias=bool(c.use_bias),
            conv_bias=c.use_conv_bias if c.use_conv_bias is not None else True,
        )
        blocks = _block_types(c, n)
        if "moe" in blocks:
            # NemotronHMoE (l.763-851): non-gated relu2 experts, a sigmoid router with
            # e_score_correction_bias, one shared expert of moe_shared_expert_intermediate_size
            # (transformers; vLLM makes it n_shared_experts times as wide); with
            # moe_latent_size (Nemotron 3 Super/Ultra) the routed experts work in the latent
            # and only they do: "all non-routed computations, including the MoE routing gate
            # (gating network), shared expert computation, and non-expert layers, remain in the
            # original hidden dimension d" (NVIDIA's Nemotron 3 Super technical report, §2.2)
            moe = MoESpec(
                _need(c.n_routed_experts or c.num_local_experts, "n_routed_experts", mt),
                _need(c.num_experts_per_tok, "num_experts_per_tok", mt),
                _need(c.moe_intermediate_size, "moe_intermediate_size", mt),
                num_shared_experts=1 if c.moe_shared_expert_intermediate_size else 0,
                shared_intermediate_size=c.moe_shared_expert_intermediate_size or 0,
                router_bias=True,
                latent_size=c.moe_latent_size or 0,
            )
        kind_of = {
            "mamba": LayerKind.MAMBA,
            "attention": LayerKind.FULL,
            "mlp": LayerKind.FFN_ONLY,
            "moe": LayerKind.FFN_ONLY,
        }
        layers = tuple(
            LayerSpec(
                i,
                kind_of[b],
                None,
                b == "moe",
                c.intermediate_size or 0,
                has_ffn=b in ("mlp", "moe"),
            )
            for i, b in enumerate(blocks)
        )
        # one norm before each block's single mixer (NemotronHBlock l.1049-1052); MLPs are
        # up/down with relu2 (l.748-759); attention has no RoPE and no biases (l.978-981)
        gated, norms, rope = False, 1, False
        attn_bias = False
    elif mt == "granitemoehybrid":
        # GraniteMoeHybridConfig defaults (configuration_granitemoehybrid.py l.67-113)
        head_dim = h // heads
        expand = c.mamba_expand or 2
        m_heads = c.mamba_n_heads or 128
        d_head = c.mamba_d_head if isinstance(c.mamba_d_head, int) else expand * h // m_heads
        mamba = MambaSpec(
            m_heads,
            d_head,
            c.mamba_d_state or 256,
            c.mamba_n_groups or 1,
            c.mamba_d_conv or 4,
            in_bias=bool(c.mamba_proj_bias),
            out_bias=bool(c.mamba_proj_bias),
            conv_bias=c.mamba_conv_bias if c.mamba_conv_bias is not None else True,
        )
        blocks = _block_types(c, n)
        shared = c.shared_intermediate_size if c.shared_intermediate_size is not None else 1024
        experts = c.num_local_experts or 0
        if experts:
            # GraniteMoeHybridMoE: gated experts of intermediate_size, a softmax router without
            # bias, and the gated shared_mlp on every layer (modeling l.858-962)
            moe = MoESpec(
                experts,
                _need(c.num_experts_per_tok, "num_experts_per_tok", mt),
                _need(c.intermediate_size, "intermediate_size", mt),
                num_shared_experts=1 if shared else 0,
                shared_intermediate_size=shared,
            )
        layers = tuple(
            LayerSpec(
                i,
                LayerKind.MAMBA if b == "mamba" else LayerKind.FULL,
                None,
                bool(experts),
                shared,
            )
            for i, b in enumerate(blocks)
        )
        attn_bias = bool(c.attention_bias)
        rope = c.position_embedding_type == "rope"
        tied_default = False
    else:  # falcon_h1
        # FalconH1Config defaults (configuration_falcon_h1.py l.60-118): mamba_d_ssm 1024 when
        # the key is absent; every layer runs attention and the mixer side by side, then a
        # gated MLP (modeling_falcon_h1.py l.1021-1055)
        head_dim = c.head_dim or h // heads
        d_inner = c.mamba_d_ssm or 1024
        m_heads = c.mamba_n_heads or 128
        d_head = c.mamba_d_head if isinstance(c.mamba_d_head, int) else d_inner // m_heads
        if d_head * m_heads != d_inner:
            raise UnsupportedArchitectureError(
                f"mamba_n_heads × mamba_d_head ({m_heads} × {d_head}) is not mamba_d_ssm"
                f" ({d_inner})"
            )
        mamba = MambaSpec(
            m_heads,
            d_head,
            c.mamba_d_state or 256,
            c.mamba_n_groups or 1,
            c.mamba_d_conv or 4,
            in_bias=bool(c.mamba_proj_bias),
            out_bias=bool(c.projectors_bias),
            conv_bias=c.mamba_conv_bias if c.mamba_conv_bias is not None else True,
            gated_norm=bool(c.mamba_rms_norm),
        )
        layers = tuple(
            LayerSpec(
                i,
                LayerKind.HYBRID,
                None,
                False,
                _need(c.intermediate_size, "intermediate_size", mt),
            )
            for i in range(n)
        )
        attn_bias = bool(c.attention_bias)
        notes.append("muP multipliers are config scalars and buffers, not weights")
    kind = AttentionKind.of(heads, kv_heads)
    attn = AttentionSpec(kind, heads, kv_heads, head_dim, qkv_bias=attn_bias, o_bias=attn_bias)
    tied = c.tie_word_embeddings if c.tie_word_embeddings is not None else tied_default
    act = c.mlp_hidden_act or c.hidden_act or "silu"
    return Architecture(
        model_type=mt,
        hidden_size=h,
        vocab_size=c.vocab_size,
        context_length=c.max_position_embeddings,
        attention=attn,
        layers=layers,
        tie_word_embeddings=tied,
        activation=act,
        normalization="RMSNorm",
        position_embedding="RoPE" if rope else "none (NoPE: position comes from the Mamba layers)",
        norms_per_layer=norms,
        gated_ffn=gated,
        mlp_bias=bool(c.mlp_bias),
        moe=moe,
        mamba=mamba,
        mtp_layers=c.num_nextn_predict_layers or 0,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# Gemma 4
# --------------------------------------------------------------------------------------------

GEMMA4_TYPES = frozenset({"gemma4", "gemma4_text"})
# Gemma4TextConfig's defaults (transformers 5.5.0 configuration_gemma4.py l.166-168):
# hidden_size_per_layer_input 256, global_head_dim 512
_GEMMA4_PLE_DEFAULT = 256
_GEMMA4_GLOBAL_HEAD_DIM_DEFAULT = 512


def _gemma4_from_config(c: HFConfig) -> Architecture:
    """Gemma 4 (transformers 5.5.0 modeling_gemma4.py): sliding layers of ``head_dim`` and
    ``num_key_value_heads``; full layers of ``global_head_dim`` and, with ``attention_k_eq_v``,
    ``num_global_key_value_heads`` and no v_proj (l.1137-1141, l.1168-1172); four norms and a
    saved output scalar per layer (l.1327-1331); with ``enable_moe_block`` every layer adds
    routed experts beside its dense MLP (l.1340-1346). The E2B/E4B models add per-layer
    input embeddings, KV-shared layers that attend over an earlier layer's cache, and an
    audio tower (Gemma4Audio)."""
    mt = c.model_type
    audio = Gemma4Audio.from_config(c.audio_config, mt) if c.audio_config is not None else None
    ple = (
        c.hidden_size_per_layer_input
        if c.hidden_size_per_layer_input is not None
        else _GEMMA4_PLE_DEFAULT
    )
    ple_vocab = 0
    if ple:
        # no default taken for the table's rows
        ple_vocab = _need(c.vocab_size_per_layer_input, "vocab_size_per_layer_input", mt)
    if c.vision_config is not None and c.vision_config.model_type != "gemma4_vision":
        raise UnsupportedArchitectureError(
            f"{mt}: vision_config of {c.vision_config.model_type!r}; rigfit counts Gemma 4's own"
            " gemma4_vision tower only"
        )
    if c.layer_types is None:
        raise UnsupportedArchitectureError(f"config for {mt!r} lacks 'layer_types'")
    if not c.sliding_window:
        raise UnsupportedArchitectureError(f"config for {mt!r} lacks 'sliding_window'")
    n, h, heads = c.num_hidden_layers, c.hidden_size, c.num_attention_heads
    # required: Gemma4TextConfig's default (4) is not the query heads' count
    kv = _need(c.num_key_value_heads, "num_key_value_heads", mt)
    head_dim = _need(c.head_dim, "head_dim", mt)
    k_eq_v = bool(c.attention_k_eq_v)
    global_kv = (
        _need(c.num_global_key_value_heads, "num_global_key_value_heads", mt) if k_eq_v else kv
    )
    global_dim = c.global_head_dim or _GEMMA4_GLOBAL_HEAD_DIM_DEFAULT
    if heads % global_kv:
        raise UnsupportedArchitectureError(
            f"{mt}: num_attention_heads ({heads}) is not a multiple of the full layers' KV"
            f" heads ({global_kv})"
        )
    sliding = AttentionSpec(AttentionKind.of(heads, kv), heads, kv, head_dim, qk_norm=True)
    full = AttentionSpec(
        AttentionKind.of(heads, global_kv),
        heads,
        global_kv,
        global_dim,
        qk_norm=True,
        k_eq_v=k_eq_v,
    )
    kinds = _layer_kinds(c, n)
    if not set(kinds) <= {LayerKind.SLIDING, LayerKind.FULL}:
        raise UnsupportedArchitectureError(
            f"{mt}: layer_types other than sliding_attention and full_attention"
        )
    inter = _need(c.intermediate_size, "intermediate_size", mt)
    moe = None
    if c.enable_moe_block:
        moe = MoESpec(
            _need(c.num_experts, "num_experts", mt),
            _need(c.top_k_experts, "top_k_experts", mt),
            _need(c.moe_intermediate_size, "moe_intermediate_size", mt),
            fused_gate_up=True,
            router_scales=True,
            branch_norms=3,
        )
    # KV-shared layers (Gemma4TextConfig num_kv_shared_layers; modeling_gemma4.py
    # Gemma4TextAttention): the last ones attend over the cache of the last earlier layer of
    # their own type and have no K/V weights; with use_double_wide_mlp their MLP is twice as
    # wide (Gemma4TextMLP). llama.cpp: n_layer_kv_from_start = n_layer - shared_kv_layers.
    shared = c.num_kv_shared_layers or 0
    first_shared = n - shared
    if shared and first_shared < 1:
        raise UnsupportedArchitectureError(
            f"{mt}: num_kv_shared_layers ({shared}) leaves no layer that keeps a cache"
        )
    source: list[int | None] = [None] * n
    for i in range(first_shared if shared else n, n):
        own = [j for j in range(first_shared) if kinds[j] is kinds[i]]
        if not own:
            raise UnsupportedArchitectureError(
                f"{mt}: KV-shared layer {i} ({kinds[i].value}) has no earlier layer of its kind"
            )
        source[i] = own[-1]
    wide = 2 if c.use_double_wide_mlp else 1
    layers = tuple(
        LayerSpec(
            i,
            kinds[i],
            c.sliding_window if kinds[i] is LayerKind.SLIDING else None,
            moe is not None,
            inter * (wide if source[i] is not None else 1),
            attention=full if kinds[i] is LayerKind.FULL else None,
            kv_source=source[i],
        )
        for i in range(n)
    )
    notes: list[str] = [
        (
            f"full-attention layers: {global_kv} KV heads of {global_dim}, K as V (no"
            " v_proj); the cache still keeps both"
        )
        if k_eq_v
        else f"full-attention layers: head_dim {global_dim}"
    ]
    if shared:
        notes.append(
            f"the last {shared} layers attend over the cache of layer"
            f" {source[n - 1]} or another earlier layer of their kind and keep none of their own"
            " (their unused K/V projections are in the checkpoint and GGUF files, and counted;"
            " transformers and vLLM drop them)"
        )
    rope = "RoPE"
    params = c.rope_parameters or {}
    full_rope = params.get("full_attention") if isinstance(params, dict) else None
    if isinstance(full_rope, dict) and full_rope.get("partial_rotary_factor"):
        rope += f" (full layers: {full_rope.get('rope_type', 'default')}, partial rotary"
        rope += f" {full_rope['partial_rotary_factor']})"
    return Architecture(
        model_type=mt,
        hidden_size=h,
        vocab_size=c.vocab_size,
        context_length=c.max_position_embeddings,
        attention=sliding,
        layers=layers,
        tie_word_embeddings=c.tie_word_embeddings if c.tie_word_embeddings is not None else True,
        activation=c.hidden_activation or c.hidden_act or "gelu_pytorch_tanh",
        normalization="RMSNorm",
        position_embedding=rope,
        norms_per_layer=4,
        moe=moe,
        vision=c.vision_config,
        mm_text_hidden=h if c.vision_config else None,
        dense_beside_moe=moe is not None,
        layer_scalar=True,
        audio=audio,
        per_layer_input=ple,
        per_layer_vocab=ple_vocab,
        notes=tuple(notes),
    )


def _rope_scaling_desc(c: HFConfig) -> str:
    """' (llama3 scaling, factor 8.0)' from rope_scaling, '' without it."""
    if not c.rope_scaling:
        return ""
    rtype = c.rope_scaling.get("rope_type") or c.rope_scaling.get("type")
    factor = c.rope_scaling.get("factor")
    return f" ({rtype} scaling" + (f", factor {factor}" if factor else "") + ")"


def from_config(c: HFConfig) -> Architecture:
    """Build the architecture a ``config.json`` describes, or fail closed."""
    mt = c.model_type
    if mt not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedArchitectureError(
            f"model_type {mt!r} is not supported (rigfit accounts exactly for: "
            + ", ".join(sorted(SUPPORTED_MODEL_TYPES))
            + ")"
        )
    if mt in MAMBA_HYBRIDS:
        return _hybrid_from_config(c)
    if mt in GEMMA4_TYPES:
        return _gemma4_from_config(c)
    if mt == "nemotron-nas":
        return _nas_from_config(c)
    if c.vision_config is not None and mt not in VISION_MODEL_TYPES:
        raise UnsupportedArchitectureError(
            "vision towers are supported for "
            + ", ".join(sorted(VISION_MODEL_TYPES))
            + f" only, not model_type {mt!r}"
        )
    if c.vision_config is not None and c.vision_config.model_type != VISION_TOWERS[mt]:
        raise UnsupportedArchitectureError(
            f"{mt}'s vision tower is {VISION_TOWERS[mt]!r}; rigfit does not model a"
            f" {c.vision_config.model_type!r} tower under it"
        )
    n, h = c.num_hidden_layers, c.hidden_size
    heads = c.num_attention_heads
    kv_heads = c.num_key_value_heads or heads
    head_dim = c.head_dim or h // heads  # transformers' own default when head_dim is absent
    notes: list[str] = []
    if c.head_dim is None:
        notes.append(f"head_dim absent from config: hidden_size / heads = {head_dim}")

    # ---- attention -----------------------------------------------------------------------
    shared_topk = c.indexer_types is not None and set(c.indexer_types) != {"full"}
    if shared_topk or (c.index_topk_freq or 1) > 1:
        raise UnsupportedArchitectureError(
            f"{mt}: indexer layers that share another layer's top-k (indexer_types 'shared',"
            " index_topk_freq above 1: GLM-5.2) are not yet modelled; rigfit prices GLM-5 and"
            " GLM-5.1"
        )
    if mt in _MLA_TYPES:
        rope = _need(c.qk_rope_head_dim, "qk_rope_head_dim", mt)
        nope = _need(c.qk_nope_head_dim, "qk_nope_head_dim", mt)
        attn = AttentionSpec(
            AttentionKind.MLA,
            heads,
            heads,
            nope + rope,
            q_lora_rank=c.q_lora_rank,
            kv_lora_rank=_need(c.kv_lora_rank, "kv_lora_rank", mt),
            qk_nope_head_dim=nope,
            qk_rope_head_dim=rope,
            v_head_dim=_need(c.v_head_dim, "v_head_dim", mt),
            indexer=IndexerSpec(
                _need(c.index_n_heads, "index_n_heads", mt),
                _need(c.index_head_dim, "index_head_dim", mt),
                _need(c.index_topk, "index_topk", mt),
            )
            if mt in _DSA_TYPES
            else None,
        )
    else:
        kind = AttentionKind.of(heads, kv_heads)
        bias = bool(c.attention_bias)
        attn = AttentionSpec(
            kind,
            heads,
            kv_heads,
            head_dim,
            # qwen2 always has q/k/v bias (modeling_qwen2.py), never an o_proj bias
            qkv_bias=bias or mt == "qwen2",
            # llama/mistral/gpt-oss attention_bias applies to o_proj too; qwen/glm do not
            o_bias=bias and mt in ("llama", "mistral", "gpt_oss", "granite", "olmo2", "olmo3"),
            # Llama 4's use_qk_norm is a weightless RMS norm (Llama4TextL2Norm): no tensors
            qk_norm=mt in _QK_NORM_TYPES
            or mt in ("olmo2", "olmo3")
            or (bool(c.use_qk_norm) and mt not in ("llama4", "llama4_text")),
            # modeling_minimax_m2.py l.292-293: q_norm over heads x head_dim, k_norm over
            # kv_heads x head_dim (qk_norm_type "per_layer"); OLMo 3 the same (modeling_olmo3.py
            # Olmo3Attention q_norm RMSNorm(heads * head_dim), k_norm RMSNorm(kv_heads *
            # head_dim); llama.cpp's olmo2 attn_q_norm {n_embd})
            qk_norm_all_heads=(mt == "minimax_m2" and c.qk_norm_type != "per_head")
            or mt in ("olmo2", "olmo3"),
            # q_proj also emits the output gate (Qwen3-Next; Qwen3.5 doubles it unconditionally,
            # modeling_qwen3_5.py Qwen3_5Attention)
            q_gate=mt in ("qwen3_next", *_QWEN3_5),
            sinks=mt == "gpt_oss",
        )

    # ---- experts -------------------------------------------------------------------------
    moe: MoESpec | None = None
    moe_layers = [False] * n
    if mt in (*_MLA_TYPES, "glm4_moe"):
        e = _need(c.n_routed_experts, "n_routed_experts", mt)
        inter = _need(c.moe_intermediate_size, "moe_intermediate_size", mt)
        shared = c.n_shared_experts or 0
        moe = MoESpec(
            e,
            _need(c.num_experts_per_tok, "num_experts_per_tok", mt),
            inter,
            num_shared_experts=shared,
            shared_intermediate_size=shared * inter,
            # DeepSeek-V3 style noaux_tc routing keeps an e_score_correction_bias per expert
            router_bias=mt != "deepseek_v2",
        )
        first = c.first_k_dense_replace or 0
        freq = c.moe_layer_freq or 1
        moe_layers = [i >= first and i % freq == 0 for i in range(n)]
    elif mt in ("mixtral", "gpt_oss"):
        e = _need(c.num_local_experts, "num_local_experts", mt)
        k = c.num_experts_per_tok or c.experts_per_token
        inter = _need(c.intermediate_size, "intermediate_size", mt)
        moe = MoESpec(
            e,
            _need(k, "num_experts_per_tok", mt),
            inter,
            router_bias=mt == "gpt_oss",
            expert_bias=mt == "gpt_oss",
        )
        moe_layers = [True] * n
    elif mt in ("llama4", "llama4_text"):
        # modeling_llama4.py Llama4TextMoe: routed experts and one always-on shared expert,
        # both intermediate_size wide; a router without bias; dense layers are
        # intermediate_size_mlp wide (l.403-407)
        inter = _need(c.intermediate_size, "intermediate_size", mt)
        moe = MoESpec(
            _need(c.num_local_experts, "num_local_experts", mt),
            _need(c.num_experts_per_tok, "num_experts_per_tok", mt),
            inter,
            num_shared_experts=1,
            shared_intermediate_size=inter,
        )
        step = c.interleave_moe_layer_step or 1
        listed = set(c.moe_layers) if c.moe_layers is not None else None
        moe_layers = [
            (i in listed) if listed is not None else (i + 1) % step == 0 for i in range(n)
        ]
    elif mt == "minimax_m2":
        # modeling_minimax_m2.py: every layer routes over num_local_experts experts of
        # intermediate_size with a sigmoid router and e_score_correction_bias; no shared expert
        moe = MoESpec(
            _need(c.num_local_experts, "num_local_experts", mt),
            _need(c.num_experts_per_tok, "num_experts_per_tok", mt),
            _need(c.intermediate_size, "intermediate_size", mt),
            router_bias=True,
        )
        moe_layers = [True] * n
    elif mt == "qwen3_5_moe":
        # Qwen3_5MoeSparseMoeBlock on every layer (decoder_sparse_step and mlp_only_layers are
        # not read), with Qwen3-Next's sigmoid-gated shared expert
        shared_inter = c.shared_expert_intermediate_size or 0
        moe = MoESpec(
            _need(c.num_experts, "num_experts", mt),
            _need(c.num_experts_per_tok, "num_experts_per_tok", mt),
            _need(c.moe_intermediate_size, "moe_intermediate_size", mt),
            num_shared_experts=1 if shared_inter else 0,
            shared_intermediate_size=shared_inter,
            shared_expert_gate=bool(shared_inter),
        )
        moe_layers = [True] * n
    elif mt in ("qwen3_moe", "qwen3_next", "qwen3_vl_moe"):
        e = _need(c.num_experts, "num_experts", mt)
        shared_inter = c.shared_expert_intermediate_size or 0
        moe = MoESpec(
            e,
            _need(c.num_experts_per_tok, "num_experts_per_tok", mt),
            _need(c.moe_intermediate_size, "moe_intermediate_size", mt),
            num_shared_experts=1 if shared_inter else 0,
            shared_intermediate_size=shared_inter,
            shared_expert_gate=bool(shared_inter),
        )
        step = c.decoder_sparse_step or 1
        dense_only = set(c.mlp_only_layers or ())
        moe_layers = [(i not in dense_only) and (i + 1) % step == 0 for i in range(n)]
    llama4 = mt in ("llama4", "llama4_text")
    dense_inter = (c.intermediate_size_mlp if llama4 else c.intermediate_size) or 0
    if not all(moe_layers) and not dense_inter:
        raise UnsupportedArchitectureError(f"config for {mt!r} lacks 'intermediate_size'")

    # ---- layers ----------------------------------------------------------------------------
    kinds = _layer_kinds(c, n)
    if any(k is LayerKind.SLIDING for k in kinds) and not c.sliding_window:
        raise UnsupportedArchitectureError("sliding-window layers but no 'sliding_window' size")
    if any(k is LayerKind.CHUNKED for k in kinds) and not c.attention_chunk_size:
        raise UnsupportedArchitectureError("chunked-attention layers but no 'attention_chunk_size'")
    windows = {LayerKind.SLIDING: c.sliding_window, LayerKind.CHUNKED: c.attention_chunk_size}
    layers = tuple(
        LayerSpec(
            i,
            kinds[i],
            windows.get(kinds[i]),
            moe_layers[i],
            dense_inter,
        )
        for i in range(n)
    )
    linear = None
    if any(k is LayerKind.LINEAR for k in kinds):
        linear = LinearAttentionSpec(
            _need(c.linear_num_key_heads, "linear_num_key_heads", mt),
            _need(c.linear_num_value_heads, "linear_num_value_heads", mt),
            _need(c.linear_key_head_dim, "linear_key_head_dim", mt),
            _need(c.linear_value_head_dim, "linear_value_head_dim", mt),
            _need(c.linear_conv_kernel_dim, "linear_conv_kernel_dim", mt),
        )

    gemma = mt in ("gemma2", "gemma3", "gemma3_text")
    # Gemma ties embeddings by default (Gemma2Config/Gemma3TextConfig tie_word_embeddings=True);
    # the other families default to untied (LlamaConfig etc.).
    tied = c.tie_word_embeddings if c.tie_word_embeddings is not None else gemma
    act = c.hidden_act or c.hidden_activation or ("gelu_pytorch_tanh" if gemma else "silu")
    rope_desc = "RoPE" + _rope_scaling_desc(c)
    if c.partial_rotary_factor and c.partial_rotary_factor < 1:
        rope_desc += f", partial rotary {c.partial_rotary_factor}"
    elif c.rotary_dim and c.rotary_dim < head_dim:
        rope_desc += f", partial rotary {c.rotary_dim}/{head_dim}"
    if mt in ("llama4", "llama4_text"):
        global_layers = sum(1 for k in kinds if k is LayerKind.FULL)
        rope_desc += f"; {global_layers} global layers without RoPE (iRoPE)"
    return Architecture(
        model_type=mt,
        hidden_size=h,
        vocab_size=c.vocab_size,
        context_length=c.max_position_embeddings,
        attention=attn,
        layers=layers,
        tie_word_embeddings=tied,
        activation=act,
        normalization="RMSNorm",
        position_embedding=rope_desc,
        # Gemma 2/3 add pre- and post-feedforward norms (4 per layer)
        norms_per_layer=4 if gemma else 2,
        mlp_bias=bool(c.mlp_bias),
        moe=moe,
        linear_attention=linear,
        mtp_layers=c.num_nextn_predict_layers or c.mtp_num_hidden_layers or 0,
        vision=c.vision_config,
        mm_text_hidden=h if c.vision_config else None,
        patch_merger=_patch_merger(c),
        notes=tuple(notes),
    )


def _patch_merger(c: HFConfig) -> PatchMerger | None:
    """Mistral 3's projector keys (beside vision_config in its config.json), or None."""
    if c.vision_config is None or c.vision_config.model_type != "pixtral":
        return None
    missing = [
        k
        for k in ("spatial_merge_size", "multimodal_projector_bias", "vision_feature_layer")
        if getattr(c, k) is None
    ]
    # (the None tests repeat `missing` for the type checker)
    if missing or c.spatial_merge_size is None or c.multimodal_projector_bias is None:
        raise UnsupportedArchitectureError(
            f"{c.model_type} config lacks {', '.join(missing)}, which its projector needs"
            " (Mistral3Config's defaults, 2, false and -1, are not taken)"
        )
    layers = c.vision_feature_layer
    if layers == ():
        raise UnsupportedArchitectureError(
            f"{c.model_type} config: vision_feature_layer is an empty list (give -1 or indices)"
        )
    return PatchMerger(
        c.spatial_merge_size,
        c.multimodal_projector_bias,
        len(layers) if isinstance(layers, tuple) else 1,
    )


# --------------------------------------------------------------------------------------------
# Llama-Nemotron (DeciLM, "nemotron-nas")
# --------------------------------------------------------------------------------------------


def nas_intermediate(ffn_mult: float, h: int) -> int:
    """A DeciLM block's MLP width: 2/3 of ffn_mult × hidden, rounded up to a multiple of 256
    (_ffn_mult_to_intermediate_size in modeling_decilm.py, vLLM's and SGLang's
    nemotron_nas.py and convert_hf_to_gguf's DeciModel: the same formula)."""
    size = int(2 * ffn_mult * h / 3)
    return -(-size // 256) * 256


def _nas_from_config(c: HFConfig) -> Architecture:
    """Llama-Nemotron's DeciLM blocks (configuration_decilm.py): per layer, Llama attention
    with ``num_attention_heads // n_heads_in_group`` KV heads or none (``no_op``), and a gated
    MLP of its own width or none; the rest is Llama 3.x (untied head, RoPE with llama3
    scaling, RMSNorm before each present part)."""
    mt, h, heads = c.model_type, c.hidden_size, c.num_attention_heads
    blocks = c.block_configs
    if not blocks:
        raise UnsupportedArchitectureError(f"config for {mt!r} lacks 'block_configs'")
    if len(blocks) != c.num_hidden_layers:
        raise UnsupportedArchitectureError(
            f"block_configs has {len(blocks)} entries for {c.num_hidden_layers} layers"
        )
    head_dim = c.head_dim or h // heads
    specs: dict[int, AttentionSpec] = {}
    layers: list[LayerSpec] = []
    for i, b in enumerate(blocks):
        a, f = b.attention, b.ffn
        if a.replace_with_linear or f.replace_with_linear:
            raise UnsupportedArchitectureError(
                f"{mt} layer {i}: a block replaced with a linear layer (replace_with_linear)"
                " is not yet modelled"
            )
        if a.window_length or a.num_sink_tokens or a.sparsify or f.sparsify:
            raise UnsupportedArchitectureError(
                f"{mt} layer {i}: windowed, sink or sparsified attention or MLP is not yet modelled"
            )
        spec = None
        if not a.no_op:
            group = _need(a.n_heads_in_group, "n_heads_in_group", mt)
            if heads % group:
                raise UnsupportedArchitectureError(
                    f"{mt} layer {i}: n_heads_in_group {group} does not divide the"
                    f" {heads} attention heads"
                )
            kv = heads // group
            spec = specs.setdefault(
                kv,
                AttentionSpec(
                    AttentionKind.of(heads, kv),
                    heads,
                    kv,
                    head_dim,
                    qkv_bias=bool(c.attention_bias),
                    o_bias=bool(c.attention_bias),
                ),
            )
        has_ffn = not f.no_op and f.ffn_mult is not None
        inter = nas_intermediate(f.ffn_mult, h) if has_ffn and f.ffn_mult else 0
        layers.append(
            LayerSpec(
                i,
                LayerKind.FULL if spec is not None else LayerKind.FFN_ONLY,
                None,
                False,
                inter,
                has_ffn=has_ffn,
                attention=spec,
                norms=(spec is not None) + has_ffn,
            )
        )
    if not specs:
        raise UnsupportedArchitectureError(f"{mt}: no block has attention")
    # the model's geometry is the one most blocks have; the others keep their own
    attn = max(specs.values(), key=lambda s: sum(x.attention == s for x in layers))
    # a layer keeps its own geometry only where it differs from the model's (Architecture.attn)
    final = tuple(replace(x, attention=None) if x.attention == attn else x for x in layers)
    rope_desc = "RoPE" + _rope_scaling_desc(c)
    skipped = sum(1 for x in final if x.kind is LayerKind.FFN_ONLY)
    return Architecture(
        model_type=mt,
        hidden_size=h,
        vocab_size=c.vocab_size,
        context_length=c.max_position_embeddings,
        attention=attn,
        layers=final,
        tie_word_embeddings=bool(c.tie_word_embeddings),
        activation=c.hidden_act or "silu",
        normalization="RMSNorm",
        position_embedding=rope_desc,
        norms_per_layer=2,
        mlp_bias=bool(c.mlp_bias),
        notes=(f"{skipped} of {len(final)} layers have no attention (DeciLM no_op blocks)",),
    )


def heads_note(arch: Architecture) -> str:
    """'32 / 8 / 128' (query heads / KV heads / head size), or each geometry with the
    KV-caching layers that have it where layers differ (Gemma 4)."""
    specs = arch.attention_specs
    if len(specs) == 1:
        a = specs[0]
        return f"{a.num_heads} / {a.num_kv_heads} / {a.head_dim}"
    parts = []
    for a in specs:
        part = (
            f"{a.num_heads} / {a.num_kv_heads} / {a.head_dim} on {len(arch.layers_with(a))} layers"
        )
        parts.append(part + (" (K used as V)" if a.k_eq_v else ""))
    return "; ".join(parts)


def kv_heads_note(arch: Architecture) -> str:
    """One line on what keeps a KV cache, e.g. '80 of 80 layers keep a KV cache (GQA 64/8)'."""
    a = arch.attention
    parts = [f"{arch.kv_layers} of {arch.num_layers} layers keep a KV cache"]
    sliding = arch.sliding_kv_layers
    if sliding:
        window = next(x.window for x in arch.layers if x.kind is LayerKind.SLIDING)
        parts.append(f"{sliding} of them only the last {window} tokens")
    chunked = arch.count_layers(LayerKind.CHUNKED)
    if chunked:
        chunk = next(x.window for x in arch.layers if x.kind is LayerKind.CHUNKED)
        parts.append(f"{chunked} of them attend within {chunk}-token chunks")
    readers = len(arch.kv_shared_layers)
    if readers:
        parts.append(f"{readers} more attend over an earlier layer's cache")
    linear = arch.count_layers(LayerKind.LINEAR)
    if linear:
        parts.append(f"{linear} linear-attention layers keep a fixed state")
    mamba = arch.count_layers(LayerKind.MAMBA) + arch.count_layers(LayerKind.HYBRID)
    if mamba:
        parts.append(f"{mamba} Mamba2 layers keep a fixed state")
    if a.kind is AttentionKind.MLA:
        parts.append(f"MLA latent {a.kv_lora_rank} + rope {a.qk_rope_head_dim} per token")
        if a.indexer is not None:
            parts.append(
                f"plus a {a.indexer.head_dim}-wide indexer key (top {a.indexer.topk} tokens)"
            )
    else:
        parts.append(f"{a.num_heads} query / {a.num_kv_heads} KV heads of {a.head_dim}")
    for other in arch.attention_specs[1:]:
        own = arch.layers_with(other)
        # Gemma 4's own geometry is its full layers'; otherwise count the layers
        full = own and all(x.kind is LayerKind.FULL for x in own) and sliding
        where = "full-attention layers" if full else f"{len(own)} layer" + "s" * (len(own) != 1)
        parts.append(
            f"{where} {other.num_kv_heads} KV heads of {other.head_dim}"
            + (", K used as V (both cached)" if other.k_eq_v else "")
        )
    return "; ".join(parts)
