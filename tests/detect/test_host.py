"""Host RAM: /proc/meminfo and dmidecode's memory devices, on recorded dumps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rigfit.detect.host import parse_dmidecode, parse_meminfo, read_host
from rigfit.detect.probe import RecordedProbe
from rigfit.speed import parse_ram_bandwidth

Recorded = Callable[[str], str]


def test_meminfo(recorded: Recorded) -> None:
    assert parse_meminfo(recorded("proc_meminfo_16gb.txt")) == 16268680 * 1024


@pytest.mark.parametrize(
    ("name", "kind", "mts", "modules", "channels"),
    [
        # AM5, 2 of 4 slots, EXPO: the configured 6200 MT/s, not the JEDEC 4800
        ("dmidecode_full_ddr5_2of4_expo_x670e.txt", "DDR5", 6200, 2, 2),
        # AM5, 4 DIMMs on 2 channels, run at 3600
        ("dmidecode_full_ddr5_4x32gb_downclocked_x670e.txt", "DDR5", 3600, 4, 2),
        ("dmidecode_full_ddr4_8x32gb_lambda_vector.txt", "DDR4", 3200, 8, 8),
        ("dmidecode_full_ddr5_24x64gb_as-4125gs-tnrt2.txt", "DDR5", 4800, 24, 12),
    ],
)
def test_dmidecode(
    recorded: Recorded, name: str, kind: str, mts: int, modules: int, channels: int
) -> None:
    dimms = parse_dmidecode(recorded(name))
    assert dimms is not None
    assert (dimms.kind, dimms.mts, dimms.modules, dimms.channels) == (
        kind,
        mts,
        modules,
        channels,
    )


def test_host_gives_a_bandwidth_rigfit_reads(recorded: Recorded) -> None:
    probe = RecordedProbe(
        commands={"dmidecode -t 17": recorded("dmidecode_full_ddr5_2of4_expo_x670e.txt")},
        files={"/proc/meminfo": recorded("proc_meminfo_16gb.txt")},
    )
    host = read_host(probe)
    assert host.total_bytes == 16268680 * 1024
    assert host.bandwidth == "DDR5-6200x2"
    assert parse_ram_bandwidth(host.bandwidth).bytes_per_s == 6200e6 * 8 * 2


def test_host_without_root_says_so() -> None:
    host = read_host(RecordedProbe(files={"/proc/meminfo": "MemTotal: 1024 kB\n"}))
    assert host.bandwidth is None
    assert any("needs root" in line for line in host.said)
