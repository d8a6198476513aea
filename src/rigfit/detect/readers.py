"""Readers of what the drivers report, one per source; each turns recorded text into
:class:`Seen` devices and says in one line what it found or why it found nothing.

Sources, in the order detection asks them:

- NVIDIA: NVML (``nvidia-ml-py``), else ``nvidia-smi --query-gpu`` (present wherever the
  driver is, Windows included: it reads the driver's 64-bit total, not WMI's 32-bit
  ``AdapterRAM`` that caps at 4 GiB).
- AMD: ``rocm-smi --showproductname --showmeminfo vram --json``, else the amdgpu driver's
  sysfs files (``/sys/class/drm/card*/device/mem_info_vram_total``, ``vendor``, ``device``).
- Intel: the sysfs PCI ids (the memory then comes from the catalog entry it matches).
- Apple silicon: ``sysctl`` (chip name, ``hw.memsize``, ``iogpu.wired_limit_mb``).
"""

from __future__ import annotations

import csv
import io
import json
import re

from rigfit.detect.probe import Probe
from rigfit.frozen import frozen
from rigfit.units import MIB

__all__ = [
    "AMD_SMI_QUERY",
    "NVIDIA_SMI_QUERY",
    "AppleChip",
    "Reading",
    "Seen",
    "parse_amd_smi_static",
    "parse_nvidia_smi_csv",
    "parse_pci_device_id",
    "parse_rocm_smi_json",
    "read_amd",
    "read_apple",
    "read_nvidia",
    "read_sysfs",
]

NVIDIA_SMI_FIELDS = ("index", "name", "memory.total", "pci.device_id")
NVIDIA_SMI_QUERY = (
    "nvidia-smi",
    f"--query-gpu={','.join(NVIDIA_SMI_FIELDS)}",
    "--format=csv,noheader,nounits",
)
ROCM_SMI_QUERY = ("rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json")
_VENDOR_IDS = {"10de": "NVIDIA", "1002": "AMD", "8086": "Intel"}


@frozen
class Seen:
    """One device as a driver reports it."""

    name: str
    memory_bytes: int | None  # the driver's total; None: not reported
    pci_id: str | None  # "10de:2684"
    via: str  # the reader: "NVML", "nvidia-smi", "rocm-smi", "sysfs", "sysctl"


@frozen
class Reading:
    """What one source found, and the line that says so."""

    source: str
    devices: tuple[Seen, ...]
    said: str


def parse_pci_device_id(text: str) -> str | None:
    """NVIDIA's ``pci.device_id`` (device in the high half, vendor in the low) as vendor:device.

    >>> parse_pci_device_id("0x268410DE")
    '10de:2684'
    """
    t = text.strip().lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{8}", t):
        return None
    return f"{t[4:]}:{t[:4]}"


def parse_nvidia_smi_csv(text: str, fields: tuple[str, ...] | None = None) -> list[Seen]:
    """Rows of ``nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]``.

    ``fields`` names the columns of a ``noheader`` output; with a header row the columns are
    read from it (``memory.total [MiB]``). Memory is in MiB, with or without the unit.
    """
    rows = [r for r in csv.reader(io.StringIO(text), skipinitialspace=True) if r]
    if not rows:
        return []
    if fields is None:
        fields = tuple(re.sub(r"\s*\[.*\]$", "", c.strip()) for c in rows[0])
        rows = rows[1:]
    col = {f: i for i, f in enumerate(fields)}
    if "name" not in col:
        return []
    out = []
    for r in rows:
        if len(r) != len(fields):
            continue
        mem = None
        if "memory.total" in col:
            m = re.match(r"^\s*(\d+)\s*(MiB)?\s*$", r[col["memory.total"]])
            mem = int(m.group(1)) * MIB if m else None
        pci = parse_pci_device_id(r[col["pci.device_id"]]) if "pci.device_id" in col else None
        out.append(Seen(r[col["name"]].strip(), mem, pci, "nvidia-smi"))
    return out


def parse_nvidia_smi_q(text: str) -> list[Seen]:
    """``nvidia-smi -q``: per ``GPU <bus id>`` block, its Product Name, PCI Device Id and the
    board's FB Memory Usage Total (MIG devices list their own totals deeper in; skipped)."""
    out = []
    for block in re.split(
        r"^GPU [0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.\d\s*$", text, flags=re.M
    )[1:]:
        name = re.search(r"^ {4}Product Name\s*:\s*(.+?)\s*$", block, re.M)
        if name is None:
            continue
        total = re.search(r"^ {4}FB Memory Usage\s*\n {8}Total\s*:\s*(\d+)\s*MiB", block, re.M)
        device = re.search(r"^ {8}Device Id\s*:\s*(0x[0-9A-Fa-f]{8})", block, re.M)
        out.append(
            Seen(
                name.group(1),
                int(total.group(1)) * MIB if total else None,
                parse_pci_device_id(device.group(1)) if device else None,
                "nvidia-smi -q",
            )
        )
    return out


_TABLE_ROW = re.compile(r"^\|\s+(\d+)\s+(.+?)\s+(?:On|Off|WDDM|TCC)\s+\|")
_TABLE_MEMORY = re.compile(r"\|\s*\d+MiB\s*/\s*(\d+)MiB\s*\|")


def parse_nvidia_smi_table(text: str) -> list[Seen]:
    """Plain ``nvidia-smi``: each GPU's row and the memory total on the line below. Long
    names are cut with "..." there; a cut name matches by its first words and the memory."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines[:-1]):
        row = _TABLE_ROW.match(line)
        mem = _TABLE_MEMORY.search(lines[i + 1])
        if row and mem:
            out.append(Seen(row.group(2).strip(), int(mem.group(1)) * MIB, None, "nvidia-smi"))
    return out


def read_nvidia(probe: Probe) -> Reading:
    nvml = probe.nvml()
    if not isinstance(nvml, str) and nvml:
        devices = tuple(
            Seen(
                d.name,
                d.memory_total_bytes,
                parse_pci_device_id(f"{d.pci_device_id & 0xFFFFFFFF:08x}"),
                "NVML",
            )
            for d in nvml
        )
        return Reading("NVIDIA", devices, f"NVML: {len(devices)} GPU(s)")
    why_nvml = "NVML: no GPU" if not isinstance(nvml, str) else f"NVML: {nvml}"
    text = probe.run(NVIDIA_SMI_QUERY)
    if text is not None:
        devices = tuple(parse_nvidia_smi_csv(text, NVIDIA_SMI_FIELDS))
        return Reading("NVIDIA", devices, f"{why_nvml}; nvidia-smi: {len(devices)} GPU(s)")
    # a driver too old for --query-gpu's fields: the full query, then the table
    text = probe.run(("nvidia-smi", "-q"))
    if text is not None and (devices := tuple(parse_nvidia_smi_q(text))):
        return Reading("NVIDIA", devices, f"{why_nvml}; nvidia-smi -q: {len(devices)} GPU(s)")
    text = probe.run(("nvidia-smi",))
    if text is not None and (devices := tuple(parse_nvidia_smi_table(text))):
        return Reading("NVIDIA", devices, f"{why_nvml}; nvidia-smi: {len(devices)} GPU(s)")
    return Reading("NVIDIA", (), f"{why_nvml}; nvidia-smi: not found or failed")


def parse_rocm_smi_json(text: str) -> list[Seen]:
    """``rocm-smi --showproductname --showmeminfo vram --json``: one object per card."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    if not isinstance(data, dict):
        return []
    out = []
    for key in sorted(data, key=lambda k: (len(k), k)):
        card = data[key]
        if not key.startswith("card") or not isinstance(card, dict):
            continue
        name = str(card.get("Card Series") or card.get("Card series") or "").strip()
        name = name or str(card.get("Card SKU") or card.get("Card model") or key).strip()
        total = card.get("VRAM Total Memory (B)")
        mem = int(total) if isinstance(total, str | int) and str(total).isdigit() else None
        model = str(card.get("Card Model") or card.get("Card model") or "").lower()
        pci = (
            f"1002:{model.removeprefix('0x')[-4:]}"
            if re.fullmatch(r"(0x)?[0-9a-f]{4}", model)
            else None
        )
        out.append(Seen(name, mem, pci, "rocm-smi"))
    return out


def parse_rocm_smi_text(text: str) -> list[Seen]:
    """``rocm-smi --showproductname --showmeminfo vram`` (or ``-a``) as text: the
    ``GPU[i] : Card series`` / ``Card model`` / ``VRAM Total Memory (B)`` lines."""
    cards: dict[int, dict[str, str]] = {}
    for m in re.finditer(r"^GPU\[(\d+)\]\s*:\s*([^:]+?):\s*(.+?)\s*$", text, re.M):
        cards.setdefault(int(m.group(1)), {})[m.group(2).strip().lower()] = m.group(3)
    out = []
    for _, card in sorted(cards.items()):
        name = card.get("card series") or card.get("card sku")
        if not name:
            continue
        total = card.get("vram total memory (b)", "")
        model = card.get("card model", "").lower()
        pci = f"1002:{model[2:]}" if re.fullmatch(r"0x[0-9a-f]{4}", model) else None
        out.append(Seen(name, int(total) if total.isdigit() else None, pci, "rocm-smi"))
    return out


AMD_SMI_QUERY = ("amd-smi", "static", "--asic", "--vram")
_VRAM_SIZE = re.compile(r"^ {4}VRAM:\s*\n(?: {8}.*\n)*? {8}SIZE:\s*(\d+)\s*MB", re.M)


def parse_amd_smi_static(text: str) -> list[Seen]:
    """``amd-smi static`` (ROCm 6+, rocm-smi's successor): per ``GPU: i`` block, the ASIC's
    MARKET_NAME and DEVICE_ID and the VRAM SIZE. amd-smi's "MB" are MiB: it prints an RX 7900
    XTX's 24 GiB as 24560 MB (ROCm/TheRock#1737), below 24 GiB in MiB, far below it in 10^6."""
    out = []
    for block in re.split(r"^GPU: \d+\s*$", text, flags=re.M)[1:]:
        name = re.search(r"^ {8}MARKET_NAME:\s*(.+?)\s*$", block, re.M)
        if name is None:
            continue
        device = re.search(r"^ {8}DEVICE_ID:\s*0x([0-9a-fA-F]{4})\s*$", block, re.M)
        size = _VRAM_SIZE.search(block)
        out.append(
            Seen(
                name.group(1),
                int(size.group(1)) * MIB if size else None,
                f"1002:{device.group(1).lower()}" if device else None,
                "amd-smi",
            )
        )
    return out


def read_sysfs(probe: Probe, vendors: tuple[str, ...]) -> list[Seen]:
    """Display devices of ``vendors`` (PCI vendor ids) from Linux's DRM sysfs; amdgpu adds its
    VRAM total in bytes."""
    out = []
    for vendor_path in probe.glob("/sys/class/drm/card*/device/vendor"):
        base = vendor_path.rsplit("/", 1)[0]
        if re.search(r"card\d+-", base):
            continue  # a connector (card0-DP-1), not a device
        vendor = (probe.read(vendor_path) or "").strip().lower().removeprefix("0x")
        device = (probe.read(f"{base}/device") or "").strip().lower().removeprefix("0x")
        if vendor not in vendors or not re.fullmatch(r"[0-9a-f]{4}", device):
            continue
        total = (probe.read(f"{base}/mem_info_vram_total") or "").strip()
        name = (probe.read(f"{base}/product_name") or "").strip()
        out.append(
            Seen(
                name or f"{_VENDOR_IDS.get(vendor, vendor)} device {vendor}:{device}",
                int(total) if total.isdigit() else None,
                f"{vendor}:{device}",
                "sysfs",
            )
        )
    return out


def read_amd(probe: Probe) -> Reading:
    text = probe.run(AMD_SMI_QUERY)
    if text is not None and (devices := tuple(parse_amd_smi_static(text))):
        return Reading("AMD", devices, f"amd-smi: {len(devices)} GPU(s)")
    text = probe.run(ROCM_SMI_QUERY)
    if text is not None and (devices := tuple(parse_rocm_smi_json(text))):
        return Reading("AMD", devices, f"rocm-smi: {len(devices)} GPU(s)")
    text = probe.run(ROCM_SMI_QUERY[:-1])  # rocm-smi before --json
    if text is not None and (devices := tuple(parse_rocm_smi_text(text))):
        return Reading("AMD", devices, f"rocm-smi: {len(devices)} GPU(s)")
    if probe.platform != "linux":
        return Reading("AMD", (), "amd-smi, rocm-smi: not found or failed")
    devices = tuple(read_sysfs(probe, ("1002",)))
    said = "amd-smi, rocm-smi: not found or failed; /sys/class/drm: "
    return Reading("AMD", devices, said + f"{len(devices)} amdgpu device(s)")


def read_intel(probe: Probe) -> Reading:
    if probe.platform != "linux":
        return Reading("Intel", (), "Intel: read on Linux only (sysfs PCI ids)")
    devices = tuple(read_sysfs(probe, ("8086",)))
    return Reading("Intel", devices, f"/sys/class/drm: {len(devices)} Intel display device(s)")


@frozen
class AppleChip:
    """An Apple silicon Mac as sysctl reports it."""

    chip: str  # "Apple M2 Pro"
    memory_bytes: int  # hw.memsize: the unified memory
    wired_limit_mb: int | None  # iogpu.wired_limit_mb; None: 0 (macOS's default) or absent


def key_values(text: str) -> dict[str, str]:
    """``key: value`` lines (sysctl, system_profiler), keys as written."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and value.strip():
            out.setdefault(key.strip(), value.strip())
    return out


_PROFILER_MEMORY = re.compile(r"^(\d+)\s*GB$")


def read_apple(probe: Probe) -> tuple[AppleChip | None, str]:
    """The chip and memory from ``sysctl``; where early macOS 11 named the chip "Apple
    processor", from ``system_profiler SPHardwareDataType`` (Chip, Memory)."""
    if probe.platform != "darwin":
        return None, "Apple silicon: not macOS"
    got = key_values(probe.run(("sysctl", "machdep.cpu.brand_string", "hw.memsize")) or "")
    brand = got.get("machdep.cpu.brand_string", "")
    memsize = got.get("hw.memsize", "")
    via = "sysctl"
    if not re.match(r"Apple M\d", brand) or not memsize.isdigit():
        prof = key_values(probe.run(("system_profiler", "SPHardwareDataType")) or "")
        size = _PROFILER_MEMORY.match(prof.get("Memory", ""))
        if re.match(r"Apple M\d", prof.get("Chip", "")) and size:
            brand, memsize = prof["Chip"], str(int(size.group(1)) * 1024**3)
            via = "system_profiler"
    if not re.match(r"Apple M\d", brand) or not memsize.isdigit():
        return None, f"sysctl, system_profiler: no Apple silicon chip (brand {brand!r})"
    wired = key_values(probe.run(("sysctl", "iogpu.wired_limit_mb")) or "").get(
        "iogpu.wired_limit_mb", ""
    )
    limit = int(wired) if wired.isdigit() and int(wired) > 0 else None
    chip = AppleChip(brand, int(memsize), limit)
    said = f"{via}: {brand}, {int(memsize):,} bytes of unified memory; iogpu.wired_limit_mb " + (
        f"{limit}" if limit else "0 or unset (macOS's default)"
    )
    return chip, said
