"""Which GGML type llama.cpp's ``llama-quantize`` gives each tensor of a GGUF file.

A replay, tensor by tensor, of ``llama_tensor_get_type`` and of the "is this tensor quantized"
test in ``llama_model_quantize_impl``, as of :data:`rigfit.quant.LLAMA_QUANT_SOURCE`
(llama.cpp src/llama-quant.cpp at commit ec98e2002, December 2025, the revision ollama
v0.13.5 and later vendor). Line numbers ("l.NNN") below refer to that file. The rules are
restated in rigfit's own terms, not translated line by line; every branch of the original that
can apply to a model rigfit supports is here, in the original's order (the first branch that
matches wins).

Three steps, as llama.cpp takes them:

1. :func:`gguf_tensors` turns the architecture's inventory into the tensors a GGUF file of it
   holds, as ``convert_hf_to_gguf.py`` writes them (names, dims ``ne`` with the row length
   first, biases one tensor each, DeepSeek's ``kv_b`` split into ``k_b``/``v_b``, Phi-3's fused
   ``attn_qkv``), in the order ``llama-quantize`` visits them (llama-model-loader.h l.48-59:
   by block number, non-block tensors first, then by name). The counters below advance in that
   order.
2. :func:`replay` decides per tensor: copied in the converter's type (norms, biases, routers,
   the DeltaNet conv, anything 1-D: F32; gpt-oss's experts: MXFP4), or quantized to the type
   the rules pick.
3. The shape check (l.436-475): a type whose block does not divide the row length falls back to
   a 32-element type, then to F16.

What the replay does not know: ``--tensor-type``/``--output-tensor-type``/``--token-embedding-
type`` overrides, ``--pure``, ``--leave-output-tensor``, and per-tensor recipes of "dynamic"
quants (unsloth UD, ik_llama.cpp), none of which follow these rules. Files made by other
llama.cpp versions may differ: before 2024 Mixtral's experts were separate tensors the
``ffn_down`` rules did not reach; after PR #19770 (about March 2026) fused ``attn_qkv`` (Phi-3,
Phi-4) and ``attn_kv_b`` follow the ``attn_v`` rules, and Q2_K/Q3_K fall back to Q4_0 (the size
of IQ4_NL).

Remaining approximations, all under a kilobyte a tensor or outside the catalog: Llama 3's
``rope_freqs`` and Phi-3's ``rope_factors_*`` (small F32 vectors) are not in the inventory;
norm and a few Qwen3-Next/DeepSeek names differ from GGUF's, which only moves the header by
some bytes; the Falcon-only arms are left out (rigfit does not support Falcon); the MTP layer
GLM-4.5's converter keeps is not priced; and tensors llama-quantize copies that the converter
does not make F32 would be 16-bit (no catalog model has one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from rigfit.arch import TOWER_ROLES, Architecture, AttentionKind, Role, Tensor
from rigfit.errors import InvalidSpecError
from rigfit.families import family
from rigfit.frozen import frozen
from rigfit.quant import LLAMA_QUANT_SOURCE, GGMLType, LlamaFtype

__all__ = [
    "LLAMA_QUANT_SOURCE",
    "ConvertedTensor",
    "TensorChoice",
    "gguf_tensors",
    "imatrix_required",
    "replay",
    "use_more_bits",
]

F = LlamaFtype
T = GGMLType


# --------------------------------------------------------------------------------------------
# The tensors of a GGUF file
# --------------------------------------------------------------------------------------------


@frozen(slots=True)
class ConvertedTensor:
    """One tensor as a GGUF file stores it.

    ``ne`` are GGML's dims, row length (``ne[0]``) first, trailing 1s dropped as
    ``ggml_n_dims`` does. ``parts`` says which tensors of :meth:`Architecture.tensors` it holds
    and how many of their elements: one part for a tensor stored as is or split (a fused bias),
    several for tensors the converter fuses (Phi-3's q, k and v into ``attn_qkv``).
    """

    name: str
    ne: tuple[int, ...]
    role: Role
    parts: tuple[tuple[str, int], ...]

    @property
    def numel(self) -> int:
        n = 1
        for d in self.ne:
            n *= d
        return n

    @property
    def n_dims(self) -> int:
        return len(self.ne)

    @property
    def layer(self) -> int:
        """The block number in ``blk.N.``, or -1 for tensors outside the blocks."""
        if not self.name.startswith("blk."):
            return -1
        return int(self.name.split(".", 2)[1])

    def nbytes(self, t: GGMLType) -> int:
        """``ggml_nbytes`` in type ``t``: whole blocks along each row (ggml.c l.1241)."""
        return t.row_bytes(self.ne[0]) * (self.numel // self.ne[0])


@frozen(slots=True)
class TensorChoice:
    """A tensor, the type the replay gives it, and why (``rule``: the branch that decided)."""

    tensor: ConvertedTensor
    type: GGMLType
    rule: str

    @property
    def nbytes(self) -> int:
        return self.tensor.nbytes(self.type)


def _t(name: str, ne: tuple[int, ...], role: Role, *parts: tuple[str, int]) -> ConvertedTensor:
    return ConvertedTensor(name, ne, role, parts)


def _whole(t: Tensor, name: str | None = None) -> ConvertedTensor:
    if t.rows == 1:
        ne: tuple[int, ...] = (t.cols,)
    elif t.count > 1:
        ne = (t.cols, t.rows, t.count)
    else:
        ne = (t.cols, t.rows)
    return _t(name or t.name, ne, t.role, (t.name, t.numel))


def _norm_names(n: int) -> tuple[str, ...]:
    # GGUF names of the per-block norms rigfit calls norm_0..norm_{n-1}
    # (gguf-py constants.py: ATTN_NORM, ATTN_POST_NORM, FFN_NORM, FFN_POST_NORM)
    if n == 4:
        return ("attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm")
    return ("attn_norm", "ffn_norm", *(f"norm_{i}" for i in range(2, n)))


def _split_tensors(arch: Architecture, t: Tensor) -> Iterator[ConvertedTensor]:
    """The GGUF tensors of one inventory tensor (several where rigfit fuses what GGUF splits)."""
    a = arch.attention
    p = f"blk.{t.layer}." if t.layer is not None else ""
    short = t.name[len(p) :]
    if short.startswith("norm_") and short.endswith(".weight"):
        i = int(short[len("norm_") : -len(".weight")])
        yield _whole(t, p + _norm_names(arch.norms_per_layer)[i] + ".weight")
    elif short == "attn_qkv.bias":
        # convert_hf_to_gguf writes one bias per projection; rigfit sums them in one entry
        q = a.num_heads * a.head_dim
        kv = a.num_kv_heads * a.head_dim
        for name, n in (("attn_q", q), ("attn_k", kv), ("attn_v", kv)):
            yield _t(p + name + ".bias", (n,), t.role, (t.name, n))
    elif short == "ffn.bias":
        h = arch.hidden_size
        inter = (t.cols - h) // (2 if arch.gated_ffn else 1)
        names = (("ffn_gate", inter),) if arch.gated_ffn else ()
        for name, n in (*names, ("ffn_up", inter), ("ffn_down", h)):
            yield _t(p + name + ".bias", (n,), t.role, (t.name, n))
    elif short == "ffn_exps.bias":
        # gpt-oss: one [width, n_expert] bias per expert projection
        assert arch.moe is not None
        e, h = arch.moe.num_experts, arch.hidden_size
        inter = arch.moe.expert_intermediate_size
        names = (("ffn_gate_exps", inter),) if arch.gated_ffn else ()
        for name, n in (*names, ("ffn_up_exps", inter), ("ffn_down_exps", h)):
            yield _t(p + name + ".bias", (n, e), t.role, (t.name, n * e))
    elif short == "ssm_a_dt.weight":
        # Qwen3-Next: A_log as ssm_a (1-D) and dt_bias as ssm_dt.bias, both F32
        half = t.cols // 2
        yield _t(p + "ssm_a", (half,), t.role, (t.name, half))
        yield _t(p + "ssm_dt.bias", (half,), t.role, (t.name, half))
    elif short == "ssm_in_qkvz.weight":
        yield _whole(t, p + "ssm_in.weight")
    elif short == "ssm_in_ba.weight":
        yield _whole(t, p + "ssm_ba.weight")
    elif short == "attn_kv_b.weight" and a.kind is AttentionKind.MLA:
        # convert_hf_to_gguf DeepseekV2Model.modify_tensors (since llama.cpp PR #12801, 2025):
        # kv_b_proj is written as k_b (transposed: rows of qk_nope) and v_b (rows of kv_lora),
        # one matrix per head, and kv_b itself is not written.
        assert a.qk_nope_head_dim
        assert a.kv_lora_rank
        assert a.v_head_dim
        heads, nope, lora, v = a.num_heads, a.qk_nope_head_dim, a.kv_lora_rank, a.v_head_dim
        yield _t(p + "attn_k_b.weight", (nope, lora, heads), t.role, (t.name, nope * lora * heads))
        yield _t(p + "attn_v_b.weight", (lora, v, heads), t.role, (t.name, lora * v * heads))
    else:
        yield _whole(t)


def _fuse_phi3(tensors: list[ConvertedTensor]) -> list[ConvertedTensor]:
    """Phi-3/Phi-4 checkpoints keep ``qkv_proj`` and ``gate_up_proj`` fused, and so does GGUF
    (``attn_qkv.weight``; ``ffn_up.weight`` twice as tall). convert_hf_to_gguf Phi3MiniModel."""
    out: list[ConvertedTensor] = []
    pending: dict[tuple[int, str], list[ConvertedTensor]] = {}
    fused = {"attn_q.weight": "attn_qkv", "attn_k.weight": "attn_qkv", "attn_v.weight": "attn_qkv"}
    fused |= {"ffn_gate.weight": "ffn_up", "ffn_up.weight": "ffn_up"}
    sizes = {"attn_qkv": 3, "ffn_up": 2}
    for t in tensors:
        short = t.name.split(".", 2)[2] if t.layer >= 0 else t.name
        target = fused.get(short)
        if target is None:
            out.append(t)
            continue
        group = pending.setdefault((t.layer, target), [])
        group.append(t)
        if len(group) == sizes[target]:
            rows = sum(g.ne[1] for g in group)
            parts = tuple(p for g in group for p in g.parts)
            ne = (group[0].ne[0], rows)
            out.append(_t(f"blk.{t.layer}.{target}.weight", ne, group[0].role, *parts))
    return out


def _order_key(t: ConvertedTensor) -> tuple[int, str]:
    # llama-model-loader.h weight_name_comparer: block number (-1 outside blocks), then name
    return (t.layer, t.name)


def gguf_tensors(arch: Architecture) -> tuple[ConvertedTensor, ...]:
    """The tensors of a GGUF file of ``arch``, in the order llama-quantize visits them.

    The vision tower is left out: llama.cpp keeps it in a separate mmproj file. MTP layers are
    left out, as the converter skips them for DeepSeek and Qwen3-Next.
    """
    cached = arch.cache.get("gguf_tensors")
    if isinstance(cached, tuple):
        return cached
    out: list[ConvertedTensor] = []
    for t in arch.tensors():
        if t.role in TOWER_ROLES:
            continue
        out.extend(_split_tensors(arch, t))
    if family(arch.model_type).gguf_fused_qkv:
        out = _fuse_phi3(out)
    result = tuple(sorted(out, key=_order_key))
    arch.cache["gguf_tensors"] = result
    return result


# --------------------------------------------------------------------------------------------
# What the converter writes, and what llama-quantize leaves alone
# --------------------------------------------------------------------------------------------

# llama_model_quantize_impl l.815-870: a tensor whose name contains one of these is copied.
_NEVER_QUANTIZED = (
    "_norm.weight",
    "ffn_gate_inp.weight",  # MoE router
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d.weight",
    "shortconv.conv.weight",
    "attn_rel_b.weight",
    ".position_embd.",
    *(
        f"time_mix_{x}.weight"
        for x in (
            *("first", "w0", "w1", "w2", "v0", "v1", "v2", "a0", "a1", "a2", "g1", "g2"),
            *("decay_w1", "decay_w2", "lerp_fused"),
        )
    ),
)
# ... and these exact names (LLM_TENSOR_POS_EMBD / TOKEN_TYPES of BERT and GPT-2)
_NEVER_QUANTIZED_EXACT = frozenset({"position_embd.weight", "token_types.weight"})

# convert_hf_to_gguf.py ModelBase.prepare_tensors writes these as F32 whatever --outtype says
# (with anything 1-D, any *_norm.weight and any name not ending in .weight, i.e. biases).
_CONVERTER_F32 = ("ffn_gate_inp.", "ssm_conv1d.", "shortconv.conv.", "position_embd.")


_NEVER_QUANTIZED_RE = re.compile("|".join(re.escape(x) for x in _NEVER_QUANTIZED))


def _quantizable(t: ConvertedTensor) -> bool:
    """llama_model_quantize_impl l.815-870: only 2-D+ ``*weight`` tensors outside the list."""
    return (
        t.name.endswith("weight")
        and t.n_dims >= 2
        and _NEVER_QUANTIZED_RE.search(t.name) is None
        and t.name not in _NEVER_QUANTIZED_EXACT
    )


def _converter_type(t: ConvertedTensor, outtype: GGMLType, arch: Architecture) -> GGMLType:
    """The type ``convert_hf_to_gguf.py --outtype <outtype>`` writes ``t`` in."""
    if family(arch.model_type).gguf_mxfp4_experts and t.role.is_expert:
        # GptOssModel repacks the checkpoint's MXFP4 expert blocks as GGML MXFP4 whatever
        # --outtype says, so every GGUF of gpt-oss starts with MXFP4 experts
        return T.MXFP4
    if outtype is T.F32:
        return T.F32
    if (
        t.n_dims <= 1
        or not t.name.endswith(".weight")
        or t.name.endswith("_norm.weight")
        or any(s in t.name for s in _CONVERTER_F32)
    ):
        return T.F32
    return outtype


# --------------------------------------------------------------------------------------------
# The rules (llama_tensor_get_type, l.178-477)
# --------------------------------------------------------------------------------------------

# ftype groups the rules test
_IQ1_IQ2 = frozenset({F.IQ2_XXS, F.IQ2_XS, F.IQ1_S, F.IQ2_S, F.IQ2_M, F.IQ1_M})  # l.255
_OUTPUT_Q5_K = frozenset({F.IQ2_XXS, F.IQ2_XS, F.IQ3_XXS, F.IQ1_S, F.IQ2_S, F.IQ2_M, F.IQ1_M})
_ATTN_OUTPUT_Q5_K_8X = frozenset(  # l.383-388: attn_output of 8-expert models
    {
        F.Q2_K,
        F.IQ3_XS,
        F.IQ3_XXS,
        F.Q3_K_S,
        F.Q3_K_M,
        F.IQ4_NL,
        F.Q4_K_S,
        F.Q4_K_M,
        F.IQ3_S,
        F.IQ3_M,
        F.IQ4_XS,
    }
)

# l.436-475: when the row length is not a whole number of blocks
_FALLBACK = {
    T.TQ1_0: T.Q4_0,
    T.TQ2_0: T.Q4_0,
    **dict.fromkeys(
        (T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ1_S, T.IQ1_M, T.Q2_K, T.Q3_K),
        T.IQ4_NL,
    ),
    T.IQ4_XS: T.IQ4_NL,
    T.Q4_K: T.Q5_0,
    T.Q5_K: T.Q5_1,
    T.Q6_K: T.Q8_0,
}


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's layer choice for extra precision: first and last eighth, every third between.

    l.185-187, with C's integer division.

    >>> sum(use_more_bits(i, 80) for i in range(80))
    40
    >>> [i for i in range(32) if use_more_bits(i, 32)][:8]
    [0, 1, 2, 3, 6, 9, 12, 15]
    """
    eighth = n_layers // 8
    return i_layer < eighth or i_layer >= 7 * n_layers // 8 or (i_layer - eighth) % 3 == 2


@dataclass
class _Replay:
    """The state ``quantize_state_impl`` keeps across tensors, and the model facts it reads."""

    ftype: LlamaFtype
    has_imatrix: bool
    has_output: bool  # an output.weight exists (else token_embd is the tied head)
    n_expert: int  # max(1, hparams.n_expert), l.188
    n_expert_raw: int  # hparams.n_expert, which some rules test directly
    n_gqa: int  # n_head / n_head_kv of layer 0 (llama-hparams.cpp l.54-62)
    is_70b: bool
    n_layer: int  # n_ffn_down = n_ffn_gate = n_ffn_up (l.715)
    n_attention_wv: int  # l.703-713
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0

    def layer(self, counter: int, t: ConvertedTensor) -> int:
        """layer_info (l.189-203): the running counter for dense models, for MoE the block
        number in the name (Mixtral's experts once came out of order)."""
        return t.layer if self.n_expert > 1 else counter

    # ---- the branches, in the order llama_tensor_get_type tries them ------------------------

    def choose(self, t: ConvertedTensor) -> tuple[GGMLType, str]:
        f, name, new = self.ftype, t.name, self.ftype.default_type
        if name == "output.weight" or (not self.has_output and name == "token_embd.weight"):
            return self._output(t, new)
        if name == "per_layer_token_embd.weight" and not self.has_output:
            # builds that load Gemma 4 (b8637 on) class the per-layer table with token_embd,
            # which a tied model quantizes as its output: Q6_K for the k-quants (llama-quant.cpp
            # at 0c1e57098, its TOKEN_EMBD category l.104-107 and l.488-509; the 3.19 GB Q4_K_M
            # file of Gemma 4 E2B that dahus/gemma-4-e2b-it-Q8_0-GGUF lists fits only this)
            return self._output(t, new)
        if f is F.MXFP4_MOE:  # l.229-236: stacked experts (ne[2] > 1) MXFP4, the rest Q8_0
            if t.n_dims >= 3 and t.ne[2] > 1:
                return T.MXFP4, "mxfp4_moe: expert stack"
            return T.Q8_0, "mxfp4_moe: not an expert stack"
        if name in ("token_embd.weight", "per_layer_token_embd.weight"):  # l.237-253
            if f in (F.IQ2_XXS, F.IQ2_XS, F.IQ1_S, F.IQ1_M):
                return T.Q2_K, "token_embd"
            if f in (F.IQ2_S, F.IQ2_M, F.IQ3_XXS):
                return T.IQ3_S, "token_embd"
            if f in (F.TQ1_0, F.TQ2_0):
                return T.Q4_K, "token_embd"
            return new, "token_embd: default"
        if f in _IQ1_IQ2:
            return self._iq1_iq2(t, new)
        if "attn_v.weight" in name:
            return self._attn_v(new)
        if "attn_k.weight" in name:  # l.317-328
            if self.n_expert_raw == 8:
                return T.Q8_0, "attn_k: 8 experts"
            if f is F.IQ3_XS:
                return T.IQ3_XXS, "attn_k"
            if f is F.IQ3_XXS:
                return T.IQ2_S, "attn_k"
            return new, "default"
        if "attn_q.weight" in name:  # l.329-335
            if f is F.IQ3_XS:
                return T.IQ3_XXS, "attn_q"
            if f is F.IQ3_XXS:
                return T.IQ2_S, "attn_q"
            return new, "default"
        if "ffn_down" in name:
            return self._ffn_down(t, new)
        if "attn_output.weight" in name:
            return self._attn_output(new)
        if "attn_qkv.weight" in name:  # l.401-407: no use_more_bits, no counter in ec98
            if f in (F.Q3_K_M, F.Q3_K_L, F.IQ3_M):
                return T.Q4_K, "attn_qkv"
            if f is F.Q4_K_M:
                return T.Q5_K, "attn_qkv"
            if f is F.Q5_K_M:
                return T.Q6_K, "attn_qkv"
            return new, "default"
        if "ffn_gate" in name or "ffn_up" in name:  # l.408-423
            gate = "ffn_gate" in name
            i = self.layer(self.i_ffn_gate if gate else self.i_ffn_up, t)
            if gate:
                self.i_ffn_gate += 1
            else:
                self.i_ffn_up += 1
            n = self.n_layer
            if f is F.IQ3_XS and n // 8 <= i < 7 * n // 8:
                return T.IQ3_XXS, "ffn_gate/up: middle layers"
            return new, "default"
        return new, "default"

    def _output(self, t: ConvertedTensor, new: GGMLType) -> tuple[GGMLType, str]:
        """l.207-228: the output head, or the tied token embedding that serves as one."""
        f = self.ftype
        if f is F.MXFP4_MOE:
            return T.Q8_0, "output: mxfp4_moe"
        if t.ne[0] % new.block_elems:  # (or LLM_ARCH_FALCON, which rigfit does not support)
            return T.Q8_0, "output: row not a whole block of the default type"
        if f in _OUTPUT_Q5_K:
            return T.Q5_K, "output"
        if new is not T.Q8_0:
            return T.Q6_K, "output"
        return new, "output"

    def _iq1_iq2(self, t: ConvertedTensor, new: GGMLType) -> tuple[GGMLType, str]:
        """l.255-278: the very-low-bit family."""
        f, name = self.ftype, t.name
        wide = f in (F.IQ2_S, F.IQ2_M)
        if "attn_v.weight" in name:
            self.i_attention_wv += 1
            if self.n_gqa >= 4 or self.n_expert_raw >= 4:
                return T.Q4_K, "attn_v: gqa >= 4 or experts >= 4"
            return (T.IQ3_S if wide else T.Q2_K), "attn_v"
        if self.n_expert_raw == 8 and "attn_k.weight" in name:
            return T.Q4_K, "attn_k: 8 experts"
        if "ffn_down" in name:
            # the raw counter, not layer_info: for MoE it counts tensors, not blocks
            first = self.i_ffn_down < self.n_layer // 8
            self.i_ffn_down += 1
            if first:
                return (T.IQ3_S if wide else T.Q2_K), "ffn_down: first n/8 tensors"
            return new, "default"
        if "attn_output.weight" in name:
            if self.n_expert_raw == 8:
                return T.Q5_K, "attn_output: 8 experts"
            if f in (F.IQ1_S, F.IQ1_M):
                return T.IQ2_XXS, "attn_output"
            if wide:
                return T.IQ3_S, "attn_output"
        return new, "default"

    def _attn_v(self, new: GGMLType) -> tuple[GGMLType, str]:
        """l.279-316."""
        f, gqa4, i, n = self.ftype, self.n_gqa >= 4, self.i_attention_wv, self.n_attention_wv
        rule = "attn_v"
        if f is F.Q2_K:
            new = T.Q4_K if gqa4 else T.Q3_K
        elif f is F.Q2_K_S and gqa4:
            new = T.Q4_K
        elif f is F.IQ3_XXS:
            new = T.Q4_K if gqa4 else (T.IQ3_XXS if self.has_imatrix else T.IQ3_S)
        elif (f in (F.IQ3_XS, F.IQ3_S) and gqa4) or f is F.IQ3_M:
            new = T.Q4_K
        elif f is F.Q3_K_M:
            new, rule = (T.Q5_K, "attn_v: first two") if i < 2 else (T.Q4_K, rule)
        elif f is F.Q3_K_L or (f in (F.IQ4_NL, F.IQ4_XS) and gqa4):
            new = T.Q5_K
        elif f in (F.Q4_K_M, F.Q5_K_M) and use_more_bits(i, n):
            new, rule = T.Q6_K, "attn_v: use_more_bits"
        elif f is F.Q4_K_S and i < 4:
            new, rule = T.Q5_K, "attn_v: first four"
        else:
            rule = "default"
        if self.is_70b and new in (T.Q3_K, T.Q4_K):
            new, rule = T.Q5_K, "attn_v: 70B"
        if self.n_expert_raw == 8:
            new, rule = T.Q8_0, "attn_v: 8 experts"
        self.i_attention_wv += 1
        return new, rule

    def _ffn_down(self, t: ConvertedTensor, new: GGMLType) -> tuple[GGMLType, str]:
        """l.336-380 (the Falcon-only arms are left out: rigfit does not support Falcon)."""
        f, n = self.ftype, self.n_layer
        i = self.layer(self.i_ffn_down, t)
        self.i_ffn_down += 1
        eighth = i < n // 8
        if f is F.Q2_K:
            return T.Q3_K, "ffn_down"
        if f is F.Q2_K_S:
            return (T.Q4_K, "ffn_down: first n/8") if eighth else (new, "default")
        if f is F.IQ3_XXS and not self.has_imatrix:
            return (T.Q4_K, "ffn_down: first n/8") if eighth else (T.Q3_K, "ffn_down")
        if f is F.Q3_K_M:
            return (T.Q5_K, "ffn_down: first n/16") if i < n // 16 else (T.Q4_K, "ffn_down")
        if f is F.IQ3_M and (eighth or (self.n_expert_raw == 8 and use_more_bits(i, n))):
            return T.Q4_K, "ffn_down: first n/8 (8 experts: use_more_bits)"
        if f is F.Q3_K_L:
            return T.Q5_K, "ffn_down"
        if f is F.Q4_K_M:
            return (T.Q6_K, "ffn_down: use_more_bits") if use_more_bits(i, n) else (new, "default")
        if f in (F.IQ4_NL, F.IQ4_XS) and eighth and not self.has_imatrix:
            return T.Q5_K, "ffn_down: first n/8, no imatrix"
        if f is F.Q5_K_M and use_more_bits(i, n):
            return T.Q6_K, "ffn_down: use_more_bits"
        if f is F.Q4_K_S and eighth:
            return T.Q5_K, "ffn_down: first n/8"
        if f in (F.Q4_0, F.Q5_0) and self.has_imatrix and eighth:
            return (T.Q4_1 if f is F.Q4_0 else T.Q5_1), "ffn_down: first n/8, imatrix"
        return new, "default"

    def _attn_output(self, new: GGMLType) -> tuple[GGMLType, str]:
        """l.381-400 (non-Falcon arms)."""
        f = self.ftype
        if self.n_expert_raw == 8:
            if f in _ATTN_OUTPUT_Q5_K_8X:
                return T.Q5_K, "attn_output: 8 experts"
            return new, "default"
        upgrade = {
            F.Q2_K: T.Q3_K,
            F.IQ3_XXS: T.IQ3_S,
            F.Q3_K_M: T.Q4_K,
            F.Q3_K_L: T.Q5_K,
            F.IQ3_M: T.Q4_K,
        }.get(f)
        return (upgrade, "attn_output") if upgrade else (new, "default")


def _fit_row(chosen: GGMLType, rule: str, t: ConvertedTensor, ftype: LlamaFtype) -> TensorChoice:
    """The shape check after the rules (l.436-475)."""
    if chosen.fits_row(t.ne[0]):
        return TensorChoice(t, chosen, rule)
    fallback = _FALLBACK.get(chosen)
    if fallback is None:
        # llama.cpp throws "Unsupported tensor size encountered"
        raise InvalidSpecError(
            f"llama-quantize cannot make {ftype.name}: {t.name} has rows of {t.ne[0]}, not a"
            f" multiple of {chosen.name}'s {chosen.block_elems}, and {chosen.name} has no"
            " fallback type"
        )
    if fallback.fits_row(t.ne[0]):
        return TensorChoice(t, fallback, f"{rule}; fallback {chosen.name}->{fallback.name}")
    return TensorChoice(t, T.F16, f"{rule}; fallback {chosen.name}->F16")


def _model_facts(arch: Architecture) -> tuple[int, int, bool]:
    """(hparams.n_expert, n_gqa(), model.type == LLM_TYPE_70B) as llama.cpp loads them."""
    a = arch.attention
    n_expert = arch.moe.num_experts if arch.moe else 0
    # MLA GGUFs declare one KV head since PR #12801 (the latent acts as MQA)
    n_head_kv = 1 if a.kind is AttentionKind.MLA else a.num_kv_heads
    n_gqa = a.num_heads // n_head_kv
    n = arch.num_layers
    # llama.cpp's load_hparams calls LLM_TYPE_70B at 80 layers (llama-model.cpp l.652, l.997):
    # LLAMA (which Mistral and Mixtral convert to) with n_head != n_head_kv, and QWEN2
    f = family(arch.model_type)
    is_70b = n == 80 and (
        (f.gguf_arch == "llama" and a.num_heads != a.num_kv_heads) or f.gguf_arch == "qwen2"
    )
    return n_expert, n_gqa, is_70b


# llama_model_quantize_impl l.935-948: types llama-quantize refuses to make without an imatrix
_NEED_IMATRIX = frozenset({T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ1_S})


def _needs_imatrix(c: TensorChoice, ftype: LlamaFtype) -> bool:
    name = c.tensor.name
    return (
        c.type in _NEED_IMATRIX
        or (c.type is T.IQ1_M and name not in ("token_embd.weight", "output.weight"))
        or (c.type is T.Q2_K and ftype is F.Q2_K_S and name != "token_embd.weight")
    )


def _run(arch: Architecture, ftype: LlamaFtype, has_imatrix: bool) -> tuple[TensorChoice, ...]:
    tensors = gguf_tensors(arch)
    if not ftype.is_quantized:
        out = []
        for t in tensors:
            source = _converter_type(t, ftype.default_type, arch)
            keep = source.block_elems > 1 or not _quantizable(t)  # MXFP4 experts stay
            out.append(TensorChoice(t, source if keep else ftype.default_type, "float file"))
        return tuple(out)
    n_expert, n_gqa, is_70b = _model_facts(arch)
    state = _Replay(
        ftype=ftype,
        has_imatrix=has_imatrix,
        has_output=any(t.name == "output.weight" for t in tensors),
        n_expert=max(1, n_expert),
        n_expert_raw=n_expert,
        n_gqa=n_gqa,
        is_70b=is_70b,
        n_layer=arch.num_layers,
        n_attention_wv=sum(
            any(s in t.name for s in ("attn_v.weight", "attn_qkv.weight", "attn_kv_b.weight"))
            for t in tensors
        ),
    )
    out = []
    for t, source, quantizable in _inputs(arch):
        if not quantizable:
            out.append(TensorChoice(t, source, "not quantized"))
            continue
        choice = _fit_row(*state.choose(t), t, ftype)
        if source.block_elems > 1 and choice.type is not source:
            # an already quantized input tensor (gpt-oss's MXFP4 experts): llama-quantize
            # refuses to requantize it without --allow-requantize ("requantizing from type
            # %s is disabled", in llama_model_quantize_impl); published
            # files keep it, by --tensor-type override (e.g. bartowski's gpt-oss quants)
            choice = TensorChoice(t, source, f"kept {source.name}: input already quantized")
        out.append(choice)
    return tuple(out)


def _inputs(arch: Architecture) -> tuple[tuple[ConvertedTensor, GGMLType, bool], ...]:
    """Each tensor with its type in the converter's file from a 16-bit checkpoint, and whether
    llama-quantize quantizes it: the same for every file type, so worked out once."""
    cached = arch.cache.get("gguf_replay_inputs")
    if isinstance(cached, tuple):
        return cached
    out = tuple((t, _converter_type(t, T.BF16, arch), _quantizable(t)) for t in gguf_tensors(arch))
    arch.cache["gguf_replay_inputs"] = out
    return out


def _cached_run(arch: Architecture, ftype: LlamaFtype, imatrix: bool) -> tuple[TensorChoice, ...]:
    key = ("gguf_replay", ftype, imatrix)
    cached = arch.cache.get(key)
    if isinstance(cached, tuple):
        return cached
    result = _run(arch, ftype, imatrix)
    arch.cache[key] = result
    return result


def imatrix_required(arch: Architecture, ftype: LlamaFtype) -> bool:
    """Whether llama-quantize needs an importance matrix to make this file at all.

    True for IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ2_M and Q2_K_S; and, for models with
    ``attn_q``/``attn_k``, IQ3_XXS, which stores those two in IQ2_S (l.317-335).
    """
    return ftype.is_quantized and any(
        _needs_imatrix(c, ftype) for c in _cached_run(arch, ftype, False)
    )


def replay(
    arch: Architecture, ftype: LlamaFtype, *, imatrix: bool | None = None
) -> tuple[TensorChoice, ...]:
    """Every tensor of the GGUF file of ``arch`` in ``ftype`` with its type, in file order.

    ``imatrix``: whether ``llama-quantize`` was given an importance matrix. It changes a few
    rules (IQ3_XXS ``attn_v``/``ffn_down``, IQ4_NL/IQ4_XS ``ffn_down``, Q4_0/Q5_0 ``ffn_down``).
    ``None`` (default) replays the plain command: no imatrix, unless the file type cannot be
    made without one (:func:`imatrix_required`). Most files on Hugging Face (bartowski,
    unsloth, mradermacher's i1) are made with one; pass ``True`` for those.

    >>> from rigfit.catalog.lookup import get_model
    >>> arch = get_model("meta-llama/Llama-3.1-8B-Instruct").arch
    >>> plan = {c.tensor.name: c.type.name for c in replay(arch, LlamaFtype.Q4_K_M)}
    >>> plan["output.weight"], plan["token_embd.weight"], plan["blk.0.attn_v.weight"]
    ('Q6_K', 'Q4_K', 'Q6_K')
    >>> plan["blk.5.ffn_down.weight"], plan["blk.6.ffn_down.weight"]
    ('Q4_K', 'Q6_K')
    """
    # by name: pytest's importlib-mode doctest collection can load rigfit.quant a second time,
    # and the rules compare members by identity
    ftype = LlamaFtype[ftype.name]
    use = imatrix if imatrix is not None else imatrix_required(arch, ftype)
    return _cached_run(arch, ftype, use)
