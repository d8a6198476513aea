"""Detect the machine rigfit runs on (``--gpu auto``, ``rigfit doctor``)."""

from rigfit.detect.host import HostMemory
from rigfit.detect.machine import DetectionError, Found, Machine, detect
from rigfit.detect.probe import LiveProbe, NvmlDevice, Probe, RecordedProbe
from rigfit.detect.readers import Seen

__all__ = [
    "DetectionError",
    "Found",
    "HostMemory",
    "LiveProbe",
    "Machine",
    "NvmlDevice",
    "Probe",
    "RecordedProbe",
    "Seen",
    "detect",
]
