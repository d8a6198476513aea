"""How detection reads the machine: commands, files and NVML behind one small interface, so
the parsers are tested on recorded outputs and no test needs a real GPU."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Protocol

from rigfit.frozen import frozen

__all__ = ["LiveProbe", "NvmlDevice", "Probe", "RecordedProbe"]

# A reader that hangs (a wedged driver) must not hang rigfit: nvidia-smi answers in well under
# a second on a healthy machine.
COMMAND_TIMEOUT_S = 10.0


@frozen
class NvmlDevice:
    """What NVML reports of one GPU."""

    name: str
    memory_total_bytes: int
    pci_device_id: int  # NVML's pciDeviceId: device << 16 | vendor, e.g. 0x268410DE


class Probe(Protocol):
    """The machine as detection sees it."""

    @property
    def platform(self) -> str:
        """``sys.platform``: linux, darwin, win32."""
        ...

    def run(self, argv: Sequence[str]) -> str | None:
        """The command's standard output; None when it is missing or fails."""
        ...

    def read(self, path: str) -> str | None:
        """The file's text; None when it cannot be read."""
        ...

    def glob(self, pattern: str) -> list[str]:
        """Paths matching ``pattern``, sorted."""
        ...

    def nvml(self) -> list[NvmlDevice] | str:
        """NVML's devices, or why NVML could not be read."""
        ...


class LiveProbe:
    """This machine."""

    @property
    def platform(self) -> str:
        return sys.platform

    def run(self, argv: Sequence[str]) -> str | None:
        exe = shutil.which(argv[0])
        if exe is None:
            return None
        try:
            done = subprocess.run(
                [exe, *argv[1:]],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    def read(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def glob(self, pattern: str) -> list[str]:
        return sorted(glob.glob(pattern))

    def nvml(self) -> list[NvmlDevice] | str:
        try:
            import pynvml  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            return "nvidia-ml-py is not installed (pip install 'rigfit[detect]')"
        try:
            pynvml.nvmlInit()
        except Exception as exc:  # NVMLError and its many subclasses: no driver, no GPU
            return f"NVML did not start: {exc}"
        try:
            out = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                name = pynvml.nvmlDeviceGetName(h)
                out.append(
                    NvmlDevice(
                        name.decode() if isinstance(name, bytes) else str(name),
                        int(pynvml.nvmlDeviceGetMemoryInfo(h).total),
                        int(pynvml.nvmlDeviceGetPciInfo(h).pciDeviceId),
                    )
                )
            return out
        except Exception as exc:
            return f"NVML failed while listing devices: {exc}"
        finally:
            pynvml.nvmlShutdown()


@frozen
class RecordedProbe:
    """A machine from recorded outputs: commands by their argv joined with spaces, files by
    path; everything else is missing."""

    platform: str = "linux"
    commands: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    nvml_devices: list[NvmlDevice] | str = "nvidia-ml-py is not installed"

    def run(self, argv: Sequence[str]) -> str | None:
        return self.commands.get(" ".join(argv))

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def glob(self, pattern: str) -> list[str]:
        import fnmatch

        return sorted(p for p in self.files if fnmatch.fnmatch(p, pattern))

    def nvml(self) -> list[NvmlDevice] | str:
        return self.nvml_devices

    @classmethod
    def from_file(cls, path: str) -> RecordedProbe:
        """A recording saved as JSON: ``{"platform": "linux", "commands": {"nvidia-smi ...":
        "..."}, "files": {"/proc/meminfo": "..."}}`` (``RIGFIT_MACHINE`` names one, to show
        what ``--gpu auto`` answers on another machine)."""
        from rigfit.errors import InvalidSpecError

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            probe = cls(
                str(data.get("platform", "linux")),
                {str(k): str(v) for k, v in data.get("commands", {}).items()},
                {str(k): str(v) for k, v in data.get("files", {}).items()},
            )
        except (OSError, ValueError, AttributeError) as exc:
            raise InvalidSpecError(
                f"RIGFIT_MACHINE={path}: not a machine recording ({exc})"
            ) from None
        return probe
