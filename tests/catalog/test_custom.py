"""Accelerators outside the catalog: custom specs, the user's file, and "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigfit import answer
from rigfit.answer import Query
from rigfit.catalog.custom import parse_custom
from rigfit.catalog.lookup import closest_gpus, get_gpu, list_gpus
from rigfit.catalog.schema import Origin
from rigfit.errors import CatalogError, InvalidSpecError, UnknownGPUError
from rigfit.hardware import capacity_bytes
from rigfit.units import GIB


def test_custom_spec() -> None:
    g = parse_custom("custom:memory=24GiB,bandwidth=1.008TB/s,bf16=165TFLOPS,int8=0.66POPS")
    assert (g.memory_bytes, g.bandwidth_gb_s, g.bf16_dense_tflops, g.int8_dense_tops) == (
        24 * GIB,
        1008.0,
        165.0,
        660.0,
    )
    assert g.origin is Origin.CUSTOM
    assert capacity_bytes(g) == 24 * GIB


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("custom:", "memory is required"),
        ("custom:bandwidth=1000GB/s", "memory is required"),
        ("custom:memory=lots", "memory='lots' is not a size"),
        ("custom:memory=0GB", "memory must be above 0"),
        ("custom:memory=24GiB,bandwith=1TB/s", "did you mean bandwidth"),
        ("custom:memory=24GiB,bandwidth=fast", "is not a rate"),
        ("custom:memory=24GiB,bandwidth=0GB/s", "bandwidth must be above 0"),
        ("custom:memory=24GiB,bf16=-3", "is not a throughput"),
        ("custom:memory=24GiB,vendor=ibm", "vendor='ibm' is not one of"),
        ("custom:memory=24GiB,pcie=7", "pcie must be 3, 4 or 5"),
        ("custom:memory=24GiB,memory=16GiB", "memory is given twice"),
        ("custom:memory", "is not key=value"),
    ],
)
def test_bad_custom_specs_say_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(InvalidSpecError, match=says):
        get_gpu(spec)


def test_custom_spec_without_bandwidth_fits_but_has_no_speed() -> None:
    report = answer.answer(Query("Qwen/Qwen3-8B", gpu="custom:memory=24GiB", quant="Q4_K_M"))
    assert report.fits
    assert report.speed is None
    assert report.speed_note is not None
    assert "no memory bandwidth" in report.speed_note


def test_custom_spec_with_bandwidth_has_a_speed() -> None:
    report = answer.answer(
        Query("Qwen/Qwen3-8B", gpu="custom:memory=24GiB,bandwidth=1008GB/s", quant="Q4_K_M")
    )
    assert report.speed is not None
    assert report.speed.decode_tok_s.value > 0


USER_FILE = """
[[accelerator]]
id = "my-3090-blower"
name = "My blower RTX 3090"
aliases = ["blower"]
vendor = "nvidia"
segment = "consumer"
architecture = "Ampere"
release_year = 2021
form_factor = "PCIe card"
memory_type = "GDDR6X"
memory_gb = 24
memory_bytes = 25769803776
bandwidth_gb_s = 936
interconnect = "PCIe 4.0 x16"
"""


def test_user_accelerators_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIGFIT_CONFIG_DIR", str(tmp_path))
    (tmp_path / "accelerators.toml").write_text(USER_FILE)
    g = get_gpu("blower")
    assert (g.id, g.origin) == ("my-3090-blower", Origin.USER)
    assert list_gpus()[0].id == "my-3090-blower"
    assert "my-3090-blower" in closest_gpus("my-3090", list_gpus())


def test_user_file_is_validated_by_the_catalog_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIGFIT_CONFIG_DIR", str(tmp_path))
    (tmp_path / "accelerators.toml").write_text(
        USER_FILE.replace("memory_gb = 24", "memory_gb = -1")
    )
    with pytest.raises(
        CatalogError, match=r"accelerators.toml: accelerator my-3090-blower: memory_gb"
    ):
        get_gpu("blower")


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("m2", "m2"),  # an Apple chip, not the MI250X
        ("b570", "arc-b580"),  # an Arc card, not the B200
        ("rx7600", "rx-7600-xt"),
        ("4090 laptp", "rtx-4090-laptop"),
        ("h20O", "h200"),
    ],
)
def test_suggestions_come_from_the_maker_the_name_suggests(typed: str, first: str) -> None:
    with pytest.raises(UnknownGPUError) as err:
        get_gpu(typed)
    suggested = err.value.suggestions
    assert suggested, typed
    assert suggested[0].startswith(first), suggested


def test_custom_apple_says_its_limit() -> None:
    from rigfit.hardware import capacity_basis

    g = parse_custom("custom:memory=24GiB,vendor=apple")
    assert capacity_bytes(g) == 24 * GIB * 2 // 3
    assert capacity_basis(g).startswith("2/3 of unified memory")


def test_fp8_on_a_custom_card_needs_its_architecture() -> None:
    with pytest.raises(InvalidSpecError, match="give its architecture"):
        answer.answer(Query("Qwen/Qwen3-8B", gpu="custom:memory=24GiB", quant="FP8"))
    report = answer.answer(
        Query("Qwen/Qwen3-8B", gpu="custom:memory=24GiB,arch=ada", quant="FP8", ctx="8k")
    )
    assert report.fits
