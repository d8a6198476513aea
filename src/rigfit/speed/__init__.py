"""How fast a plan runs: decode, prefill, time to first token and throughput under load.

:mod:`rigfit.speed.model` prices the reads and FLOPs of each part of a plan on its device;
:mod:`rigfit.speed.calibration` holds the efficiencies fitted on measured runs;
:mod:`rigfit.speed.estimate` answers the questions users ask, each with a band.
"""

from rigfit.speed.estimate import (
    Figure,
    SpeedEstimate,
    ThroughputPoint,
    Workload,
    decode_rate,
    default_workload,
    estimate_speed,
    served_rates,
)
from rigfit.speed.ram import RamBandwidth, parse_ram_bandwidth

__all__ = [
    "Figure",
    "RamBandwidth",
    "SpeedEstimate",
    "ThroughputPoint",
    "Workload",
    "decode_rate",
    "default_workload",
    "estimate_speed",
    "parse_ram_bandwidth",
    "served_rates",
]
