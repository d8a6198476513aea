"""Embedding models run as pooling models: what each engine prices differently from a
generation run of the same architecture, and what it refuses (docs/engines.md)."""

from __future__ import annotations

from dataclasses import replace

import pytest

import rigfit
from rigfit.answer import Query, answer
from rigfit.api import make_request
from rigfit.engines import get_engine
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import Request, estimate
from rigfit.estimate.settings import EngineSettings
from rigfit.planner import PlanQuery, plan_hardware
from rigfit.train.answer import TrainQuery, train_answer

EMBED_8B = "Qwen/Qwen3-Embedding-8B"  # untied head in config.json
# vocab padded to a multiple of 64 as vLLM's ParallelLMHead holds it, × hidden × 2 B (BF16)
HEAD_BYTES = 151_680 * 4096 * 2


def _req() -> Request:
    _, req = make_request(EMBED_8B, "h100-sxm", quant="BF16", ctx=8192)
    return req


def test_catalog_marks_embedding_models() -> None:
    m = rigfit.get_model(EMBED_8B)
    assert not m.generates
    assert _req().pooling
    assert not make_request("Qwen/Qwen3-8B", "h100-sxm")[1].pooling


def test_vllm_drops_the_head_and_the_sampler_warm_up() -> None:
    """adapters.py deletes lm_head; the profile run ends in the pooler, not the sampler."""
    vllm = get_engine("vllm")
    pooling = _req()
    generating = replace(pooling, pooling=False)
    assert (
        estimate(generating, vllm).term_bytes("weights")
        - estimate(pooling, vllm).term_bytes("weights")
        == HEAD_BYTES
    )
    act = vllm.activation_bytes  # type: ignore[attr-defined]
    assert act(pooling) < act(generating)
    assert act(pooling) == vllm._forward_bytes(pooling)  # type: ignore[attr-defined]


def test_sglang_keeps_what_generation_has() -> None:
    """--is-embedding keeps the KV pool and the untied lm_head (model_runner.py 0.5.3)."""
    sglang = get_engine("sglang")
    pooling = _req()
    assert (
        estimate(pooling, sglang).terms == estimate(replace(pooling, pooling=False), sglang).terms
    )


def test_llamacpp_output_buffer_holds_every_token_of_the_ubatch() -> None:
    llamacpp = get_engine("llama.cpp")
    _, req = make_request(EMBED_8B, "rtx-4090", quant="Q8_0", ctx=8192)
    assert req.pooling
    assert estimate(req, llamacpp).term_bytes("output") == (151_665 + 4096) * 512 * 4
    assert estimate(replace(req, pooling=False), llamacpp).term_bytes("output") == 151_665 * 4


@pytest.mark.parametrize("engine", ["transformers", "ollama", "generic"])
def test_engines_rigfit_does_not_replay_refuse(engine: str) -> None:
    """The whole estimate refuses, not only the engine's check (generic has none)."""
    with pytest.raises(UnsupportedArchitectureError, match=r"embedding runs under"):
        estimate(_req(), get_engine(engine))


def test_old_vllm_refused() -> None:
    req = replace(_req(), engine=EngineSettings(version="0.9.2"))
    with pytest.raises(InvalidSpecError, match=r"0\.10\.1"):
        get_engine("vllm").check(req)


@pytest.mark.parametrize(
    ("engine", "quant", "flag"),
    [
        ("vllm", "BF16", "--runner pooling"),
        ("sglang", "BF16", "--is-embedding"),
        ("llama.cpp", "Q8_0", "--embedding"),
    ],
)
def test_commands_start_a_pooling_server(engine: str, quant: str, flag: str) -> None:
    report = answer(Query(EMBED_8B, gpu="h100-sxm", quant=quant, ctx="8k", engine=engine))
    assert report.command is not None
    assert flag in report.command


def test_no_decode_speed_and_no_speed_ranking() -> None:
    report = answer(Query(EMBED_8B, gpu="h100-sxm", ctx="8k"))
    assert report.speed is None
    assert report.speed_note is not None
    assert "generates no tokens" in report.speed_note
    with pytest.raises(InvalidSpecError, match=r"--min-tok-s"):
        plan_hardware(PlanQuery(EMBED_8B, min_tok_s=20))


def test_training_an_embedding_model_is_refused() -> None:
    with pytest.raises(UnsupportedArchitectureError, match=r"contrastive"):
        train_answer(TrainQuery(EMBED_8B, gpu="h100-sxm"))


def test_no_decode_speed_in_tables() -> None:
    """The GPU table's and the model page's speed columns stay empty for an embedding model."""
    from rigfit.estimate.sweep import format_table
    from rigfit.speed.estimate import decode_rate

    req = _req()
    assert decode_rate(req, get_engine("vllm")) is None
    assert decode_rate(replace(req, pooling=False), get_engine("vllm")) is not None
    arch = rigfit.get_model(EMBED_8B).arch
    rows = format_table(arch, (8192,), rigfit.get_gpu("h100-sxm"), [], pooling=True)
    assert all(r.decode_tok_s is None for r in rows)
    assert any(r.weights_bytes for r in rows)
