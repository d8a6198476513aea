"""Host RAM bandwidth: presets, memory kinds with channels, figures, clear refusals."""

from __future__ import annotations

import pytest

from rigfit.errors import InvalidSpecError
from rigfit.speed.ram import DEFAULT_RAM, PRESETS, parse_ram_bandwidth


@pytest.mark.parametrize(
    ("text", "gb_s"),
    [
        ("DDR4-3200x2", 51.2),  # 3200 MT/s × 8 B × 2
        ("ddr5-6000x2", 96.0),
        ("DDR5-4800x12", 460.8),  # an EPYC 9004 socket
        ("ddr5-5600", 89.6),  # two channels when not given
        ("ddr5-8x", 358.4),
        ("120GB/s", 120.0),
        ("90 GB/s", 90.0),
    ],
)
def test_parse(text: str, gb_s: float) -> None:
    assert parse_ram_bandwidth(text).bytes_per_s / 1e9 == pytest.approx(gb_s)


@pytest.mark.parametrize("text", ["fast", "ddr3-1600x2", "0GB/s", "ddr5-6000x99", "ddr5-99x2"])
def test_refuses_with_the_allowed_forms(text: str) -> None:
    with pytest.raises(InvalidSpecError, match="allowed: a figure like 90GB/s"):
        parse_ram_bandwidth(text)


def test_default_is_said_to_be_assumed() -> None:
    assert DEFAULT_RAM.assumed
    assert "assumed" in DEFAULT_RAM.label
    assert not any(p.assumed for p in PRESETS.values())
