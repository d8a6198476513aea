"""open_model: what a reference names, and the FileModel it returns."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from readers_kit import LLAMA, QWEN3_MOE, build_gguf, write_config, write_safetensors_model

from rigfit.arch import from_config
from rigfit.formats import FileModel, ModelKind, ReaderError, config_from_dict, open_model
from rigfit.quant import WeightFormat

SUPPORTED = (
    "rigfit reads config.json, *.gguf, *.safetensors, a folder holding them,"
    " or a Hugging Face id org/name"
)


def test_config_json_file(tmp_path: Path) -> None:
    path = write_config(tmp_path / "tiny-llama", LLAMA)
    model = open_model(str(path))
    assert model.kind is ModelKind.CONFIG
    assert model.id == "tiny-llama"
    assert model.source == str(path)
    assert model.weights is None
    assert model.native_format is WeightFormat.BF16
    assert model.arch.params_total == from_config(config_from_dict(LLAMA)).params_total


def test_folder_with_config_only(tmp_path: Path) -> None:
    write_config(tmp_path / "m", QWEN3_MOE)
    model = open_model(str(tmp_path / "m"))
    assert model.kind is ModelKind.CONFIG
    assert model.arch.is_moe
    assert model.native_format is None
    assert any("no torch_dtype" in n for n in model.notes)


def test_safetensors_folder_file_and_index(tmp_path: Path) -> None:
    write_safetensors_model(tmp_path / "m", LLAMA, shards=2)
    whole = open_model(str(tmp_path / "m"))
    assert whole.kind is ModelKind.SAFETENSORS
    assert whole.id == "m"
    # naming one shard of an indexed folder reads the whole folder
    one = open_model(str(tmp_path / "m" / "model-00001-of-00002.safetensors"))
    via_index = open_model(str(tmp_path / "m" / "model.safetensors.index.json"))
    assert one.weights == whole.weights == via_index.weights


def test_single_safetensors_file(tmp_path: Path) -> None:
    write_safetensors_model(tmp_path, LLAMA, shards=1)
    model = open_model(str(tmp_path / "model.safetensors"))
    assert model.id == "model.safetensors"
    assert model.weights is not None
    assert model.weights.params == model.arch.params_total


def test_safetensors_without_config(tmp_path: Path) -> None:
    write_safetensors_model(tmp_path, LLAMA, shards=1)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ReaderError, match=r"no config\.json beside it"):
        open_model(str(tmp_path / "model.safetensors"))
    with pytest.raises(ReaderError, match=r"holds safetensors but no config\.json"):
        open_model(str(tmp_path))


def test_gguf_file_and_folder(tmp_path: Path) -> None:
    folder = tmp_path / "gguf"
    folder.mkdir()
    path = build_gguf(folder / "tiny-Q8_0.gguf", LLAMA)
    (folder / "mmproj-tiny-f16.gguf").write_bytes(b"not read")
    by_file = open_model(str(path))
    by_folder = open_model(str(folder))
    assert by_file.kind is by_folder.kind is ModelKind.GGUF
    assert by_file.id == "tiny-Q8_0.gguf"
    assert by_folder.id == "gguf"
    assert by_file.weights == by_folder.weights
    build_gguf(folder / "tiny-F32.gguf", LLAMA)
    with pytest.raises(ReaderError, match="holds 2 GGUF models"):
        open_model(str(folder))


def test_not_a_model_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ReaderError) as err:
        open_model(str(path))
    assert str(err.value) == f"not a model file: {path} is a .txt file; {SUPPORTED}"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        ReaderError, match=re.escape(f"holds no config.json, *.safetensors or *.gguf; {SUPPORTED}")
    ):
        open_model(str(empty))


def test_missing_path_that_is_no_hub_id(tmp_path: Path) -> None:
    ref = str(tmp_path / "absent" / "deeper" / "x.gguf")
    with pytest.raises(ReaderError, match="no such file or folder, and not a Hugging Face id"):
        open_model(ref)


def test_gguf_with_unexpected_content_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_text(json.dumps(LLAMA))
    with pytest.raises(ReaderError, match="not a GGUF file"):
        open_model(str(path))


def test_file_model_is_frozen(tmp_path: Path) -> None:
    model = open_model(str(write_config(tmp_path, LLAMA)))
    assert isinstance(model, FileModel)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.id = "other"  # type: ignore[misc]


def test_tensor_entries_sum_per_layer(tmp_path: Path) -> None:
    """Callers can sum bytes per layer or find the expert tensors from the entries."""
    model = open_model(str(build_gguf(tmp_path / "moe.gguf", QWEN3_MOE)))
    assert model.weights is not None
    experts = [t for t in model.weights.tensors if "_exps." in t.name]
    assert len(experts) == 2 * 3
    assert all(t.shape[0] == 4 for t in experts)  # row-major: experts first
    layer0 = sum(t.nbytes for t in model.weights.tensors if t.name.startswith("blk.0."))
    layer1 = sum(t.nbytes for t in model.weights.tensors if t.name.startswith("blk.1."))
    assert layer0 == layer1 > 0
