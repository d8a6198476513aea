"""The speed measurement set: every row validates, and bad rows are named by line."""

from __future__ import annotations

import json

import pytest

from rigfit.validation.speed_rows import (
    SpeedRowError,
    held_out,
    load_speed_rows,
    parse_speed_rows,
)

GOOD = {
    "id": "lcpp-x",
    "engine": "llama.cpp",
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "quant": "Q4_0",
    "gpu": "rtx-4090",
    "gpus": 1,
    "parallel": "single",
    "setup": {"n_gen": 128},
    "metric": "decode_tok_s",
    "value": 150.5,
    "unit": "tok/s",
    "quote": "| llama 8B Q4_0 | tg128 | 150.50 ± 0.1 |",
    "source": "https://github.com/ggml-org/llama.cpp/pull/1",
}


def test_the_set_loads() -> None:
    rows = load_speed_rows()
    assert len(rows) >= 50
    assert {r.engine for r in rows} >= {"llama.cpp", "vllm", "sglang", "mlx"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"value": 151.0}, "does not appear in the quote"),
        ({"gpu": "rtx-9999"}, "unknown"),
        ({"quant": "Q9_K"}, "Q9_K"),
        ({"quant": "MLX-4BIT"}, "allowed for mlx"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_bad_rows_name_their_line(change: dict[str, object], message: str) -> None:
    text = json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "id": "lcpp-y", **change})
    with pytest.raises(SpeedRowError, match=rf"test:2: .*{message}"):
        parse_speed_rows(text, "test")


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(SpeedRowError, match="duplicate id"):
        parse_speed_rows(json.dumps(GOOD) + "\n" + json.dumps(GOOD), "test")


def test_a_quarter_is_held_out_by_id() -> None:
    rows = load_speed_rows()
    share = sum(held_out(r.id) for r in rows) / len(rows)
    assert 0.1 < share < 0.4
    assert held_out(rows[0].id) == held_out(rows[0].id)


def test_every_gpu_backend_a_row_names_replays_as_a_backend_setting() -> None:
    """llama-bench's backend column maps onto --backend (a CPU-only run sets none)."""
    import typing

    from rigfit.engines.llamacpp import Backend
    from rigfit.validation.speed_rows import SpeedRow
    from rigfit.validation.speed_score import _BACKEND

    (literal,) = (
        a
        for a in typing.get_args(SpeedRow.model_fields["backend"].annotation)
        if typing.get_origin(a) is typing.Literal
    )
    named = set(typing.get_args(literal)) - {"CPU"}
    assert set(_BACKEND) == named
    assert set(_BACKEND.values()) <= set(Backend)
