"""The readers on recorded outputs of nvidia-smi, rocm-smi, sysctl, system_profiler."""

from __future__ import annotations

from collections.abc import Callable

from rigfit.detect.readers import (
    parse_amd_smi_static,
    parse_nvidia_smi_csv,
    parse_nvidia_smi_q,
    parse_nvidia_smi_table,
    parse_pci_device_id,
    parse_rocm_smi_json,
    parse_rocm_smi_text,
)
from rigfit.units import MIB

Recorded = Callable[[str], str]


def test_pci_device_id_is_vendor_then_device() -> None:
    assert parse_pci_device_id("0x26B910DE") == "10de:26b9"
    assert parse_pci_device_id("N/A") is None


def test_csv_with_header(recorded: Recorded) -> None:
    seen = parse_nvidia_smi_csv(recorded("nvsmi_csv_2gpu_l40s.txt"))
    assert [(s.name, s.memory_bytes, s.pci_id) for s in seen] == [
        ("NVIDIA L40S", 46068 * MIB, "10de:26b9")
    ] * 2


def test_csv_without_header_takes_the_fields_named(recorded: Recorded) -> None:
    fields = ("name", "memory.total", "driver_version", "pci.device_id")
    seen = parse_nvidia_smi_csv(recorded("nvsmi_csv_noheader_2gpu_quadro-rtx-6000.txt"), fields)
    assert [(s.name, s.memory_bytes, s.pci_id) for s in seen] == [
        ("Quadro RTX 6000", 24576 * MIB, "10de:1e30")
    ] * 2


def test_csv_of_every_field(recorded: Recorded) -> None:
    (seen,) = parse_nvidia_smi_csv(recorded("nvsmi_querygpu_csv_allfields_1gpu_rtx-4080-super.txt"))
    assert (seen.name, seen.memory_bytes, seen.pci_id) == (
        "NVIDIA GeForce RTX 4080 SUPER",
        16376 * MIB,
        "10de:2702",
    )


def test_full_query_skips_mig_partitions(recorded: Recorded) -> None:
    (seen,) = parse_nvidia_smi_q(recorded("nvsmi_q_1gpu_h100-80gb-hbm3-mig.txt"))
    # the board's total, not the first MIG partition's 40448 MiB
    assert (seen.name, seen.memory_bytes, seen.pci_id) == (
        "NVIDIA H100 80GB HBM3",
        81559 * MIB,
        "10de:2330",
    )


def test_table_of_eight(recorded: Recorded) -> None:
    seen = parse_nvidia_smi_table(recorded("nvsmi_table_8gpu_h100-80gb-hbm3.txt"))
    assert len(seen) == 8
    assert {(s.name, s.memory_bytes) for s in seen} == {("NVIDIA H100 80GB HBM3", 81559 * MIB)}


def test_table_on_windows_reads_past_the_driver_model(recorded: Recorded) -> None:
    (seen,) = parse_nvidia_smi_table(recorded("nvsmi_table_1gpu_rtx-2080-super-windows.txt"))
    assert (seen.name, seen.memory_bytes) == ("NVIDIA GeForce RTX 2080 ...", 8192 * MIB)


def test_rocm_smi_json(recorded: Recorded) -> None:
    (seen,) = parse_rocm_smi_json(recorded("rocmsmi_json_1gpu_rx-7900-xt.txt"))
    assert (seen.name, seen.memory_bytes, seen.pci_id) == (
        "Radeon RX 7900 XT",
        21458059264,
        "1002:744c",
    )


def test_rocm_smi_text(recorded: Recorded) -> None:
    seen = parse_rocm_smi_text(recorded("rocmsmi_a_4gpu_mi300x.txt"))
    assert [(s.name, s.pci_id) for s in seen] == [("AMD Instinct MI300X OAM", "1002:74a1")] * 4
    assert all(s.memory_bytes is None for s in seen)  # -a prints no VRAM total here


def test_amd_smi_static(recorded: Recorded) -> None:
    seen = parse_amd_smi_static(recorded("amdsmi_static_4gpu_mi300a_amdsmi_readme.txt"))
    assert [(s.name, s.memory_bytes, s.pci_id) for s in seen] == [
        ("MI300A", 64289 * MIB, "1002:74a0")
    ] * 4
    (cut,) = parse_amd_smi_static(recorded("amdsmi_static_mi350x_partial.txt"))
    assert (cut.name, cut.memory_bytes, cut.pci_id) == ("AMD Instinct MI350X", None, "1002:75a0")
