"""Tensor- and pipeline-parallel sharding of weights, as vLLM and SGLang lay them out.

Under tensor parallelism (Megatron-style column/row parallel layers) each rank holds 1/TP of
every attention and MLP matrix, of each expert's matrices (FusedMoE splits the intermediate
size) and of the vocabulary (VocabParallelEmbedding pads it to a multiple of 64 first).
Norms, MoE routers and MLA's down-projections (ReplicatedLinear in deepseek_v2.py) are whole on
every rank, and so are the K/V projections when TP exceeds the KV heads: each rank then keeps
one KV head (``max(1, kv_heads // tp)``, vLLM llama.py and SGLang's QKVParallelLinear).
Pipeline parallelism gives each stage a contiguous run of layers, the embedding to the first
stage and the head to the last (vLLM get_pp_indices).
"""

from __future__ import annotations

from rigfit.arch import Architecture, KVLayout, Role
from rigfit.engines.tensors import Kind, PlacedTensor, request_tensors
from rigfit.errors import InvalidSpecError
from rigfit.estimate.memory import Request
from rigfit.quant import KVCacheType

__all__ = [
    "VOCAB_PAD",
    "check_tp",
    "kv_bytes_per_rank_token_layer",
    "kv_heads_per_rank",
    "pp_layers",
    "rank_weight_bytes",
    "state_elems_per_rank",
    "tp_pp_grid",
]

VOCAB_PAD = 64  # DEFAULT_VOCAB_PADDING_SIZE, vllm/model_executor/layers/vocab_parallel_embedding.py

_REPLICATED = {
    Role.NORM,
    Role.ROUTER,
    Role.SHEXP_ROUTER,
    Role.ATTN_Q_A,
    Role.ATTN_KV_A,
    Role.SSM_OTHER,
    # DeepSeek-V3.2's indexer projections are ReplicatedLinear, "no tensor parallel, just
    # replicated" (vLLM deepseek_v2.py Indexer, SGLang dsa_indexer.py)
    Role.INDEXER,
    Role.INDEXER_PROJ,
    # Nemotron 3 Super/Ultra's latent projections: ReplicatedLinear in both engines (vLLM
    # nemotron_h.py NemotronHMoE fc1_latent_proj / fc2_latent_proj, SGLang nemotron_h.py)
    Role.LATENT_DOWN,
    Role.LATENT_UP,
}


def kv_heads_per_rank(arch: Architecture, tp: int) -> int:
    return arch.attention.kv_heads_per_rank(tp)


def tp_pp_grid(req: Request, engine: str, grid: str) -> tuple[int, int]:
    """(tensor-parallel size, pipeline stages) of the request's GPUs: ``--gpus N`` alone is
    tensor parallel over the GPUs of each stage; a given TP × PP must use every GPU. ``grid``
    names the two flags in ``engine``'s words for the message."""
    s, n = req.engine, req.system.n_devices
    if s.tp is None:
        if n % s.pp:
            raise InvalidSpecError(
                f"{n} GPUs do not split into {s.pp} pipeline stages (make --gpus a"
                f" multiple of {s.pp})"
            )
        return n // s.pp, s.pp
    if s.tp * s.pp != n:
        raise InvalidSpecError(
            f"{engine} runs on {grid} GPUs: {s.tp} × {s.pp} = {s.tp * s.pp},"
            f" but {n} GPUs were given (make --gpus {s.tp * s.pp})"
        )
    return s.tp, s.pp


# DeepSeek-V3.2 (DSA) under vLLM and SGLang: the indexer's key cache is 128 fp8 values and one
# fp32 scale per 128 (uint8 head_size 132: vLLM deepseek_v2.py Indexer cache spec, SGLang
# index_key_cache.py), whatever --kv-cache-dtype says; with an fp8 KV cache the sparse MLA
# backend stores the latent as "fp8_ds_mla": 512 fp8 + 4 fp32 scales + 64 bf16 rope = 656 bytes
# (vLLM flashmla_sparse.py, SGLang memory_pool.py)
INDEXER_KEY_BYTES = 128 + 4
FP8_DS_MLA_BYTES = 512 + 4 * 4 + 64 * 2


def state_elems_per_rank(arch: Architecture, tp: int) -> tuple[int, int]:
    """(conv window, SSM or DeltaNet state) elements one request keeps in one recurrent layer
    of one of ``tp`` ranks. Both servers shard the state by heads and raise a Mamba2 model's
    n_groups to TP when TP does not divide it (vLLM layers/mamba/mamba_utils.py
    MambaStateShapeCalculator, SGLang configs/mamba_utils.py)."""
    if arch.mamba is not None:
        m = arch.mamba
        groups = m.n_groups + (0 if m.n_groups % tp == 0 else tp - m.n_groups)
        conv = (m.conv_kernel - 1) * (m.d_inner + 2 * groups * m.state_size) // tp
        return conv, m.num_heads // tp * m.head_dim * m.state_size
    assert arch.linear_attention is not None
    s = arch.linear_attention
    conv = (s.conv_kernel - 1) * s.conv_dim // tp
    return conv, s.num_value_heads // tp * s.key_head_dim * s.value_head_dim


def kv_bytes_per_rank_token_layer(req: Request, tp: int) -> int:
    """One token's KV in one layer of one rank: K and V of the rank's KV heads, or for MLA
    models the latent (kv_lora_rank + rope), whole on every rank (AttentionSpec.kv_row), plus
    DeepSeek-V3.2's indexer key."""
    a = req.arch.attention
    row = req.kv_type.row_bytes(1) * a.kv_elems_per_token(KVLayout.LATENT, tp)
    if a.indexer is None:
        return row
    if req.kv_type is KVCacheType.FP8:
        row = FP8_DS_MLA_BYTES
    return row + INDEXER_KEY_BYTES


def check_tp(arch: Architecture, tp: int, engine: str) -> None:
    """Both engines require the query heads to divide evenly over the ranks."""
    heads = arch.attention.num_heads
    if heads % tp:
        allowed = [d for d in range(1, heads + 1) if heads % d == 0 and d <= 64]
        raise InvalidSpecError(
            f"{engine} needs the {heads} attention heads to divide by the tensor-parallel size"
            f" {tp} (allowed: {', '.join(map(str, allowed))})"
        )


def pp_layers(n_layers: int, pp: int) -> list[range]:
    """Layers of each pipeline stage: even runs of ``n // pp``, the remainder spread one layer
    each over the stages before the last, from the second-to-last backwards
    (vllm/distributed/utils.py get_pp_indices, 0.8.5 l.101-105 and 0.11.0 l.120-124:
    ``for i in range(2, remaining_layers + 2): partitions[-i] += 1``; the last stage holds the
    final norm and head). DeepSeek-V2-Lite's 27 layers over PP 2 are [14, 13]."""
    if pp > n_layers:
        raise InvalidSpecError(
            f"--pipeline-parallel-size {pp} exceeds the model's {n_layers} layers"
        )
    base, rem = divmod(n_layers, pp)
    sizes = [base] * pp
    for i in range(2, rem + 2):
        sizes[-i] += 1
    out, start = [], 0
    for s in sizes:
        out.append(range(start, start + s))
        start += s
    return out


def _rank_bytes(nbytes: int, role: Role | None, kind: Kind, arch: Architecture, tp: int) -> int:
    if role in _REPLICATED:
        return nbytes
    if kind in (Kind.EMBEDDING, Kind.OUTPUT) and role in (Role.TOKEN_EMBD, Role.OUTPUT):
        v = arch.vocab_size
        padded = -(-v // VOCAB_PAD) * VOCAB_PAD
        return nbytes * (-(-padded // tp)) // v
    if role in (Role.ATTN_K, Role.ATTN_V):
        kv = arch.attention.num_kv_heads
        return nbytes * kv_heads_per_rank(arch, tp) // kv
    return -(-nbytes // tp)


# Memo of rank_weight_bytes: keyed by the tensor list's identity (request_tensors returns one
# tuple per model and format) and the shard; bounded, cleared when full. Searches over context
# and concurrency ask the same question hundreds of times.
_RANK_BYTES: dict[object, tuple[object, int]] = {}
_RANK_BYTES_MAX = 4096


def rank_weight_bytes(
    req: Request, tp: int, stage: range, first: bool, last: bool, head: bool = True
) -> int:
    """Weight bytes on one rank of a pipeline stage holding ``stage`` layers; without the
    output head when ``head`` is false (vLLM's pooling models delete it)."""
    tensors = request_tensors(req)
    key = (id(tensors), tp, stage.start, stage.stop, first, last, head)
    hit = _RANK_BYTES.get(key)
    if hit is not None and hit[0] is tensors:
        return hit[1]
    total = _rank_weight_bytes(req, tensors, tp, stage, first, last, head)
    if len(_RANK_BYTES) >= _RANK_BYTES_MAX:
        _RANK_BYTES.clear()
    _RANK_BYTES[key] = (tensors, total)
    return total


def _rank_weight_bytes(
    req: Request,
    tensors: tuple[PlacedTensor, ...],
    tp: int,
    stage: range,
    first: bool,
    last: bool,
    head: bool,
) -> int:
    arch = req.arch
    total = 0
    for t in tensors:
        if t.kind is Kind.EMBEDDING:
            if not (first or (last and arch.tie_word_embeddings and head)):
                continue
        elif t.kind is Kind.OUTPUT:
            if not last or (not head and t.role is Role.OUTPUT):
                continue
        elif t.kind is Kind.VISION:
            if not first:
                continue
        elif t.layer is not None and t.layer not in stage:
            continue
        total += _rank_bytes(t.nbytes, t.role, t.kind, arch, tp)
    return total
