"""The host's system RAM: how much (``/proc/meminfo``, ``sysctl hw.memsize`` or psutil) and how
fast (the memory kind, speed and channels ``dmidecode -t 17`` reports, when it can be read:
it needs root)."""

from __future__ import annotations

import re

from rigfit.detect.probe import Probe
from rigfit.detect.readers import key_values
from rigfit.frozen import frozen
from rigfit.units import GIB, KIB

__all__ = ["HostMemory", "parse_dmidecode", "parse_meminfo", "read_host"]

DMIDECODE = ("dmidecode", "-t", "17")


@frozen
class HostMemory:
    total_bytes: int | None
    # a --ram-bandwidth value (DDR5-5600x2) when dmidecode was readable, else None
    bandwidth: str | None
    said: tuple[str, ...]


def parse_meminfo(text: str) -> int | None:
    """``MemTotal`` of ``/proc/meminfo`` in bytes (the kernel's kB are KiB)."""
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(m.group(1)) * KIB if m else None


@frozen
class DimmSet:
    kind: str  # DDR4, DDR5, LPDDR5
    mts: int  # the configured speed, MT/s
    modules: int
    channels: int
    channels_read: bool  # False: assumed from the module count


_CHANNEL = re.compile(r"(?:channel\s*([a-h0-9])|(?:dimm[_\s-]?|^)([a-h])[0-9]?\b)", re.IGNORECASE)


def parse_dmidecode(text: str) -> DimmSet | None:
    """The populated memory devices of ``dmidecode -t 17``: their kind, the slowest configured
    speed, and the channels their locators name (DIMM_A1, ChannelB-DIMM0, P0 CHANNEL C)."""
    kinds: set[str] = set()
    speeds: list[int] = []
    letters: set[str] = set()
    modules = 0
    for block in re.split(r"\n(?=Handle )", text):
        if "Memory Device" not in block:
            continue
        size = re.search(r"^\s*Size:\s*(.+)$", block, re.MULTILINE)
        if size is None or not re.match(r"\d", size.group(1).strip()):
            continue  # "No Module Installed"
        modules += 1
        kind = re.search(r"^\s*Type:\s*(\S+)", block, re.MULTILINE)
        if kind:
            kinds.add(kind.group(1).upper())
        speed = re.search(
            r"^\s*Configured (?:Memory|Clock) Speed:\s*(\d+)\s*MT/s", block, re.MULTILINE
        ) or re.search(r"^\s*Speed:\s*(\d+)\s*MT/s", block, re.MULTILINE)
        if speed:
            speeds.append(int(speed.group(1)))
        for field in ("Bank Locator", "Locator"):
            loc = re.search(rf"^\s*{field}:\s*(.+)$", block, re.MULTILINE)
            if loc:
                hit = _CHANNEL.search(loc.group(1).strip())
                if hit:
                    letters.add((hit.group(1) or hit.group(2)).upper())
                    break
    known = {k for k in kinds if re.fullmatch(r"(LP)?DDR[45]X?", k)}
    if modules == 0 or len(known) != 1 or not speeds:
        return None
    read = 1 <= len(letters) <= modules
    channels = len(letters) if read else min(modules, 2)
    return DimmSet(known.pop(), min(speeds), modules, channels, read)


def read_host(probe: Probe) -> HostMemory:
    said: list[str] = []
    total: int | None = None
    if probe.platform == "linux":
        total = parse_meminfo(probe.read("/proc/meminfo") or "")
        said.append(
            f"/proc/meminfo: MemTotal {total / GIB:.1f} GiB" if total else "/proc/meminfo: unread"
        )
    elif probe.platform == "darwin":
        got = key_values(probe.run(("sysctl", "machdep.cpu.brand_string", "hw.memsize")) or "")
        size = got.get("hw.memsize", "")
        total = int(size) if size.isdigit() else None
        said.append(f"sysctl hw.memsize: {total / GIB:.1f} GiB" if total else "sysctl: unread")
    if total is None:
        try:
            import psutil  # type: ignore[import-untyped, unused-ignore]

            total = int(psutil.virtual_memory().total)
            said.append(f"psutil: {total / GIB:.1f} GiB")
        except ImportError:
            said.append("host RAM: unread (pip install 'rigfit[detect]' for psutil)")
    bandwidth = None
    if probe.platform == "linux":
        dimms = parse_dmidecode(probe.run(DMIDECODE) or "")
        if dimms is None:
            said.append(
                "dmidecode -t 17: not readable (it needs root) or no DDR4/DDR5 modules listed;"
                " give --ram-bandwidth"
            )
        else:
            bandwidth = f"{dimms.kind}-{dimms.mts}x{dimms.channels}"
            how = "from the slot names" if dimms.channels_read else "assumed from the modules"
            said.append(
                f"dmidecode -t 17: {dimms.modules} × {dimms.kind} at {dimms.mts} MT/s,"
                f" {dimms.channels} channel(s) ({how})"
            )
    return HostMemory(total, bandwidth, tuple(said))
