"""The committed calibration is what the fit on the measurement set gives, and it is sane."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from rigfit.catalog.lookup import get_gpu
from rigfit.speed.calibration import (
    Band,
    Calibration,
    Constants,
    HardwareClass,
    calibration,
    hardware_class,
)

ROOT = Path(__file__).resolve().parents[2]


def test_committed_calibration_is_the_fit() -> None:
    """scripts/fit_speed.py --check re-fits on data/speed/speed.jsonl and compares."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fit_speed.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_efficiencies_are_shares_and_overheads_small() -> None:
    cal = calibration()
    assert "*/*" in cal.constants
    for c in cal.constants.values():
        assert 0 < c.bandwidth_efficiency <= 1
        assert 0 < c.compute_efficiency <= 1
        assert c.quantized_bandwidth_efficiency is None or 0 < c.quantized_bandwidth_efficiency <= 1
        assert 0 <= c.layer_overhead_s < 1e-3
        for b in c.bands.values():
            assert 0 < b.low <= b.high  # measured/predicted percentiles: 10th below 90th
            assert b.rows >= 1
    assert 0 < cal.host_bandwidth_efficiency <= 1


def test_lookup_falls_back_and_says_so() -> None:
    cal = calibration()
    c = cal.lookup("transformers", HardwareClass.NVIDIA_HBM)
    assert c.fallback is not None
    assert "no transformers decode or serving measurements" in c.fallback
    assert cal.lookup("ollama", HardwareClass.APPLE).key.startswith(("llama.cpp/", "*/"))


def test_hardware_classes() -> None:
    assert hardware_class(get_gpu("h100")) is HardwareClass.NVIDIA_HBM
    assert hardware_class(get_gpu("l40s")) is HardwareClass.NVIDIA_GDDR
    assert hardware_class(get_gpu("rtx-4090")) is HardwareClass.NVIDIA_GDDR
    assert hardware_class(get_gpu("m2-ultra-192gb")) is HardwareClass.APPLE
    assert hardware_class(get_gpu("mi300x")) is HardwareClass.AMD_HBM
    assert hardware_class(get_gpu("rx-7900-xtx")) is HardwareClass.AMD_GDDR


def _constants(key: str, bw: float) -> Constants:
    return Constants(key, bw, 0.5, 1e-4, {"decode": Band(0.9, 1.1, 10)}, 10)


def test_vulkan_kernels_fall_back_to_llamacpps_own_before_the_pool() -> None:
    """llama.cpp's Vulkan kernels are calibrated apart; their constants over every class
    price only the classes they have decode rows on, and elsewhere llama.cpp's own constants
    on the class (then over every class) stand before any engine's pooled ones."""
    keys = ("*/*", "*/amd-gddr", "llama.cpp/amd-gddr", "llama.cpp/*", "llama.cpp-vulkan/*")
    meta = {"decode_fit_rows": {"llama.cpp-vulkan/lpddr": 6, "llama.cpp/amd-gddr": 9}}
    cal = Calibration(
        {k: _constants(k, 0.5 + 0.1 * i) for i, k in enumerate(keys)}, 0.5, 2e-5, meta
    )
    # no Vulkan rows on AMD GDDR: llama.cpp's own constants there, not Vulkan's from elsewhere
    c = cal.lookup("llama.cpp-vulkan", HardwareClass.AMD_GDDR)
    assert c.key == "llama.cpp/amd-gddr"
    assert c.fallback is not None
    assert "no llama.cpp-vulkan decode or serving measurements on amd-gddr" in c.fallback
    assert c.bands["decode"].high > 1.1  # widened
    assert cal.lookup("llama.cpp-vulkan", HardwareClass.NVIDIA_GDDR).key == "llama.cpp/*"
    # Vulkan rows on LPDDR, too few for a key: Vulkan's constants over every class, and the
    # note counts them
    c = cal.lookup("llama.cpp-vulkan", HardwareClass.LPDDR)
    assert c.key == "llama.cpp-vulkan/*"
    assert c.fallback is not None
    assert "6 llama.cpp-vulkan decode and serving rows on lpddr hardware, too few" in c.fallback
    # an engine without a parent goes straight to its own wide key, then the pool
    assert cal.lookup("sglang", HardwareClass.AMD_GDDR).key == "*/amd-gddr"
    # the kernels' own class key wins where it exists
    own = replace(
        cal, constants={**cal.constants, "llama.cpp-vulkan/amd-gddr": _constants("v", 0.9)}
    )
    assert own.lookup("llama.cpp-vulkan", HardwareClass.AMD_GDDR).key == "v"


def test_the_shipped_vulkan_constants_stay_on_the_classes_they_were_fitted_on() -> None:
    """No Vulkan decode row is on NVIDIA or HBM hardware: a Vulkan answer there is priced by
    llama.cpp's own constants, so it neither doubles nor halves the CUDA/ROCm figure."""
    cal = calibration()
    for cls in (HardwareClass.NVIDIA_HBM, HardwareClass.NVIDIA_GDDR, HardwareClass.AMD_HBM):
        if cal.decode_rows(f"llama.cpp-vulkan/{cls}"):
            continue  # rows came in: the class has Vulkan constants of its own now
        vk, native = cal.lookup("llama.cpp-vulkan", cls), cal.lookup("llama.cpp", cls)
        assert vk.bandwidth_efficiency == native.bandwidth_efficiency
        assert vk.layer_overhead_s == native.layer_overhead_s
