"""The speed fit's row weights."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigfit.validation.speed_score import source_weights


@dataclass(frozen=True)
class _Row:
    source: str


@given(st.lists(st.sampled_from("abcde"), min_size=1, max_size=60))
def test_a_source_weighs_the_square_root_of_its_rows(sources: list[str]) -> None:
    rows = [_Row(f"https://example.org/{s}") for s in sources]
    weights = source_weights(rows)  # type: ignore[arg-type]
    for s in set(sources):
        mine = [w for r, w in zip(rows, weights, strict=True) if r.source.endswith(s)]
        assert sum(mine) == pytest.approx(math.sqrt(len(mine)))


def test_one_page_of_many_cells_counts_less_than_as_many_pages() -> None:
    one_page = source_weights([_Row("https://example.org/a")] * 16)  # type: ignore[list-item]
    pages = source_weights([_Row(f"https://example.org/{i}") for i in range(16)])  # type: ignore[misc]
    assert sum(one_page) == pytest.approx(4)
    assert sum(pages) == 16


def test_pooled_keys_take_one_device_rows_only() -> None:
    from rigfit.validation.speed_rows import load_speed_rows
    from rigfit.validation.speed_score import _one_device

    rows = {r.id: r for r in load_speed_rows()}
    # a layer split over 8 MI300X is not what one device reaches alone
    assert not _one_device(rows["lcpp-deepseek-v3-q4_k_m-8xmi300x-tg128-rocmblog-sep25"])
    assert _one_device(rows["lcpp-llama2-7b-q4_0-mi300x-rocm-tg128-augmxnt"])


def test_fields_at_an_end_of_their_grid_are_reported() -> None:
    from rigfit.speed.calibration import Constants
    from rigfit.validation.speed_score import _at_grid_edge

    inside = Constants("a/x", 0.8, 0.5, 5e-5, {}, 10, quantized_bandwidth_efficiency=0.9)
    floor = Constants("b/x", 0.3, 0.5, 0.0, {}, 10, quantized_compute_efficiency=0.05)
    assert _at_grid_edge({"a/x": inside, "b/x": floor}) == {
        "b/x": ["bandwidth_efficiency", "quantized_compute_efficiency"]
    }


def test_an_inherited_field_is_the_wider_keys_to_report() -> None:
    from rigfit.speed.calibration import Constants
    from rigfit.validation.speed_score import _at_grid_edge

    floor = Constants("b/x", 0.3, 0.5, 0.0, {}, 10)
    assert _at_grid_edge({"b/x": floor}, {"b/x": set()}) == {}
    assert _at_grid_edge({"b/x": floor}, {"b/x": {"bandwidth_efficiency"}}) == {
        "b/x": ["bandwidth_efficiency"]
    }
