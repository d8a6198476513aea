"""Accelerators and systems: how much memory a GPU (or N of them) really offers.

Capacity is what programs are told: the runtime's total (cudaMemGetInfo, which vLLM logs as
``total_gpu_memory``) when the catalog has that reading, else the driver's (nvidia-smi's total,
or on Apple silicon Metal's ``recommendedMaxWorkingSetSize``, the default limit of GPU-wired
memory), else the physical capacity from the datasheet. The estimate then takes a runtime
reserve off each device.
"""

from __future__ import annotations

from rigfit.catalog.schema import GPURecord, Origin, Vendor
from rigfit.errors import InvalidSpecError
from rigfit.frozen import frozen
from rigfit.units import GIB, MIB

__all__ = [
    "APPLE_DEFAULT_WORKING_SET_FRACTION",
    "MAX_GPUS",
    "System",
    "apple_working_set_bytes",
    "capacity_basis",
    "capacity_bytes",
    "driver_capacity_bytes",
    "peer_fabric",
]

# macOS lets the GPU wire part of unified memory by default (Metal's
# recommendedMaxWorkingSetSize); logged by llama.cpp on macOS 13-15: 2/3 of memory up to 32 GiB
# (8 GB M2 Air, li-plus/chatglm.cpp#76; 16 GB M1, ise-uiuc/magicoder#19; 32 GB M1 Max,
# ggml-org/llama.cpp#2011) and 3/4 above (64 GB M1 Max, ggml-org/llama.cpp#1870; 96 GB M2 Max,
# #3213; 192 GB M2 Ultra). The citable readings put the switch between 32 and 64 GiB; rigfit
# switches above 32 GiB, as uncitable 36 and 48 GB logs show. macOS 26 raised the default
# (74-84% in 2026 logs, no published table): a machine's own reading, or --wired-limit-mb, wins.
# Used only for Apple entries without a reading of their own.
APPLE_SMALL_WORKING_SET_FRACTION = 2 / 3
APPLE_DEFAULT_WORKING_SET_FRACTION = 0.75
APPLE_SMALL_MEMORY_BYTES = 32 * GIB


def apple_working_set_bytes(memory_bytes: int) -> int:
    """macOS's default GPU memory limit for a Mac with ``memory_bytes`` of unified memory."""
    if memory_bytes <= APPLE_SMALL_MEMORY_BYTES:
        return int(memory_bytes * APPLE_SMALL_WORKING_SET_FRACTION)
    return int(memory_bytes * APPLE_DEFAULT_WORKING_SET_FRACTION)


def capacity_bytes(gpu: GPURecord) -> int:
    """Bytes one device (as the software sees it) offers, before the runtime reserve.

    A board with several devices (the MI250X's two GCDs) is counted per device: its memory
    is split evenly between them and a model must be sharded across them.
    """
    if gpu.runtime_total_bytes is not None:
        return gpu.runtime_total_bytes
    if gpu.driver_reported_bytes is not None:
        return gpu.driver_reported_bytes
    if gpu.vendor is Vendor.APPLE:
        return apple_working_set_bytes(gpu.memory_bytes)
    if gpu.gpu_share_bytes is not None:
        return gpu.gpu_share_bytes
    return gpu.memory_bytes // gpu.devices_per_board


def driver_capacity_bytes(gpu: GPURecord) -> int:
    """The driver's total (nvidia-smi, rocm-smi), for engines calibrated on it: SGLang reads
    nvidia-smi to size its defaults, and its logged free memory is measured against it."""
    if gpu.driver_reported_bytes is not None:
        return gpu.driver_reported_bytes
    return capacity_bytes(gpu)


def capacity_basis(gpu: GPURecord) -> str:
    """Where :func:`capacity_bytes` comes from, in words (its branches in its order)."""
    if gpu.runtime_total_bytes is not None:
        return f"runtime reading ({gpu.runtime_total_reading})"
    if gpu.driver_reported_bytes is not None:
        return f"driver reading ({gpu.driver_reported_reading})"
    if gpu.vendor is Vendor.APPLE:
        share = "2/3" if gpu.memory_bytes <= APPLE_SMALL_MEMORY_BYTES else "3/4"
        return f"{share} of unified memory (macOS 13-15's default GPU working-set limit)"
    if gpu.gpu_share_bytes is not None:
        return (
            f"the most of its {gpu.memory_gb:g} GB of shared system memory the GPU may be"
            f" given ({gpu.gpu_share_bytes / GIB:g} GiB, its maker's figure)"
        )
    if gpu.origin is Origin.CUSTOM:
        return f"given: memory={gpu.memory_bytes / GIB:g} GiB, taken as the driver's total"
    if gpu.devices_per_board > 1:
        return (
            f"datasheet capacity ({gpu.memory_gb:g} GB marketed per board) split over"
            f" {gpu.devices_per_board} devices; --gpus counts devices"
        )
    return f"datasheet capacity ({gpu.memory_gb:g} GB marketed)"


def peer_fabric(gpu: GPURecord) -> bool:
    """Whether the GPUs of a node sit on one switched fabric (NVLink/NVSwitch on SXM boards,
    Infinity Fabric on OAM ones), not on PCIe with at most a two-card bridge: the catalog's
    form factor and interconnect say which."""
    form = gpu.form_factor.lower()
    link = gpu.interconnect.lower()
    return (
        form.startswith(("sxm", "oam"))
        or "nvswitch" in link
        or "nvlink switch" in link
        or "infinity fabric" in link
    )


# The most accelerators one request may name: far above any single deployment (an 8-GPU node ×
# 128), and a bound that keeps every search over GPU counts short.
MAX_GPUS = 1024


@frozen
class System:
    """``count`` accelerators of one kind, plus optionally others (``mix``) in the same host.

    A mixed system (an RTX 4090 beside an RTX 3090) is what llama.cpp's layer split serves;
    ``devices`` lists every device in order, the ``count`` of ``gpu`` first.
    """

    gpu: GPURecord
    count: int = 1
    mix: tuple[GPURecord, ...] = ()
    # the host's system RAM (``--ram``); None: not checked. On Apple silicon it is the one
    # unified pool that GPU and host terms share.
    host_ram_bytes: int | None = None
    # Apple silicon: the GPU wired-memory limit set with `sudo sysctl iogpu.wired_limit_mb=N`
    # (macOS 14+); None: macOS's default working-set limit
    wired_limit_mb: int | None = None

    def __post_init__(self) -> None:
        if self.wired_limit_mb is not None:
            if not self.gpu.unified_memory:
                raise InvalidSpecError(
                    f"--wired-limit-mb is macOS's GPU memory limit on Apple silicon, not an"
                    f" option for {self.gpu.name}"
                )
            top = self.gpu.memory_bytes // MIB
            if not 1 <= self.wired_limit_mb <= top:
                raise InvalidSpecError(
                    f"--wired-limit-mb must be between 1 and the machine's {top:,} MiB,"
                    f" got {self.wired_limit_mb:,}"
                )
        if self.host_ram_bytes is not None and self.host_ram_bytes < 0:
            raise InvalidSpecError(
                f"--ram must be a size of at least 0, like 64GB or 128GiB;"
                f" got {self.host_ram_bytes}"
            )
        if self.count < 1:
            raise InvalidSpecError(f"GPU count must be at least 1, got {self.count}")
        if self.count + len(self.mix) > MAX_GPUS:
            raise InvalidSpecError(
                f"GPU count must be at most {MAX_GPUS}, got {self.count + len(self.mix)}"
            )
        single = [g for g in self.devices if g.one_per_host]
        if len(single) > len({g.id for g in single}):
            raise InvalidSpecError(
                f"{single[0].name} is one per machine (a laptop GPU, an APU or a single-box"
                " system): count it once (--gpus 1; an external GPU beside it is --add-gpu)"
            )
        unified = next((g for g in (self.gpu, *self.mix) if g.unified_memory), None)
        if unified is not None and self.n_devices > 1:
            raise InvalidSpecError(
                f"{unified.name} is a single unified-memory machine; use --gpus 1"
                + (" and no --add-gpu" if self.mix else "")
            )

    @property
    def devices(self) -> tuple[GPURecord, ...]:
        """Every device, in the order engines number them (CUDA0, CUDA1, ...)."""
        return (self.gpu,) * self.count + self.mix

    @property
    def n_devices(self) -> int:
        return self.count + len(self.mix)

    @property
    def is_mixed(self) -> bool:
        return any(g.id != self.gpu.id for g in self.mix)

    def with_count(self, count: int) -> System:
        """The same system with ``count`` of its main kind of device."""
        return System(self.gpu, count, self.mix, self.host_ram_bytes, self.wired_limit_mb)

    @property
    def capacities_bytes(self) -> tuple[int, ...]:
        """Capacity of each device, in :attr:`devices` order (on Apple silicon, the wired
        limit when one is set)."""
        if self.wired_limit_mb is not None:
            return (self.wired_limit_mb * MIB,)
        return tuple(capacity_bytes(g) for g in self.devices)

    @property
    def capacity_per_gpu_bytes(self) -> int:
        """Capacity of the smallest device (all of them when the system is uniform)."""
        return min(self.capacities_bytes)

    @property
    def capacity_total_bytes(self) -> int:
        return sum(self.capacities_bytes)

    @property
    def label(self) -> str:
        """``2 × rtx-4090`` or ``2 × rtx-4090 + rtx-3090``."""
        parts = [f"{self.count} × {self.gpu.id}"]
        counts: dict[str, int] = {}
        for g in self.mix:
            counts[g.id] = counts.get(g.id, 0) + 1
        parts += [f"{n} × {gid}" if n > 1 else gid for gid, n in counts.items()]
        return " + ".join(parts)
