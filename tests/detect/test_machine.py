"""Whole machines from recorded outputs: the catalog entries and memory they resolve to."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rigfit.catalog.lookup import get_gpu
from rigfit.catalog.schema import Origin
from rigfit.detect import DetectionError, RecordedProbe, detect
from rigfit.detect.readers import AMD_SMI_QUERY, NVIDIA_SMI_QUERY, ROCM_SMI_QUERY
from rigfit.hardware import capacity_bytes
from rigfit.units import GIB, MIB

Recorded = Callable[[str], str]


def _linux(**commands: str) -> RecordedProbe:
    return RecordedProbe("linux", commands)


def test_one_gpu_from_the_full_query(recorded: Recorded) -> None:
    m = detect(_linux(**{"nvidia-smi -q": recorded("nvsmi_q_1gpu_h100-80gb-hbm3-mig.txt")}))
    s = m.system()
    assert (s.gpu.id, s.count, s.mix) == ("h100-sxm", 1, ())
    assert s.gpu.origin is Origin.DETECTED
    # the driver's total is the catalog's reading for this part: the runtime total stays
    assert capacity_bytes(s.gpu) == capacity_bytes(get_gpu("h100-sxm"))


def test_eight_gpus_from_the_table(recorded: Recorded) -> None:
    m = detect(_linux(nvidia_smi=""))  # nothing: no NVIDIA reader answers
    with pytest.raises(DetectionError, match="looked for"):
        m.system()
    probe = RecordedProbe("linux", {"nvidia-smi": recorded("nvsmi_table_8gpu_h100-80gb-hbm3.txt")})
    s = detect(probe).system()
    assert (s.gpu.id, s.count) == ("h100-sxm", 8)


def test_mixed_cards(recorded: Recorded) -> None:
    table = recorded("nvsmi_table_2gpu_mixed_rtx-5090_rtx-3090-ti_club3090-761_partial.txt")
    s = detect(RecordedProbe("linux", {"nvidia-smi": table})).system()
    assert s.label == "1 × rtx-5090 + rtx-3090-ti"
    assert [d.driver_reported_bytes for d in s.devices] == [32607 * MIB, 24564 * MIB]


def test_a_card_the_catalog_lacks_keeps_its_driver_total(recorded: Recorded) -> None:
    # a 20 GB RTX 3080 (a modded card): the name matches, the memory does not
    table = recorded("nvsmi_table_2gpu_mixed_rtx-3080-20gb_rtx-5090_club3090-845_partial.txt")
    m = detect(RecordedProbe("linux", {"nvidia-smi": table}))
    found = {f.seen.name: f for f in m.devices}
    stand_in = found["NVIDIA GeForce RTX 3080"]
    assert stand_in.catalog_id is None
    assert stand_in.record.memory_bytes == 20480 * MIB
    assert stand_in.record.bandwidth_gb_s is None  # no speed is guessed for it
    assert found["NVIDIA GeForce RTX 5090"].catalog_id == "rtx-5090"


def test_a_cut_name_that_fits_two_entries_is_not_guessed(recorded: Recorded) -> None:
    # "NVIDIA GeForce RTX 2080 ..." with 8 GiB: the RTX 2080 and the 2080 SUPER both have 8 GB
    table = recorded("nvsmi_table_1gpu_rtx-2080-super-windows.txt")
    (found,) = detect(RecordedProbe("win32", {"nvidia-smi": table})).devices
    assert found.catalog_id is None


def test_the_query_wins_over_the_table(recorded: Recorded) -> None:
    row = "NVIDIA GeForce RTX 3090, 24576, 0x220410DE\n"
    csv = f"0, {row}1, {row}"
    probe = RecordedProbe(
        "linux",
        {
            " ".join(NVIDIA_SMI_QUERY): csv,
            "nvidia-smi": recorded("nvsmi_table_8gpu_h100-80gb-hbm3.txt"),
        },
    )
    s = detect(probe).system()
    assert (s.gpu.id, s.count) == ("rtx-3090", 2)


def test_two_rtx_3090(recorded: Recorded) -> None:
    table = recorded("nvsmi_table_2gpu_rtx-3090_club3090-1120_partial.txt")
    s = detect(RecordedProbe("linux", {"nvidia-smi": table})).system()
    assert (s.gpu.id, s.count) == ("rtx-3090", 2)
    assert s.gpu.driver_reported_bytes == 24576 * MIB


def test_rocm_smi_json(recorded: Recorded) -> None:
    probe = _linux(**{" ".join(ROCM_SMI_QUERY): recorded("rocmsmi_json_1gpu_rx-7900-xt.txt")})
    s = detect(probe).system()
    assert s.gpu.id == "rx-7900-xt"
    assert capacity_bytes(s.gpu) == 21458059264  # the driver's total, not the datasheet's


def test_rocm_smi_text(recorded: Recorded) -> None:
    probe = _linux(**{" ".join(ROCM_SMI_QUERY[:-1]): recorded("rocmsmi_a_4gpu_mi300x.txt")})
    s = detect(probe).system()
    assert (s.gpu.id, s.count) == ("mi300x", 4)


def test_sysfs_amdgpu() -> None:
    base = "/sys/class/drm/card1/device"
    probe = RecordedProbe(
        "linux",
        files={
            f"{base}/vendor": "0x1002\n",
            f"{base}/device": "0x744c\n",
            f"{base}/mem_info_vram_total": "25753026560\n",
            "/sys/class/drm/card1-DP-1/device/vendor": "0x1002\n",
        },
    )
    s = detect(probe).system()
    # 744c is the 7900 XT, XTX and GRE alike: the 24 GiB total says XTX
    assert (s.gpu.id, s.count) == ("rx-7900-xtx", 1)


def test_a_mac_from_system_profiler(recorded: Recorded) -> None:
    text = recorded("system_profiler_m1-pro-16gb_m2-pro-16gb.txt").split("Hardware:")[1]
    probe = RecordedProbe(
        "darwin",
        {
            "sysctl machdep.cpu.brand_string hw.memsize": (
                "machdep.cpu.brand_string: Apple processor\n"
            ),
            "system_profiler SPHardwareDataType": text,
            "sysctl iogpu.wired_limit_mb": recorded("sysctl_wired_limit_16gb.txt"),
        },
    )
    m = detect(probe)
    s = m.system()
    assert s.gpu.id == "m1-pro-16gb"
    assert s.wired_limit_mb is None  # 0: macOS's default
    assert capacity_bytes(s.gpu) == 16 * GIB * 2 // 3
    assert s.host_ram_bytes is None  # sysctl gave no hw.memsize here


def test_a_mac_from_sysctl() -> None:
    probe = RecordedProbe(
        "darwin",
        {
            "sysctl machdep.cpu.brand_string hw.memsize": (
                "machdep.cpu.brand_string: Apple M4 Max\nhw.memsize: 137438953472\n"
            ),
            "sysctl iogpu.wired_limit_mb": "iogpu.wired_limit_mb: 120000\n",
        },
    )
    s = detect(probe).system()
    assert (s.gpu.id, s.wired_limit_mb, s.host_ram_bytes) == ("m4-max-128gb", 120000, 128 * GIB)
    assert s.capacities_bytes == (120000 * MIB,)


def test_a_mac_size_the_catalog_lacks_takes_the_chips_figures() -> None:
    probe = RecordedProbe(
        "darwin",
        {
            "sysctl machdep.cpu.brand_string hw.memsize": (
                "machdep.cpu.brand_string: Apple M2 Ultra\nhw.memsize: 206158430208\n"
            ),
        },
    )
    s = detect(probe).system()
    assert s.gpu.memory_bytes == 192 * GIB
    assert s.gpu.bandwidth_gb_s == get_gpu("m2-ultra-192gb").bandwidth_gb_s


def test_nothing_found_says_what_was_looked_for() -> None:
    m = detect(RecordedProbe("linux"))
    with pytest.raises(DetectionError) as err:
        m.system()
    text = str(err.value)
    for looked in ("NVML", "nvidia-smi", "rocm-smi", "/sys/class/drm", "custom:memory"):
        assert looked in text


def test_amd_smi_first(recorded: Recorded) -> None:
    # the MI350X entry's PCI id comes from pci.ids; the partial output has no VRAM block
    probe = _linux(**{" ".join(AMD_SMI_QUERY): recorded("amdsmi_static_mi350x_partial.txt")})
    s = detect(probe).system()
    assert (s.gpu.id, s.count) == ("mi350x", 1)


def test_nvml_first() -> None:
    """NVML's answer (name, total bytes, pciDeviceId) wins over nvidia-smi's: the values a
    recorded 8 × H100 machine's nvidia-smi -q gives for each device."""
    from rigfit.detect import NvmlDevice

    devices = [NvmlDevice("NVIDIA H100 80GB HBM3", 81559 * MIB, 0x233010DE)] * 8
    probe = RecordedProbe("linux", {"nvidia-smi": "not read"}, nvml_devices=devices)
    m = detect(probe)
    s = m.system()
    assert (s.gpu.id, s.count) == ("h100-sxm", 8)
    assert m.devices[0].seen.via == "NVML"
    assert m.devices[0].seen.pci_id == "10de:2330"
