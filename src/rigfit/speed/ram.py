"""The host's memory bandwidth: how fast the CPU reads layers or experts kept in system RAM.

``--ram-bandwidth`` takes a figure (``90GB/s``) or a memory kind with its channels
(``DDR5-6000x2``: DDR5 at 6000 MT/s on two 64-bit channels). A channel moves 8 bytes a
transfer (JEDEC: a DDR4 DIMM and a DDR5 DIMM's two 32-bit subchannels both have a 64-bit data
bus), so the peak is MT/s × 8 B × channels: DDR4-3200 on two channels is 51.2 GB/s, DDR5-4800
on twelve (an EPYC 9004 socket) 460.8 GB/s.
"""

from __future__ import annotations

import re

from rigfit.errors import InvalidSpecError
from rigfit.frozen import frozen
from rigfit.units import GB

__all__ = ["DEFAULT_RAM", "PRESETS", "RamBandwidth", "parse_ram_bandwidth"]

BYTES_PER_TRANSFER_PER_CHANNEL = 8  # a 64-bit channel (JEDEC JESD79-4 DDR4, JESD79-5 DDR5)


@frozen
class RamBandwidth:
    bytes_per_s: float
    label: str  # how it was given, in words
    assumed: bool = False  # rigfit's default, not the user's


def _ddr(kind: str, mts: int, channels: int) -> RamBandwidth:
    bw = mts * 1e6 * BYTES_PER_TRANSFER_PER_CHANNEL * channels
    return RamBandwidth(bw, f"{kind}-{mts} × {channels} channels ({bw / GB:g} GB/s peak)")


# Named machines people ask about; each is MT/s × 8 B × channels of its platform's memory.
PRESETS: dict[str, RamBandwidth] = {
    "ddr4-2x": _ddr("DDR4", 3200, 2),  # a desktop: two channels of DDR4-3200
    "ddr5-2x": _ddr("DDR5", 5600, 2),  # a desktop: two channels of DDR5-5600
    "ddr5-4x": _ddr("DDR5", 5600, 4),  # Threadripper 7000 (non-PRO): four channels
    "ddr5-8x": _ddr("DDR5", 5600, 8),  # Xeon W-3500 / Threadripper PRO 7000: eight
    "ddr5-12x": _ddr("DDR5", 4800, 12),  # EPYC 9004 (Genoa): twelve channels of DDR5-4800
}

# With host-resident weights and no --ram-bandwidth, rigfit assumes the commonest desktop, and
# says so in the answer.
DEFAULT_RAM = RamBandwidth(
    PRESETS["ddr5-2x"].bytes_per_s,
    "assumed DDR5-5600 × 2 channels (89.6 GB/s peak); give --ram-bandwidth",
    assumed=True,
)

_DDR = re.compile(r"^(ddr[45]|lpddr5x?)-(\d{3,5})(?:x(\d{1,2}))?$")
_FIGURE = re.compile(r"^(\d+(?:\.\d+)?)\s*gb/s$")


def parse_ram_bandwidth(text: str) -> RamBandwidth:
    """``90GB/s``, ``DDR5-6000x2`` (MT/s and channels; two when left out) or a preset name.

    >>> parse_ram_bandwidth("DDR4-3200x2").bytes_per_s / 1e9
    51.2
    >>> parse_ram_bandwidth("ddr5-12x").bytes_per_s / 1e9
    460.8
    >>> parse_ram_bandwidth("120GB/s").bytes_per_s / 1e9
    120.0
    """
    low = text.strip().lower().replace(" ", "")
    if low in PRESETS:
        return PRESETS[low]
    m = _FIGURE.match(low)
    if m is not None and float(m.group(1)) > 0:
        return RamBandwidth(float(m.group(1)) * GB, f"{float(m.group(1)):g} GB/s (given)")
    m = _DDR.match(low)
    if m is not None:
        channels = int(m.group(3) or 2)
        if 1 <= channels <= 24 and 1000 <= int(m.group(2)) <= 12000:
            return _ddr(m.group(1).upper(), int(m.group(2)), channels)
    raise InvalidSpecError(
        f"--ram-bandwidth {text!r} is not a bandwidth (allowed: a figure like 90GB/s, a memory"
        " kind like DDR5-6000x2 (MT/s × channels, 1-24 channels), or one of "
        + ", ".join(PRESETS)
        + ")"
    )
