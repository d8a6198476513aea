"""Accelerators and systems: how much memory a GPU (or N of them) really offers.

Capacity is what the driver reports when the catalog has that reading (nvidia-smi's total, or
on Apple silicon Metal's ``recommendedMaxWorkingSetSize``, the default limit of GPU-wired
memory), else the physical capacity from the datasheet. The estimate then takes a runtime
reserve off each device.
"""

from __future__ import annotations

from dataclasses import dataclass

from rigfit.catalog.schema import GPURecord, Vendor
from rigfit.errors import InvalidSpecError

__all__ = [
    "APPLE_DEFAULT_WORKING_SET_FRACTION",
    "MAX_GPUS",
    "System",
    "capacity_basis",
    "capacity_bytes",
]

# macOS lets the GPU wire 3/4 of unified memory by default on these machines: the catalog's
# logged Metal readings (recommendedMaxWorkingSetSize) are exactly that for the M1 Max 64GB
# (48 GiB), M2 Max 96GB (72 GiB) and M2 Ultra 192GB (144 GiB). Used only for Apple entries
# without a reading of their own.
APPLE_DEFAULT_WORKING_SET_FRACTION = 0.75


def capacity_bytes(gpu: GPURecord) -> int:
    """Bytes one device (as the software sees it) offers, before the runtime reserve.

    A board with several devices (the MI250X's two GCDs) is counted per device: its memory
    is split evenly between them and a model must be sharded across them.
    """
    if gpu.driver_reported_bytes is not None:
        return gpu.driver_reported_bytes
    if gpu.vendor is Vendor.APPLE:
        return int(gpu.memory_bytes * APPLE_DEFAULT_WORKING_SET_FRACTION)
    return gpu.memory_bytes // gpu.devices_per_board


def capacity_basis(gpu: GPURecord) -> str:
    """Where :func:`capacity_bytes` comes from, in words."""
    if gpu.driver_reported_bytes is not None:
        return f"driver reading ({gpu.driver_reported_reading})"
    if gpu.vendor is Vendor.APPLE:
        return "3/4 of unified memory (macOS default GPU working-set limit)"
    if gpu.devices_per_board > 1:
        return (
            f"datasheet capacity ({gpu.memory_gb:g} GB marketed per board) split over"
            f" {gpu.devices_per_board} devices; --gpus counts devices"
        )
    return f"datasheet capacity ({gpu.memory_gb:g} GB marketed)"


# The most accelerators one request may name: far above any single deployment (an 8-GPU node ×
# 128), and a bound that keeps every search over GPU counts short.
MAX_GPUS = 1024


@dataclass(frozen=True)
class System:
    """``count`` identical accelerators (devices as the software sees them)."""

    gpu: GPURecord
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise InvalidSpecError(f"GPU count must be at least 1, got {self.count}")
        if self.count > MAX_GPUS:
            raise InvalidSpecError(f"GPU count must be at most {MAX_GPUS}, got {self.count}")
        if self.gpu.unified_memory and self.count > 1:
            raise InvalidSpecError(
                f"{self.gpu.name} is a single unified-memory machine; use --gpus 1"
            )

    @property
    def capacity_per_gpu_bytes(self) -> int:
        return capacity_bytes(self.gpu)

    @property
    def capacity_total_bytes(self) -> int:
        return self.capacity_per_gpu_bytes * self.count
