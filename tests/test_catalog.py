"""Every catalog file validates, names are unique, bad files fail with the entry named."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import rigfit
from rigfit.catalog.loader import CATALOG_DIR, load_records
from rigfit.catalog.schema import GPURecord, ModelRecord
from rigfit.errors import CatalogError, UnknownGPUError, UnknownModelError
from rigfit.estimate.weights import weight_breakdown
from rigfit.quant import WeightFormat
from rigfit.strict import read

from .conftest import GPUS, MODELS


def test_catalog_sizes() -> None:
    """The foundation issue asks for the R1 family and bases plus 40 more, and 45 GPUs."""
    assert len(MODELS) >= 50
    assert len(GPUS) >= 45


def test_file_names_follow_ids() -> None:
    for path in (CATALOG_DIR / "models").glob("*.toml"):
        rec = load_records_one(path, ModelRecord)
        assert path.stem == rec.id.replace("/", "--"), path.name
    for path in (CATALOG_DIR / "gpus").glob("*.toml"):
        assert path.stem == load_records_one(path, GPURecord).id, path.name


def load_records_one(path: Path, record: type[ModelRecord] | type[GPURecord]) -> ModelRecord:
    import tomllib

    return read(record, tomllib.loads(path.read_text()))


def test_every_model_has_an_architecture(catalog_model: rigfit.Model) -> None:
    arch = catalog_model.arch
    assert arch.num_layers == catalog_model.record.config.num_hidden_layers
    assert arch.params_total > 0


def test_r1_family_and_bases_present() -> None:
    for mid in [
        "deepseek-ai/DeepSeek-R1",
        "deepseek-ai/DeepSeek-V3",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
        "meta-llama/Llama-3.3-70B-Instruct",
        "Qwen/Qwen2.5-Math-7B",
        "Qwen/Qwen2.5-Math-1.5B",
    ]:
        assert rigfit.get_model(mid).id == mid


def test_seed_disagreements_recorded() -> None:
    """The seed page's 112 heads / 112 KV heads for the 70B distill is recorded as wrong."""
    rec = rigfit.get_model("deepseek-ai/DeepSeek-R1-Distill-Llama-70B").record
    fields = {d.field for d in rec.disagreements}
    assert {"num_attention_heads", "num_key_value_heads"} <= fields
    arch = rigfit.get_model("deepseek-ai/DeepSeek-R1-Distill-Llama-70B").arch
    assert (arch.attention.num_heads, arch.attention.num_kv_heads) == (64, 8)


BF16_CHECKPOINTS = [
    m
    for m in MODELS
    if m.record.checkpoint.safetensors_total_bytes
    and m.record.checkpoint.dtype == "bf16"
    and m.record.checkpoint.quantization == "none"
]


@pytest.mark.parametrize("model", BF16_CHECKPOINTS, ids=[m.id for m in BF16_CHECKPOINTS])
def test_bf16_weights_match_safetensors_total(model: rigfit.Model) -> None:
    """BF16 weight bytes equal metadata.total_size of the official safetensors index."""
    got = weight_breakdown(model.arch, WeightFormat.BF16).total_bytes
    want = model.record.checkpoint.safetensors_total_bytes
    assert want is not None
    assert abs(got - want) <= 0.001 * want, f"{model.id}: {got:,} vs {want:,}"


def test_llama_31_8b_checkpoint_bytes() -> None:
    # meta-llama/Llama-3.1-8B-Instruct model.safetensors.index.json total_size
    arch = rigfit.get_model("meta-llama/Llama-3.1-8B-Instruct").arch
    assert weight_breakdown(arch, WeightFormat.BF16).total_bytes == 16_060_522_496


def test_lookup_is_case_insensitive_and_suggests() -> None:
    assert rigfit.get_model("DEEPSEEK-AI/deepseek-r1").id == "deepseek-ai/DeepSeek-R1"
    with pytest.raises(UnknownModelError) as exc:
        rigfit.get_model("deepseek-r2")
    assert "did you mean" in str(exc.value)
    with pytest.raises(UnknownGPUError, match="did you mean"):
        rigfit.get_gpu("rtx-4900")


def _write(tmp: Path, name: str, text: str) -> Path:
    folder = tmp / "models"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def _model_text(**drop: bool) -> str:
    text = (CATALOG_DIR / "models" / "meta-llama--Llama-3.3-70B-Instruct.toml").read_text()
    if drop.get("source"):
        text = text.replace('config = "https://', 'not_config = "https://')
    return text


def test_missing_source_fails_naming_the_file(tmp_path: Path) -> None:
    folder = _write(tmp_path, "bad-entry.toml", _model_text(source=True))
    with pytest.raises(CatalogError, match=r"bad-entry\.toml: sources"):
        load_records(folder, ModelRecord)


def test_inconsistent_shape_fails(tmp_path: Path) -> None:
    text = _model_text().replace("num_key_value_heads = 8", "num_key_value_heads = 7")
    folder = _write(tmp_path, "odd-heads.toml", text)
    with pytest.raises(CatalogError, match=r"odd-heads\.toml: config.*multiple of"):
        load_records(folder, ModelRecord)


def test_unknown_key_fails(tmp_path: Path) -> None:
    folder = _write(tmp_path, "typo.toml", _model_text() + "\nparams_totl = 3\n")
    with pytest.raises(CatalogError, match=r"typo\.toml"):
        load_records(folder, ModelRecord)


def test_duplicate_names_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    from rigfit.catalog import lookup

    rec = rigfit.get_model("deepseek-ai/DeepSeek-R1").record
    twin = replace(rec, id="someone/Other", aliases=("deepseek-r1",))
    lookup._model_index.cache_clear()
    monkeypatch.setattr(lookup, "load_models", lambda: (rec, twin))
    try:
        with pytest.raises(CatalogError, match="used by both"):
            lookup._model_index()
    finally:
        monkeypatch.undo()
        lookup._model_index.cache_clear()


@pytest.mark.parametrize("gpu", GPUS, ids=[g.id for g in GPUS])
def test_gpu_records_are_sane(gpu: GPURecord) -> None:
    assert 2 * 2**30 <= gpu.memory_bytes <= 1024 * 2**30
    if gpu.bf16_dense_tflops and gpu.fp8_dense_tflops:
        assert gpu.fp8_dense_tflops >= gpu.bf16_dense_tflops


@pytest.mark.parametrize("gpu_id", ["m1-max-64gb", "m2-max-96gb", "m2-ultra-192gb"])
def test_apple_default_working_set_is_three_quarters(gpu_id: str) -> None:
    """The logged Metal readings are what APPLE_DEFAULT_WORKING_SET_FRACTION rests on."""
    from rigfit.hardware import APPLE_DEFAULT_WORKING_SET_FRACTION

    gpu = rigfit.get_gpu(gpu_id)
    assert gpu.driver_reported_bytes is not None
    ratio = gpu.driver_reported_bytes / gpu.memory_bytes
    assert abs(ratio - APPLE_DEFAULT_WORKING_SET_FRACTION) < 1e-6


def test_name_index_is_current() -> None:
    """index.json (a lookup by name reads one file) matches the records' names."""
    from rigfit.catalog.loader import build_index, read_index
    from rigfit.catalog.lookup import names_index

    assert build_index(names_index()) == read_index(), "run python -m rigfit.catalog --write-index"


def test_a_name_reads_the_same_record_as_the_full_catalog() -> None:
    from rigfit.catalog.lookup import get_gpu, get_model, list_gpus, list_models

    m = get_model("r1-distill-llama-70b")
    assert m is next(x for x in list_models() if x.id == m.id)
    g = get_gpu("RTX 4090")
    assert g is next(x for x in list_gpus() if x.id == g.id)


QUANTIZED_CONFIGS = [m for m in MODELS if m.record.config.quantization_config]


@pytest.mark.parametrize("model", QUANTIZED_CONFIGS, ids=[m.id for m in QUANTIZED_CONFIGS])
def test_checkpoint_quantization_is_the_configs(model: rigfit.Model) -> None:
    """The format a record's checkpoint.quantization names is the one its verbatim
    quantization_config reads as, so the catalog and a user's config.json price alike."""
    from rigfit.api import native_format as record_format
    from rigfit.formats.config_json import native_format as config_format

    assert record_format(model.record) is config_format(model.record.config)


def test_quantized_configs_are_checked() -> None:
    """The check above covers each way a checkpoint is quantized: blocks, channels, tensors."""
    from rigfit.api import native_format as record_format

    formats = {record_format(m.record) for m in QUANTIZED_CONFIGS}
    assert formats >= {WeightFormat.FP8_BLOCK, WeightFormat.FP8_CHANNEL, WeightFormat.FP8}
