"""The fine-tuning measurement set is strict: every row names a catalog model and GPU, a
number its quote prints, and a setup rigfit can replay."""

from __future__ import annotations

import json

import pytest

from rigfit.errors import RigfitError
from rigfit.validation.train_rows import load_train_rows, parse_train_rows

GOOD = {
    "id": "t-1",
    "model": "meta-llama/Llama-3.1-8B",
    "gpu": "a100-80gb-sxm",
    "n_gpus": 1,
    "method": "lora",
    "lora_rank": 16,
    "optimizer": "adamw",
    "sharding": "single",
    "seq_len": 4096,
    "micro_batch": 1,
    "grad_ckpt": True,
    "flash_attn": True,
    "framework": "trl",
    "peak_mem": 21.5,
    "peak_mem_unit": "GB",
    "peak_mem_kind": "torch_max_allocated",
    "quote": "peak memory 21.5 GB",
    "source": "https://example.org/run",
}


def test_every_committed_row_loads() -> None:
    assert len(load_train_rows()) > 100


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"peak_mem": 22.5}, "not in the quote"),
        ({"model": "no/such-model"}, "unknown model"),
        ({"gpu": "gtx-9090"}, "unknown GPU"),
        ({"peak_mem_kind": None}, "peak_mem needs"),
        ({"method": "lora", "lora_rank": None}, "needs lora_rank"),
        ({"peak_mem": None, "peak_mem_unit": None, "peak_mem_kind": None}, "peak memory, tokens/s"),
    ],
)
def test_bad_rows_name_their_line(change: dict[str, object], says: str) -> None:
    row = {**GOOD, **change}
    with pytest.raises(RigfitError, match=says) as err:
        parse_train_rows(json.dumps(GOOD) + "\n" + json.dumps({**row, "id": "t-2"}), "x.jsonl")
    assert str(err.value).startswith("x.jsonl:2:")
