"""Results as plain data: the documented, stable ``--json`` contract (docs/json.md).

The CLI prints these dictionaries as JSON, and renders its tables from them; the web API will
return them. Every byte figure is an integer number of bytes; keys carry their unit.
"""

from __future__ import annotations

from typing import Any

from rigfit.arch import LayerKind, kv_heads_note
from rigfit.catalog.lookup import Model
from rigfit.catalog.schema import GPURecord
from rigfit.estimate.plan import FitResult, GPURow
from rigfit.hardware import capacity_basis, capacity_bytes
from rigfit.quant import KVCacheType

__all__ = ["SCHEMA_VERSION", "fit_dict", "gpu_dict", "gpu_table_dict", "model_dict"]

SCHEMA_VERSION = 1


def fit_dict(model: Model, result: FitResult) -> dict[str, Any]:
    """The answer of ``rigfit fit``."""
    est, req = result.estimate, result.estimate.request
    return {
        "schema_version": SCHEMA_VERSION,
        "model": model.id,
        "gpu": req.system.gpu.id,
        "gpus": req.system.count,
        "quant": req.weight_format.label,
        "kv_type": req.kv_type.flag,
        "ctx_tokens": req.ctx_tokens,
        "seqs": req.seqs,
        "profile": est.profile,
        "fits": est.fits,
        "weights_bytes": est.term_bytes("weights"),
        "kv_cache_bytes": est.term_bytes("kv_cache"),
        "state_bytes": est.term_bytes("state"),
        "activation_bytes": est.term_bytes("activations"),
        "reserve_bytes": est.term_bytes("reserve"),
        "total_bytes": est.total_bytes,
        "per_gpu_bytes": est.per_gpu_bytes,
        "capacity_per_gpu_bytes": est.capacity_per_gpu_bytes,
        "capacity_total_bytes": est.capacity_total_bytes,
        "capacity_basis": capacity_basis(req.system.gpu),
        "headroom_per_gpu_bytes": est.headroom_per_gpu_bytes,
        "shortfall_per_gpu_bytes": est.shortfall_bytes,
        "max_ctx_tokens": result.max_context_tokens,
        "max_seqs": result.max_seqs,
        "terms": [
            {
                "key": t.key,
                "label": t.label,
                "total_bytes": t.total_bytes,
                "per_gpu_bytes": t.per_gpu_bytes,
                "formula": t.formula,
                "inputs": t.inputs,
            }
            for t in est.terms
        ],
        "suggestions": [
            {
                "change": s.change,
                "per_gpu_bytes": s.per_gpu_bytes,
                "headroom_per_gpu_bytes": s.headroom_per_gpu_bytes,
            }
            for s in result.suggestions
        ],
    }


def model_dict(model: Model) -> dict[str, Any]:
    """The answer of ``rigfit show``: the spec sheet, each value with its source."""
    r, a = model.record, model.arch
    att = a.attention
    return {
        "schema_version": SCHEMA_VERSION,
        "id": r.id,
        "name": r.name,
        "aliases": list(r.aliases),
        "organization": r.organization,
        "family": r.family,
        "base_model": r.base_model,
        "lineage": r.lineage,
        "release_date": r.release_date.isoformat(),
        "license": r.license,
        "modality": r.modality.value,
        "description": r.description,
        "architecture": a.model_type,
        "moe": a.is_moe,
        "params_total": a.params_total,
        "params_active": a.params_active,
        "params_official_total": r.params.total,
        "params_official_active": r.params.active,
        "num_layers": a.num_layers,
        "hidden_size": a.hidden_size,
        "num_attention_heads": att.num_heads,
        "num_kv_heads": att.num_kv_heads,
        "head_dim": att.head_dim,
        "attention": att.kind.value,
        "kv_layers": a.kv_layers,
        "sliding_layers": a.count_layers(LayerKind.SLIDING),
        "linear_attention_layers": a.count_layers(LayerKind.LINEAR),
        "sliding_window": next((x.window for x in a.layers if x.window), None),
        "kv_note": kv_heads_note(a),
        "kv_bytes_per_token_f16": a.kv_bytes_per_token(KVCacheType.F16),
        "experts": a.moe.num_experts if a.moe else None,
        "experts_per_token": a.moe.experts_per_token if a.moe else None,
        "shared_experts": a.moe.num_shared_experts if a.moe else None,
        "mtp_layers": a.mtp_layers,
        "vocab_size": a.vocab_size,
        "context_length": a.context_length,
        "tie_word_embeddings": a.tie_word_embeddings,
        "activation": a.activation,
        "normalization": a.normalization,
        "position_embedding": a.position_embedding,
        "checkpoint_dtype": r.checkpoint.dtype,
        "checkpoint_quantization": r.checkpoint.quantization,
        "checkpoint_bytes": r.checkpoint.safetensors_total_bytes,
        "notes": list(a.notes),
        "sources": {
            "config": str(r.sources.config),
            "card": str(r.sources.card),
            "params": str(r.params.source),
            **({"checkpoint": str(r.checkpoint.source)} if r.checkpoint.source else {}),
        },
        "disagreements": [d.model_dump() for d in r.disagreements],
    }


def gpu_dict(g: GPURecord) -> dict[str, Any]:
    """One accelerator as data, with the capacity rigfit uses and why."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    out.update(g.model_dump(mode="json"))
    out["capacity_bytes"] = capacity_bytes(g)
    out["capacity_basis"] = capacity_basis(g)
    return out


def gpu_table_dict(model: Model, rows: list[GPURow], base: dict[str, Any]) -> dict[str, Any]:
    """The "which accelerators fit" table."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model": model.id,
        **base,
        "rows": [
            {
                "gpu": r.gpu.id,
                "name": r.gpu.name,
                "gpus_needed": r.gpus_needed,
                "per_gpu_bytes": r.per_gpu_bytes,
                "capacity_per_gpu_bytes": r.capacity_per_gpu_bytes,
                "headroom_per_gpu_bytes": r.headroom_per_gpu_bytes,
            }
            for r in rows
        ],
    }
