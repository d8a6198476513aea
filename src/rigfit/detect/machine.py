"""The machine rigfit runs on, as a :class:`~rigfit.hardware.System`: each device found is
matched to its catalog entry (by PCI id, then by the name the driver reports), and keeps the
memory its driver reports; a device the catalog lacks is priced on that memory alone."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from rigfit.catalog.lookup import list_gpus
from rigfit.catalog.schema import GPURecord, Origin, Segment, Vendor
from rigfit.detect.host import HostMemory, read_host
from rigfit.detect.probe import LiveProbe, Probe, RecordedProbe
from rigfit.detect.readers import (
    AppleChip,
    Reading,
    Seen,
    read_amd,
    read_apple,
    read_intel,
    read_nvidia,
)
from rigfit.errors import RigfitError
from rigfit.frozen import frozen
from rigfit.hardware import System
from rigfit.units import GB, GIB, MIB

__all__ = ["DetectionError", "Found", "Machine", "detect", "match_apple", "match_device"]


class DetectionError(RigfitError):
    """Detection found no accelerator; the message says what it looked for."""


# A name match is accepted only when the driver's total is within this share of the
# entry's physical memory: drivers report 94-100% of it (an RTX 4090's 24564 MiB of 24 GiB,
# an H100's 81559 MiB of 80 GiB, an A10's 22731 MiB of 24 GiB with ECC on), and variants
# of one name differ by far more (RTX 3060 8GB/12GB, RTX 4060 Ti 8GB/16GB).
MEMORY_MATCH_TOLERANCE = 0.10
_NAME_NOISE = re.compile(r"\b(nvidia|geforce|amd|radeon|intel|corporation|\(tm\)|\(r\))\b")


def _squash(name: str) -> str:
    """``NVIDIA GeForce RTX 4060 Ti`` → ``rtx4060ti``: the model words only."""
    return re.sub(r"[^a-z0-9]", "", _NAME_NOISE.sub("", name.lower()))


def _memory_close(record: GPURecord, total: int | None) -> bool:
    if total is None:
        return True
    return abs(total - record.memory_bytes) <= MEMORY_MATCH_TOLERANCE * record.memory_bytes


def _closest(records: Sequence[GPURecord], total: int | None) -> GPURecord | None:
    fitting = [r for r in records if _memory_close(r, total)]
    if not fitting:
        return None
    if total is None:
        return fitting[0] if len({r.id for r in fitting}) == 1 else None
    return min(fitting, key=lambda r: (abs(r.memory_bytes - total), r.id))


def match_device(seen: Seen, gpus: Sequence[GPURecord]) -> GPURecord | None:
    """The catalog entry of a device: by PCI id, else by name (its words, or its words and a
    memory size, as in "RTX 4060 Ti" + 16 GiB → rtx-4060-ti-16gb); several candidates are
    told apart by the memory the driver reports. None: not in the catalog."""
    if seen.pci_id is not None:
        hit = _closest([g for g in gpus if seen.pci_id in g.pci_ids], seen.memory_bytes)
        if hit is not None:
            return hit
    key = _squash(seen.name)
    if not key:
        return None
    if seen.name.rstrip().endswith("..."):
        # nvidia-smi's table cuts long names: every entry the first words fit is a candidate,
        # and only one of them within the memory tolerance is a match
        cut = [g for g in gpus if any(_squash(n).startswith(key) for n in (g.name, *g.aliases))]
        close = {g.id: g for g in cut if _memory_close(g, seen.memory_bytes)}
        return next(iter(close.values())) if len(close) == 1 else None
    exact = [g for g in gpus if any(_squash(n) == key for n in (g.name, g.id, *g.aliases))]
    hit = _closest(exact, seen.memory_bytes)
    if hit is not None:
        return hit
    sized = [
        g
        for g in gpus
        for n in (g.name, g.id)
        if re.fullmatch(re.escape(key) + r"(\d+gb)?", _squash(n))
    ]
    return _closest(sized, seen.memory_bytes)


def _with_reading(record: GPURecord, seen: Seen) -> GPURecord:
    """The catalog entry with this machine's driver total: the runtime total (what programs
    are offered) moves by the same amount, the runtime's own reserve being fixed."""
    if seen.memory_bytes is None or seen.memory_bytes == record.driver_reported_bytes:
        return replace(record, origin=Origin.DETECTED)
    driver = min(seen.memory_bytes, record.memory_bytes)
    runtime = record.runtime_total_bytes
    if runtime is not None:
        base = record.driver_reported_bytes or record.memory_bytes
        runtime = min(driver, max(0, runtime + seen.memory_bytes - base)) or None
    reading = f"{seen.via} on this machine: {seen.memory_bytes // MIB:,} MiB"
    return replace(
        record,
        origin=Origin.DETECTED,
        driver_reported_bytes=driver,
        driver_reported_reading=reading,
        driver_reported_source=None,
        runtime_total_bytes=runtime,
        runtime_total_reading=(
            "the catalog's runtime reading, moved by this machine's driver total"
            if runtime is not None
            else None
        ),
        runtime_total_source=None,
    )


def _stand_in(seen: Seen, vendor: Vendor) -> GPURecord:
    """A device the catalog lacks, priced on the memory its driver reports; no bandwidth, so
    no speed."""
    assert seen.memory_bytes is not None
    slug = re.sub(r"[^a-z0-9]+", "-", seen.name.lower()).strip("-") or "gpu"
    return GPURecord(
        id=f"detected-{slug}"[:60],
        name=seen.name,
        vendor=vendor,
        segment=Segment.CONSUMER,
        architecture="unknown (not in rigfit's catalog)",
        release_year=2026,
        form_factor="unknown",
        memory_type="unknown",
        memory_gb=round(seen.memory_bytes / GB, 3),
        memory_bytes=seen.memory_bytes,
        driver_reported_bytes=seen.memory_bytes,
        driver_reported_reading=f"{seen.via} on this machine: {seen.memory_bytes // MIB:,} MiB",
        interconnect="PCIe, generation unknown",
        notes="Detected but not in rigfit's catalog: its memory is the driver's total; speed"
        " is not estimated (add it to accelerators.toml, or use --gpu custom:...).",
        origin=Origin.DETECTED,
    )


def match_apple(
    chip: AppleChip, gpus: Sequence[GPURecord]
) -> tuple[GPURecord | None, str | None, str]:
    """The record of an Apple silicon Mac, its catalog id (None when the catalog lacks this
    memory size: the chip's figures then take the machine's memory), and how, in words."""
    same = [g for g in gpus if g.vendor is Vendor.APPLE and g.architecture == chip.chip]
    exact = [g for g in same if g.memory_bytes == chip.memory_bytes]
    if exact:
        rec = exact[0]
        return replace(rec, origin=Origin.DETECTED), rec.id, f"→ {rec.id}"
    if not same:
        return None, None, f"{chip.chip} is not in rigfit's catalog"
    base = min(same, key=lambda g: g.memory_bytes)
    size = chip.memory_bytes / GIB
    rec = replace(
        base,
        id=f"{base.id.rsplit('-', 1)[0]}-{size:g}gb",
        name=f"{chip.chip} ({size:g}GB unified memory)",
        memory_gb=size,
        memory_bytes=chip.memory_bytes,
        driver_reported_bytes=None,
        driver_reported_reading=None,
        driver_reported_source=None,
        origin=Origin.DETECTED,
    )
    return rec, None, f"→ {base.id}'s chip figures with this Mac's {size:g} GiB (no catalog entry)"


def _custom_spec(g: GPURecord) -> str:
    """A record the catalog lacks, as the ``custom:`` spec that prices it the same."""
    spec = f"custom:memory={g.memory_bytes // MIB}MiB"
    if g.bandwidth_gb_s is not None:
        spec += f",bandwidth={g.bandwidth_gb_s:g}GB/s"
    if g.vendor is not Vendor.NVIDIA:
        spec += f",vendor={g.vendor.value}"
    return spec


@frozen
class Found:
    """One device: as the driver reports it, and the record rigfit prices it with."""

    seen: Seen
    record: GPURecord
    catalog_id: str | None  # None: not in the catalog (a stand-in from the driver's total)


@frozen
class Machine:
    devices: tuple[Found, ...]
    host: HostMemory
    wired_limit_mb: int | None  # Apple silicon: iogpu.wired_limit_mb when set
    said: tuple[str, ...]  # what was asked, and what each source answered

    def system(self) -> System:
        """The devices as one system: the commonest kind first (``--gpus``), the others
        mixed in (``--add-gpu``), with the host's RAM."""
        if not self.devices:
            raise DetectionError(
                "--gpu auto found no accelerator; looked for: "
                + "; ".join(self.said)
                + ". Name one with --gpu (or --gpu custom:memory=...)"
            )
        counts = Counter(f.record.id for f in self.devices)
        main_id = counts.most_common(1)[0][0]
        main = next(f.record for f in self.devices if f.record.id == main_id)
        mix = tuple(f.record for f in self.devices if f.record.id != main_id)
        return System(main, counts[main_id], mix, self.host.total_bytes, self.wired_limit_mb)

    def flags(self) -> tuple[str, ...]:
        """What ``--gpu auto`` stands for, as flags one can type: catalog ids, and a
        ``custom:`` spec for a device the catalog lacks (its driver's total, and the chip's
        bandwidth where known)."""
        names = {id(f.record): f.catalog_id or _custom_spec(f.record) for f in self.devices}
        system = self.system()
        first = next(f.record for f in self.devices if f.record.id == system.gpu.id)
        out = ["--gpu", names[id(first)]]
        if system.count > 1:
            out += ["--gpus", str(system.count)]
        for f in self.devices:
            if f.record.id != system.gpu.id:
                out += ["--add-gpu", names[id(f.record)]]
        if system.wired_limit_mb:
            out += ["--wired-limit-mb", str(system.wired_limit_mb)]
        if self.host.total_bytes:
            out += ["--ram", f"{self.host.total_bytes // MIB}MiB"]
        if self.host.bandwidth:
            out += ["--ram-bandwidth", self.host.bandwidth]
        return tuple(out)

    @property
    def summary(self) -> str:
        """``2 × NVIDIA GeForce RTX 3090 (24,576 MiB, nvidia-smi) → rtx-3090``."""
        groups: Counter[tuple[str, int | None, str, str]] = Counter(
            (f.seen.name, f.seen.memory_bytes, f.seen.via, f.catalog_id or "not in the catalog")
            for f in self.devices
        )
        parts = []
        for (name, mem, via, cid), n in groups.items():
            size = f"{mem // MIB:,} MiB, " if mem else ""
            parts.append(f"{n} × {name} ({size}{via}) → {cid}")
        return "; ".join(parts) or "no accelerator"


def detect(probe: Probe | None = None) -> Machine:
    """Read this machine (or ``probe``'s recording): its accelerators and host RAM."""
    if probe is None:
        recording = os.environ.get("RIGFIT_MACHINE")
        probe = RecordedProbe.from_file(recording) if recording else LiveProbe()
    gpus = list_gpus()
    said: list[str] = []
    found: list[Found] = []
    chip, apple_said = read_apple(probe)
    said.append(apple_said)
    wired = None
    if chip is not None:
        rec, catalog_id, how = match_apple(chip, gpus)
        said.append(how)
        if rec is not None:
            seen = Seen(chip.chip, chip.memory_bytes, None, "sysctl")
            found.append(Found(seen, rec, catalog_id))
            wired = chip.wired_limit_mb
    readings: list[tuple[Reading, Vendor]] = []
    if chip is None:
        readings = [
            (read_nvidia(probe), Vendor.NVIDIA),
            (read_amd(probe), Vendor.AMD),
            (read_intel(probe), Vendor.INTEL),
        ]
    for reading, vendor in readings:
        said.append(reading.said)
        for seen in reading.devices:
            rec = match_device(seen, gpus)
            if rec is not None:
                found.append(Found(seen, _with_reading(rec, seen), rec.id))
            elif seen.memory_bytes:
                found.append(Found(seen, _stand_in(seen, vendor), None))
            else:
                said.append(f"{seen.name} ({seen.pci_id}): not in the catalog, memory unread")
    host = read_host(probe)
    return Machine(tuple(found), host, wired, (*said, *host.said))
