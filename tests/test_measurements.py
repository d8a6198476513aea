"""The bundled measurement set loads, resolves against the catalog and converts exactly."""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from rigfit.catalog.lookup import get_gpu, get_model
from rigfit.quant import parse_kv_type, parse_quant
from rigfit.validation.measurements import (
    DATA_DIR,
    Engine,
    Measurement,
    MeasurementError,
    Unit,
    load_measurements,
    parse_measurements,
    value_in_quote,
)

ROWS = load_measurements()


def _row(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "t-1",
        "engine": "llama.cpp",
        "model": "Qwen/Qwen3-8B",
        "quant": "Q4_K_M",
        "gpu": "rtx-4090",
        "setup": {"ctx": 4096, "kv_type": "f16"},
        "quantity": "kv_cache",
        "value": 576.0,
        "unit": "MiB",
        "kv_basis": "context",
        "scope": "device",
        "device": "CUDA0",
        "quote": "CUDA0 KV buffer size =   576.00 MiB",
        "source": "https://example.org/x",
    }
    base.update(over)
    return base


def _parse(**over: object) -> Measurement:
    return parse_measurements(json.dumps(_row(**over)), "t.jsonl")[0]


def test_every_family_file_is_there() -> None:
    names = {p.name for p in DATA_DIR.glob("*.jsonl")}
    assert names == {"llamacpp.jsonl", "vllm.jsonl", "sglang.jsonl", "gguf_files.jsonl"}


def test_data_ships_inside_the_package() -> None:
    # hatch packs everything under src/rigfit; the data must live there, not beside it
    import rigfit

    package = Path(rigfit.__file__).resolve().parent
    assert DATA_DIR.resolve().is_relative_to(package)


def test_ids_are_unique() -> None:
    dup = [k for k, n in Counter(m.id for m in ROWS).items() if n > 1]
    assert not dup


def test_names_resolve_against_the_catalog() -> None:
    for m in ROWS:
        assert get_model(m.model).id == m.model, m.id
        if m.gpu is not None:
            assert get_gpu(m.gpu).id == m.gpu, m.id
        if m.quant is not None:
            parse_quant(m.quant)
        if m.setup.kv_type is not None:
            parse_kv_type(m.setup.kv_type)


def test_every_quote_prints_its_value() -> None:
    for m in ROWS:
        assert value_in_quote(m.value, m.quote), m.id


def test_vllm_and_sglang_gb_are_gib() -> None:
    for m in ROWS:
        if m.engine in (Engine.VLLM, Engine.SGLANG) and m.unit is Unit.GB:
            assert m.unit_is_really is Unit.GIB, m.id


def test_enough_scoreable_rows() -> None:
    per_engine = Counter(m.engine.value for m in ROWS if m.scored)
    scored = sum(per_engine.values())
    assert scored >= 80, f"only {scored} scoreable rows: {dict(per_engine)}"
    assert len(per_engine) >= 5, f"too few engines: {dict(per_engine)}"


def test_excluded_rows_say_why() -> None:
    for m in ROWS:
        if m.excluded is not None:
            assert len(m.excluded) > 20, m.id


@pytest.mark.parametrize(
    ("value", "unit", "really", "want"),
    [
        (1.0, "bytes", None, Fraction(1)),
        (18508.35, "MiB", None, Fraction(1850835, 100) * 2**20),
        (233.18, "GiB", None, Fraction(23318, 100) * 2**30),
        (7.6, "GB", None, Fraction(7_600_000_000)),
        (655.2, "MB", None, Fraction(655_200_000)),
        (14.9888, "GB", "GiB", Fraction(149888, 10000) * 2**30),
    ],
)
def test_value_bytes_is_exact(value: float, unit: str, really: str | None, want: Fraction) -> None:
    quantity = "file_size" if unit in ("GB", "bytes") and really is None else "weights"
    m = _parse(
        value=value,
        unit=unit,
        unit_is_really=really,
        quantity=quantity,
        kv_basis=None,
        scope="file" if quantity == "file_size" else "per_rank",
        device=None,
        quote=f"size {value!r} {unit}",
    )
    assert m.value_bytes == want


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [("kv_tokens", "tokens"), ("gpu_blocks", "blocks"), ("max_concurrency", "x")],
)
def test_counts_have_no_bytes(quantity: str, unit: str) -> None:
    m = _parse(quantity=quantity, unit=unit, value=12.0, quote="12", scope="total", device=None)
    assert m.value_bytes is None


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"extra": 1}, "Extra inputs"),
        ({"model": "Qwen/Qwen9-1B"}, "Qwen9"),
        ({"model": "qwen/qwen3-8b"}, "catalog id"),
        ({"gpu": "rtx-9090"}, "rtx-9090"),
        ({"quant": "Q9_K"}, "Q9_K"),
        ({"setup": {"kv_type": "q3_0"}}, "q3_0"),
        ({"setup": {"ctx": "4096"}}, "ctx"),
        ({"value": 577.0}, "does not print the value"),
        ({"unit": "tokens"}, "byte unit"),
        ({"kv_basis": None}, "kv_basis"),
        ({"unit_is_really": "MiB"}, "unit_is_really"),
        ({"kv_part": "Q"}, "kv_part"),
        ({"scope": "file"}, "scope 'file'"),
        ({"excluded": " "}, "excluded"),
    ],
)
def test_bad_rows_are_rejected_with_file_and_line(over: dict[str, object], message: str) -> None:
    text = json.dumps(_row(id="ok-1")) + "\n" + json.dumps(_row(**over))
    with pytest.raises(MeasurementError, match=r"t\.jsonl:2") as info:
        parse_measurements(text, "t.jsonl")
    assert message in str(info.value)


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps(_row(id="same")) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps(_row(id="same")) + "\n")
    with pytest.raises(MeasurementError, match="duplicate id 'same'"):
        load_measurements(tmp_path)


def test_bad_json_names_the_line() -> None:
    with pytest.raises(MeasurementError, match=r"t\.jsonl:1: not valid JSON"):
        parse_measurements("{", "t.jsonl")


def test_value_in_quote_reads_printed_forms() -> None:
    assert value_in_quote(14.9888, "took 14.9888 GB")
    assert value_in_quote(57.752, "took 57.7520 GB")
    assert value_in_quote(198784.0, "GPU KV cache size: 198,784 tokens")
    assert value_in_quote(367404.0, "#tokens: 367404, K size")
    assert not value_in_quote(14.98, "took 14.9888 GB")
