"""safetensors headers and index: exact bytes, parameter counts, and hostile files."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from readers_kit import LLAMA, QWEN3_MOE, raw_safetensors, write_safetensors_model
from safetensors.numpy import save_file

from rigfit.arch import from_config
from rigfit.errors import RigfitError
from rigfit.formats import ModelKind, ReaderError, config_from_dict, open_model
from rigfit.formats.safetensors import (
    DTYPE_BITS,
    HEADER_MAX_BYTES,
    read_header,
    read_source_header,
    weights_from_headers,
)
from rigfit.formats.source import FileSource
from rigfit.quant import WeightFormat


@pytest.mark.parametrize("config", [LLAMA, QWEN3_MOE], ids=["llama", "qwen3_moe"])
@pytest.mark.parametrize("shards", [1, 3])
def test_folder_bytes_and_params(tmp_path: Path, config: dict[str, Any], shards: int) -> None:
    """Bytes are what was written, tensor by tensor; params equal the config's architecture."""
    arrays = write_safetensors_model(tmp_path, config, shards=shards)
    model = open_model(str(tmp_path))
    assert model.kind is ModelKind.SAFETENSORS
    w = model.weights
    assert w is not None
    assert w.total_bytes == sum(a.nbytes for a in arrays.values())
    assert w.by_dtype == (("F16", w.total_bytes),)
    assert w.params == from_config(config_from_dict(config)).params_total == model.arch.params_total
    assert w.tensor_count == len(arrays)
    by_name = {t.name: t for t in w.tensors}
    for name, a in arrays.items():
        assert by_name[name].shape == a.shape
        assert by_name[name].nbytes == a.nbytes
        assert by_name[name].dtype == "F16"
    assert model.native_format is WeightFormat.F16  # the bytes say F16, whatever torch_dtype says
    assert not [n for n in model.notes if "parameters" in n]


def test_header_only_is_read(tmp_path: Path) -> None:
    """Exactly 8 + N bytes are read from a file, never its data."""
    path = tmp_path / "m.safetensors"
    save_file({"w": np.zeros((256, 256), dtype=np.float32)}, str(path))
    with FileSource(path) as src:
        header = read_source_header(src)
        assert src.bytes_read == 8 + header.header_size
    assert header.data_bytes == 256 * 256 * 4
    assert header.tensors[0].shape == (256, 256)


def test_dtypes_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    tensors = {
        "a": np.zeros((3, 5), dtype=np.float32),
        "b": np.zeros((7,), dtype=np.int8),
        "c": np.zeros((2, 2), dtype=np.float64),
        "d": np.zeros((4,), dtype=np.bool_),
    }
    save_file(tensors, str(path), metadata={"format": "pt", "note": "x"})
    header = read_header(path)
    assert {t.name: t.dtype for t in header.tensors} == {
        "a": "F32",
        "b": "I8",
        "c": "F64",
        "d": "BOOL",
    }
    assert header.metadata == {"format": "pt", "note": "x"}


def test_sub_byte_and_fp8_dtypes(tmp_path: Path) -> None:
    """F4 packs two elements per byte; F8 one; BF16 two bytes (dtypes numpy cannot write)."""
    header = {
        "a": {"dtype": "F4", "shape": [4, 8], "data_offsets": [0, 16]},
        "b": {"dtype": "F8_E4M3", "shape": [16], "data_offsets": [16, 32]},
        "c": {"dtype": "BF16", "shape": [8], "data_offsets": [32, 48]},
    }
    path = tmp_path / "m.safetensors"
    path.write_bytes(raw_safetensors(header, bytes(48)))
    parsed = read_header(path)
    weights, notes = weights_from_headers([parsed])
    assert weights.total_bytes == 48
    assert weights.params == 32 + 16 + 8
    assert dict(weights.by_dtype) == {"F4": 16, "F8_E4M3": 16, "BF16": 16}
    assert notes == ()


def test_packed_and_scale_tensors(tmp_path: Path) -> None:
    """GPTQ-style packed I32 weights: exact bytes, no parameter count, and a note saying so."""
    extra = {
        "model.layers.0.mlp.down_proj.qweight": np.zeros((16, 64), dtype=np.int32),
        "model.layers.0.mlp.down_proj.scales": np.zeros((1, 64), dtype=np.float16),
        "model.layers.0.mlp.down_proj.g_idx": np.zeros((128,), dtype=np.int32),
    }
    arrays = write_safetensors_model(tmp_path, LLAMA, shards=1, extra=extra)
    model = open_model(str(tmp_path))
    assert model.weights is not None
    assert model.weights.params is None
    assert model.weights.total_bytes == sum(a.nbytes for a in arrays.values())
    assert any("packed integers (I32" in n and "qweight" in n for n in model.notes)


def test_fp8_scales_are_not_params(tmp_path: Path) -> None:
    extra = {"blk.0.attn_q.weight_scale_inv": np.zeros((1, 1), dtype=np.float32)}
    write_safetensors_model(tmp_path, LLAMA, shards=1, extra=extra)
    model = open_model(str(tmp_path))
    assert model.weights is not None
    assert model.weights.params == model.arch.params_total


def test_index_total_size_mismatch_is_a_note(tmp_path: Path) -> None:
    write_safetensors_model(tmp_path, LLAMA, shards=2)
    index = tmp_path / "model.safetensors.index.json"
    raw = json.loads(index.read_text())
    raw["metadata"]["total_size"] += 10
    index.write_text(json.dumps(raw))
    model = open_model(str(tmp_path))
    assert any("states total_size" in n for n in model.notes)


def test_index_names_tensor_its_shard_lacks(tmp_path: Path) -> None:
    write_safetensors_model(tmp_path, LLAMA, shards=2)
    index = tmp_path / "model.safetensors.index.json"
    raw = json.loads(index.read_text())
    raw["weight_map"]["ghost.weight"] = "model-00001-of-00002.safetensors"
    index.write_text(json.dumps(raw))
    with pytest.raises(ReaderError, match=re.escape("'ghost.weight' in model-00001-of-00002")):
        open_model(str(tmp_path))


def test_index_names_missing_shard(tmp_path: Path) -> None:
    write_safetensors_model(tmp_path, LLAMA, shards=2)
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(
        ReaderError, match=re.escape("model-00002-of-00002.safetensors, which is missing")
    ):
        open_model(str(tmp_path))


def test_index_shard_names_must_be_plain(tmp_path: Path) -> None:
    write_safetensors_model(tmp_path, LLAMA, shards=2)
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "../../etc/passwd"}}))
    with pytest.raises(ReaderError, match="not a plain file name"):
        open_model(str(tmp_path))


def test_duplicate_tensor_across_shards(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(LLAMA))
    for name in ("a.safetensors", "b.safetensors"):
        save_file({"w": np.zeros((2,), dtype=np.float16)}, str(tmp_path / name))
    with pytest.raises(ReaderError, match="tensor 'w' is in both"):
        open_model(str(tmp_path))


ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}

HOSTILE: dict[str, tuple[bytes, str]] = {
    "shorter than 8 bytes": (b"\x01\x02", "truncated at byte 2"),
    "header length 0": (struct.pack("<Q", 0) + bytes(8), "header length is 0"),
    "header length 2^63": (raw_safetensors({}, n=2**63), "exceeds safetensors' limit"),
    "header length past the file": (raw_safetensors({}, n=1000), "runs past the end"),
    "not JSON": (raw_safetensors(b"{nope"), "not valid JSON"),
    "not UTF-8": (raw_safetensors(b"\xff\xfe{}"), "not UTF-8"),
    "JSON not an object": (raw_safetensors(b"[1, 2]"), "header is not a JSON object"),
    "bad dtype": (
        raw_safetensors({"w": {**ENTRY, "dtype": "F7"}}, bytes(8)),
        r"unknown dtype 'F7' \(safetensors dtypes: BOOL, F4",
    ),
    "entry not an object": (raw_safetensors({"w": [1]}, bytes(8)), "must be an object"),
    "extra key": (raw_safetensors({"w": {**ENTRY, "x": 1}}, bytes(8)), "must be an object"),
    "negative dim": (raw_safetensors({"w": {**ENTRY, "shape": [-2]}}, bytes(8)), "shape"),
    "bad offsets": (
        raw_safetensors({"w": {**ENTRY, "data_offsets": [8, 0]}}, bytes(8)),
        "not \\[begin, end\\]",
    ),
    "nbytes mismatch": (
        raw_safetensors({"w": {**ENTRY, "shape": [3]}}, bytes(8)),
        "needs 12 bytes but its data_offsets span 8",
    ),
    "data past EOF": (
        raw_safetensors({"w": {**ENTRY, "shape": [1024], "data_offsets": [0, 4096]}}, bytes(8)),
        "past the end of the 8-byte data buffer",
    ),
    "gap": (
        raw_safetensors({"w": {**ENTRY, "data_offsets": [8, 16]}}, bytes(16)),
        "leaves a gap",
    ),
    "overlap": (
        raw_safetensors(
            {"a": ENTRY, "b": {**ENTRY, "data_offsets": [4, 12]}},
            bytes(12),
        ),
        "overlaps",
    ),
    "buffer not covered": (raw_safetensors({"w": ENTRY}, bytes(16)), "cover 8 bytes of a 16"),
    "sub-byte remainder": (
        raw_safetensors({"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, bytes(2)),
        "does not fill whole bytes",
    ),
    "metadata not strings": (
        raw_safetensors({"__metadata__": {"a": 1}}),
        "__metadata__ must map strings to strings",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_header(tmp_path: Path, case: str) -> None:
    data, pattern = HOSTILE[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with FileSource(path) as src, pytest.raises(ReaderError, match=pattern) as err:
        read_source_header(src)
    assert isinstance(err.value, RigfitError)
    assert "\n" not in str(err.value)
    assert str(path) in str(err.value)
    assert src.bytes_read <= len(data)


def test_huge_header_length_reads_eight_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    path.write_bytes(raw_safetensors({}, n=HEADER_MAX_BYTES + 1) + bytes(1 << 20))
    with FileSource(path) as src, pytest.raises(ReaderError, match="exceeds"):
        read_source_header(src)
    assert src.bytes_read == 8


def test_dtype_table_matches_the_safetensors_library(tmp_path: Path) -> None:
    """Every dtype numpy can write comes back with the size the library wrote."""
    for dt in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
               np.uint8, np.uint16, np.uint32, np.uint64, np.bool_):  # fmt: skip
        path = tmp_path / f"{np.dtype(dt).name}.safetensors"
        save_file({"x": np.zeros((3, 4), dtype=dt)}, str(path))
        (t,) = read_header(path).tensors
        assert DTYPE_BITS[t.dtype] == 8 * np.dtype(dt).itemsize
        assert t.nbytes == 12 * np.dtype(dt).itemsize
