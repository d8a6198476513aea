"""GGUF headers: exact bytes, metadata, architecture mapping, and hostile files."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import gguf
import pytest
from readers_kit import (
    CATALOG_GGUF_ARCH,
    DEEPSEEK_V3,
    GEMMA3_TEXT,
    GLM4_MOE,
    GPT_OSS,
    LLAMA,
    MIXTRAL,
    QWEN2,
    QWEN3_MOE,
    GGUFBuilder,
    gguf_header_for,
)

import rigfit
from rigfit.arch import TOWER_ROLES, Architecture, LayerKind, from_config
from rigfit.errors import RigfitError, UnsupportedArchitectureError
from rigfit.formats import ReaderError, arch_from_gguf, config_from_dict, open_model, read_gguf
from rigfit.formats.gguf.header import (
    MAX_KV,
    MAX_TENSORS,
    Omitted,
    file_type_format,
    parse_gguf,
    weights_from_gguf,
)
from rigfit.formats.gguf.metadata import SUPPORTED_GGUF_ARCHITECTURES, map_gguf
from rigfit.formats.source import FIRST_CHUNK_BYTES, FileSource
from rigfit.quant import KVCacheType, WeightFormat

CONFIGS = {
    "llama": LLAMA,
    "mixtral": MIXTRAL,
    "qwen2": QWEN2,
    "qwen3_moe": QWEN3_MOE,
    "deepseek_v3": DEEPSEEK_V3,
    "gemma3_text": GEMMA3_TEXT,
    "gpt_oss": GPT_OSS,
    "glm4_moe": GLM4_MOE,
}


def assert_same_shape(got: Architecture, want: Architecture) -> None:
    assert got.params_total == want.params_total
    assert got.params_active == want.params_active
    assert got.kv_bytes_per_token(KVCacheType.F16) == want.kv_bytes_per_token(KVCacheType.F16)
    assert [(x.kind, x.window, x.moe) for x in got.layers] == [
        (x.kind, x.window, x.moe) for x in want.layers
    ]
    assert got.attention == want.attention
    assert got.moe == want.moe
    assert got.tie_word_embeddings == want.tie_word_embeddings
    assert (got.hidden_size, got.vocab_size) == (want.hidden_size, want.vocab_size)


# ---- reading back what was written --------------------------------------------------------


@pytest.mark.parametrize("model_type", list(CONFIGS))
def test_round_trip_architecture(gguf_file: GGUFBuilder, model_type: str) -> None:
    """A GGUF written from a config's tensor inventory reads back as the same architecture."""
    config = CONFIGS[model_type]
    path = gguf_file(config)
    model = open_model(str(path))
    assert model.config.model_type == model_type
    assert_same_shape(model.arch, from_config(config_from_dict(config)))
    assert model.weights is not None
    # all tensors are F32: 4 bytes per element, every element counted
    assert model.weights.params == sum(t.numel for t in model.weights.tensors)
    assert model.weights.total_bytes == 4 * model.weights.params
    assert model.weights.by_dtype == (("F32", model.weights.total_bytes),)
    assert model.native_format is WeightFormat.F32


def test_bytes_and_offsets_match_gguf_reader(gguf_file: GGUFBuilder) -> None:
    """nbytes, offsets and the data offset agree with gguf-py's own reader, tensor by tensor."""
    path = gguf_file(
        LLAMA, quant=gguf.GGMLQuantizationType.Q8_0, ftype=gguf.LlamaFileType.MOSTLY_Q8_0
    )
    header = read_gguf(path)
    reference = gguf.GGUFReader(path)
    ours = {t.name: t for t in header.tensors}
    assert len(ours) == len(reference.tensors)
    for ref in reference.tensors:
        t = ours[ref.name]
        assert t.nbytes == int(ref.n_bytes)
        assert header.data_offset + t.offset == int(ref.data_offset)
        assert t.dims == tuple(int(d) for d in ref.shape)
        assert t.ggml_type == int(ref.tensor_type)
    assert header.file_size == path.stat().st_size
    assert header.alignment == gguf.GGUF_DEFAULT_ALIGNMENT
    weights = weights_from_gguf([header])
    assert dict(weights.by_dtype).keys() == {"Q8_0", "F32"}
    assert weights.total_bytes == sum(int(r.n_bytes) for r in reference.tensors)
    model = open_model(str(path))
    assert model.native_format is WeightFormat.Q8_0
    assert model.weights is not None
    # Q8_0 keeps the parameter count exact: elements, not bytes
    assert model.weights.params == model.arch.params_total


def test_metadata_small_values_kept_large_arrays_skipped(gguf_file: GGUFBuilder) -> None:
    def kv(w: gguf.GGUFWriter) -> None:
        w.add_string("general.name", "tiny")
        w.add_array("test.small", [1, 2, 3])
        w.add_string("test.long", "x" * 100_000)
        w.add_array("test.scores", [0.5] * 5000)

    header = read_gguf(gguf_file(LLAMA, tokens=5000, kv=kv))
    md = header.metadata
    assert md["general.architecture"] == "llama"
    assert md["general.name"] == "tiny"
    assert md["test.small"] == [1, 2, 3]
    assert md["llama.block_count"] == 2
    assert md["tokenizer.ggml.tokens"] == Omitted("array[string]", 5000)
    assert md["test.scores"] == Omitted("array[float32]", 5000)
    assert md["test.long"] == Omitted("string", 100_000)


def test_large_vocabulary_is_skipped_quickly(gguf_file: GGUFBuilder) -> None:
    """A 150,000-token vocabulary costs its length, not 150,000 Python strings."""
    path = gguf_file(LLAMA, tokens=150_000)
    start = time.perf_counter()
    header = read_gguf(path)
    assert time.perf_counter() - start < 3.0
    assert header.metadata["tokenizer.ggml.tokens"] == Omitted("array[string]", 150_000)


def test_rope_freqs_not_counted(gguf_file: GGUFBuilder) -> None:
    """Llama 3's rope_freqs.weight is stored but is no model weight: listed, not priced."""
    path = gguf_file(LLAMA, extra={"rope_freqs.weight": (8,)})
    mapping = map_gguf(read_gguf(path))
    assert mapping.excluded == ("rope_freqs.weight",)
    assert any("RoPE frequency factors" in n for n in mapping.notes)
    assert mapping.file_params == mapping.arch.params_total


def test_glm_mtp_layer_not_counted(gguf_file: GGUFBuilder) -> None:
    mapping = map_gguf(read_gguf(gguf_file(GLM4_MOE)))
    assert mapping.config.num_nextn_predict_layers == 1
    assert mapping.config.num_hidden_layers == 2
    assert all(name.startswith("blk.2.") for name in mapping.excluded)
    assert mapping.arch.mtp_layers == 1


@pytest.mark.parametrize("variant", ["kv_b", "k_b+v_b", "all three"])
def test_deepseek_mla_kv_b_variants(gguf_file: GGUFBuilder, variant: str) -> None:
    """Old files store attn_kv_b, current ones attn_k_b + attn_v_b; either prices the same."""
    heads, nope, v, rank = 4, 16, 16, 32
    extra: dict[str, tuple[int, ...]] = {}
    drop: list[str] = []
    for i in range(3):
        if variant != "kv_b":
            extra[f"blk.{i}.attn_k_b.weight"] = (nope, rank, heads)
            extra[f"blk.{i}.attn_v_b.weight"] = (rank, v, heads)
        if variant == "k_b+v_b":
            drop.append(f"blk.{i}.attn_kv_b.weight")
    mapping = map_gguf(read_gguf(gguf_file(DEEPSEEK_V3, extra=extra, drop=tuple(drop))))
    assert mapping.config.model_type == "deepseek_v3"
    a = mapping.arch.attention
    assert (a.kv_lora_rank, a.q_lora_rank, a.qk_nope_head_dim, a.qk_rope_head_dim) == (
        32,
        48,
        16,
        8,
    )
    assert mapping.arch.kv_bytes_per_token(KVCacheType.F16) == 3 * (32 + 8) * 2
    assert len(mapping.excluded) == (6 if variant == "all three" else 0)


def test_deepseek_v2_without_score_bias(gguf_file: GGUFBuilder) -> None:
    """No exp_probs_b tensors: DeepSeek-V2 routing, no router bias."""
    cfg = {**DEEPSEEK_V3, "model_type": "deepseek_v2", "q_lora_rank": None}
    mapping = map_gguf(read_gguf(gguf_file(cfg)))
    assert mapping.config.model_type == "deepseek_v2"
    assert mapping.arch.attention.q_lora_rank is None
    assert_same_shape(mapping.arch, from_config(config_from_dict(cfg)))


def test_head_count_kv_array(gguf_file: GGUFBuilder) -> None:
    def uniform(w: gguf.GGUFWriter) -> None:
        w.add_array("llama.attention.head_count_kv_x", [])  # unrelated key, ignored

    path = gguf_file(LLAMA, kv=uniform)
    assert arch_from_gguf(read_gguf(path)).num_key_value_heads == 2


def test_per_layer_kv_heads_fail_closed(tmp_path: Path) -> None:
    """A head count that varies per layer is not something rigfit models: it says so."""
    path = tmp_path / "m.gguf"
    _write_llama_with(path, lambda w: w.add_head_count_kv([2, 4]))
    with pytest.raises(UnsupportedArchitectureError, match="varies per layer"):
        open_model(str(path))


def _write_llama_with(path: Path, extra_kv: Any) -> None:
    """A llama GGUF with hand-picked metadata (no head_count_kv from the builder)."""
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(2)
    w.add_context_length(256)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    extra_kv(w)
    w.add_tensor("token_embd.weight", gguf_zeros(128, 64))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_zeros(*shape: int) -> Any:
    import numpy as np

    return np.zeros(shape, dtype=np.float32)


def test_params_mismatch_fails_closed(gguf_file: GGUFBuilder) -> None:
    """A tensor the metadata does not explain: both numbers, never a silent price."""
    path = gguf_file(LLAMA, extra={"blk.0.mystery.weight": (64, 8)})
    with pytest.raises(UnsupportedArchitectureError) as err:
        open_model(str(path))
    msg = str(err.value)
    assert "parameters" in msg
    assert f"{from_config(config_from_dict(LLAMA)).params_total:,}" in msg
    assert "\n" not in msg


def test_missing_tensor_fails_closed(gguf_file: GGUFBuilder) -> None:
    with pytest.raises(UnsupportedArchitectureError, match="will not price"):
        open_model(str(gguf_file(LLAMA, drop=("blk.1.ffn_up.weight",))))


def test_unsupported_architecture(tmp_path: Path) -> None:
    path = tmp_path / "mamba.gguf"
    w = gguf.GGUFWriter(path, "mamba")
    w.add_block_count(1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(UnsupportedArchitectureError) as err:
        open_model(str(path))
    assert str(err.value) == (
        "GGUF architecture 'mamba' is not supported (supported: "
        + ", ".join(SUPPORTED_GGUF_ARCHITECTURES)
        + ")"
    )


def test_split_gguf(tmp_path: Path) -> None:
    """A split file: every shard's header is read, the tensors add up to the whole model."""
    from readers_kit import build_gguf

    whole = open_model(str(build_gguf(tmp_path / "whole.gguf", LLAMA)))
    folder = tmp_path / "split"
    folder.mkdir()
    c = config_from_dict(LLAMA)
    arch = from_config(c)
    w = gguf.GGUFWriter(folder / "m.gguf", "llama", split_max_tensors=8)
    from readers_kit import _gguf_tensors, _write_metadata

    _write_metadata(w, c, arch, "llama")
    for name, dims in _gguf_tensors(arch):
        w.add_tensor(name, gguf_zeros(*reversed(dims)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    shards = sorted(folder.glob("*.gguf"))
    assert len(shards) > 1
    for ref in (str(shards[0]), str(shards[-1]), str(folder)):
        model = open_model(ref)
        assert model.weights is not None
        assert whole.weights is not None
        assert model.weights.total_bytes == whole.weights.total_bytes
        assert model.arch.params_total == whole.arch.params_total
    shards[1].unlink()
    with pytest.raises(ReaderError, match="missing"):
        open_model(str(shards[0]))


@pytest.mark.parametrize(
    "ftype", [t for t in gguf.LlamaFileType if t is not gguf.LlamaFileType.GUESSED]
)
def test_file_types(ftype: gguf.LlamaFileType) -> None:
    fmt = file_type_format(int(ftype))
    if fmt is not None:
        assert fmt.label == {"ALL_F32": "F32"}.get(ftype.name, ftype.name.removeprefix("MOSTLY_"))
    assert file_type_format(int(ftype) | 1024) == fmt  # LLAMA_FTYPE_GUESSED


def test_known_file_types() -> None:
    assert file_type_format(15) is WeightFormat.Q4_K_M
    assert file_type_format(38) is WeightFormat.MXFP4_MOE
    assert file_type_format(1) is WeightFormat.F16
    assert file_type_format(9999) is None


# ---- hostile files --------------------------------------------------------------------------


def _s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _kv_u32(key: str, value: int) -> bytes:
    return _s(key) + struct.pack("<II", 4, value)


def _tensor(name: str, dims: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    return (
        _s(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<Q", d) for d in dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


def _gguf(n_tensors: int, n_kv: int, body: bytes, *, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + body


ARCH_KV = _s("general.architecture") + struct.pack("<I", 8) + _s("llama")

HOSTILE: dict[str, tuple[bytes, str]] = {
    "wrong magic": (b"GGML" + bytes(40), r"not a GGUF file \(magic b'GGML', expected b'GGUF'\)"),
    "empty": (b"", "truncated at byte 0"),
    "version 1": (_gguf(0, 0, b"", version=1), "GGUF version 1 is not supported"),
    "big-endian": (b"GGUF" + struct.pack(">I", 3) + bytes(16), "big-endian"),
    "tensor count 2^60": (_gguf(2**60, 0, b""), "tensor count of .* exceeds the limit"),
    "tensor count past the file": (_gguf(MAX_TENSORS, 0, b""), "truncated at byte 24"),
    "kv count 2^60": (_gguf(0, 2**60, b""), "metadata count of .* exceeds the limit"),
    "kv count past the file": (_gguf(0, MAX_KV, b""), "truncated at byte 24"),
    "key length 2^62": (
        _gguf(0, 1, struct.pack("<Q", 2**62) + bytes(16)),
        "metadata key length of .* exceeds the limit",
    ),
    "string length 2^62": (
        _gguf(0, 1, _s("k") + struct.pack("<IQ", 8, 2**62)),
        "string length of .* exceeds the limit",
    ),
    "string length past the file": (
        _gguf(0, 1, _s("k") + struct.pack("<IQ", 8, 1000) + b"abc"),
        "truncated at byte",
    ),
    "array length 2^40": (
        _gguf(0, 1, _s("k") + struct.pack("<IIQ", 9, 4, 2**40)),
        "array length of 'k' .* exceeds the limit",
    ),
    "array length past the file": (
        _gguf(0, 1, _s("k") + struct.pack("<IIQ", 9, 8, 100_000) + bytes(64)),
        "truncated at byte",
    ),
    "unknown value type": (
        _gguf(0, 1, _s("k") + struct.pack("<I", 99)),
        "unknown GGUF value type 99",
    ),
    "unknown ggml type": (
        _gguf(1, 1, ARCH_KV + _tensor("w", (32,), 99, 0)),
        r"unknown GGML type id 99 in tensor 'w' \(known: F32, F16, Q4_0",
    ),
    "five dims": (_gguf(1, 0, _tensor("w", (1, 1, 1, 1, 1), 0, 0)), "has 5 dimensions"),
    "misaligned offset": (
        _gguf(1, 0, _tensor("w", (4,), 0, 3)) + bytes(64),
        "offset 3 is not a multiple of 32",
    ),
    "data past the end": (
        _gguf(1, 0, _tensor("w", (1024,), 0, 0)) + bytes(64),
        "past the end of the",
    ),
    "row not whole blocks": (
        _gguf(1, 0, _tensor("w", (33,), 2, 0)) + bytes(64),
        "not a multiple of the 32-element blocks",
    ),
    "duplicate tensor": (
        _gguf(2, 0, _tensor("w", (4,), 0, 0) + _tensor("w", (4,), 0, 32)) + bytes(128),
        "duplicate tensor 'w'",
    ),
    "overlapping tensors": (
        _gguf(2, 0, _tensor("a", (16,), 0, 0) + _tensor("b", (16,), 0, 32)) + bytes(256),
        "overlaps",
    ),
    "duplicate key": (_gguf(0, 2, _kv_u32("k", 1) + _kv_u32("k", 2)), "duplicate metadata key"),
    "bad alignment": (_gguf(0, 1, _kv_u32("general.alignment", 3)), "not a power of two"),
    "deep arrays": (
        _gguf(0, 1, _s("k") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 5 + bytes(64)),
        "nested deeper",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_header(tmp_path: Path, case: str) -> None:
    data, pattern = HOSTILE[case]
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with FileSource(path) as src, pytest.raises(ReaderError, match=pattern) as err:
        parse_gguf(src)
    assert isinstance(err.value, RigfitError)
    assert "\n" not in str(err.value)
    assert src.bytes_read <= max(len(data), 64)


@pytest.mark.parametrize(
    "header",
    [
        struct.pack("<Q", 2**62),  # key length
        _s("k") + struct.pack("<IQ", 8, 2**62),  # string length
        _s("k") + struct.pack("<IIQ", 9, 8, 2**40),  # array of strings
    ],
)
def test_hostile_lengths_read_little(tmp_path: Path, header: bytes) -> None:
    """A huge length in front of 8 MiB of padding: an error after at most the first chunk."""
    path = tmp_path / "big.gguf"
    path.write_bytes(_gguf(0, 1, header) + bytes(8 << 20))
    start = time.perf_counter()
    with FileSource(path) as src, pytest.raises(ReaderError):
        parse_gguf(src)
    assert src.bytes_read <= FIRST_CHUNK_BYTES
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("cut", [2, 6, 12, 20, 40, 200, -600, -40])
def test_truncated_file(gguf_file: GGUFBuilder, tmp_path: Path, cut: int) -> None:
    """A file cut anywhere: a one-line error naming the byte, or the tensor past the end."""
    full = gguf_file(LLAMA).read_bytes()
    header = read_gguf(gguf_file(LLAMA, name="again.gguf"))
    size = cut if cut > 0 else header.data_offset + cut
    if cut == -40:
        size = len(full) - 40  # inside the tensor data
    path = tmp_path / "cut.gguf"
    path.write_bytes(full[:size])
    with pytest.raises(ReaderError) as err:
        read_gguf(path)
    msg = str(err.value)
    assert "\n" not in msg
    if size < header.data_offset - 8:
        assert f"truncated at byte {size}" in msg
    else:
        assert "past the end of the" in msg or f"truncated at byte {size}" in msg


def test_header_over_the_limit(gguf_file: GGUFBuilder) -> None:
    path = gguf_file(LLAMA, tokens=1000)
    with FileSource(path) as src, pytest.raises(ReaderError, match="larger than 4,096 bytes"):
        parse_gguf(src, limit=4096)
    assert src.bytes_read <= 4096


CATALOG = [m for m in rigfit.list_models() if m.record.config.model_type in CATALOG_GGUF_ARCH]


@pytest.mark.parametrize("model", CATALOG, ids=[m.id for m in CATALOG])
def test_catalog_models_map_back(model: rigfit.Model) -> None:
    """Every catalog model, as convert_hf_to_gguf.py would describe it, maps back exactly."""
    want = model.arch
    mapping = map_gguf(gguf_header_for(model.record.config))
    got = mapping.arch
    # a GGUF holds the language model; a vision tower goes to its mmproj file
    vision = want.vision_params
    assert got.params_total == want.params_total - vision
    assert got.params_active == want.params_active - vision
    assert got.attention.kv_elems_per_token() == want.attention.kv_elems_per_token()
    assert got.moe == want.moe
    assert got.linear_attention == want.linear_attention
    if model.record.config.model_type not in ("mistral", "mixtral", "qwen2", "phi3"):
        # llama.cpp drops Mistral's and Qwen2's windows; rigfit reads what the file says
        assert [x.kind for x in got.layers] == [x.kind for x in want.layers]


@pytest.mark.parametrize(
    "name",
    [
        "nemotron-h-8b-base-8k.json",
        "nemotron-3-nano-30b-a3b.json",
        "nemotron-3-super-120b-a12b-fp8.json",
        "nemotron-3-ultra-550b-a55b-bf16.json",
        "qwen3.6-35b-a3b.json",
        "qwen3.5-27b.json",
        "qwen3-vl-8b-instruct.json",
        "qwen3-vl-30b-a3b-instruct.json",
        "falcon-h1-7b.partial.json",
        "minimax-m2.json",
        "deepseek-v3.2.json",
        "granite-hybrid.synthetic.json",
    ],
)
def test_new_architectures_map_back(name: str) -> None:
    """Nemotron-H and Granite 4 (per-layer head_count_kv, 0 on Mamba layers), Falcon-H1,
    Qwen3.5/3.6, Qwen3-VL, MiniMax-M2 and DeepSeek-V3.2 (the indexer keys), as
    convert_hf_to_gguf.py describes them, read back as the same language model."""
    raw = json.loads((Path(__file__).parent.parent / "data" / "configs" / name).read_text())
    config = config_from_dict(raw)
    want = from_config(config)
    got = map_gguf(gguf_header_for(config)).arch
    vision = want.vision_params
    assert got.params_total == want.params_total - vision
    assert got.params_active == want.params_active - vision
    assert [x.kind for x in got.layers] == [x.kind for x in want.layers]
    assert [x.moe for x in got.layers] == [x.moe for x in want.layers]
    assert got.mamba == want.mamba
    assert got.linear_attention == want.linear_attention
    assert got.kv_bytes_per_token(KVCacheType.F16) == want.kv_bytes_per_token(KVCacheType.F16)


def test_latent_moe_reads_back_from_a_gguf_header() -> None:
    """A Super GGUF names the latent in nemotron_h_moe.moe_latent_size (gguf-py
    Keys.LLM.MOE_LATENT_SIZE) and holds ffn_latent_down/up; read back, it is the same model,
    and without the key its latent-wide experts do not pass as the hidden-wide ones."""
    path = Path(__file__).parent.parent / "data" / "configs" / "nemotron-3-super-120b-a12b-fp8.json"
    header = gguf_header_for(config_from_dict(json.loads(path.read_text())))
    assert header.metadata["nemotron_h_moe.moe_latent_size"] == 1024
    names = {t.name for t in header.tensors if t.name.startswith("blk.1.")}
    assert {"blk.1.ffn_latent_down.weight", "blk.1.ffn_latent_up.weight"} <= names
    got = map_gguf(header).arch
    assert got.moe is not None
    assert got.moe.latent_size == 1024
    assert got.params_total == 120_668_707_840


def test_exaone4_slides_only_in_the_64_layer_model() -> None:
    """llama.cpp's LLM_ARCH_EXAONE4 sets a sliding window only for n_layer == 64 (the 32B);
    a file of another depth runs every layer over the full context, whatever it names."""
    path = Path(__file__).parent.parent / "data" / "configs" / "exaone-4.0-32b.json"
    raw = json.loads(path.read_text())
    full = map_gguf(gguf_header_for(config_from_dict(raw))).arch
    assert [x.kind for x in full.layers].count(LayerKind.SLIDING) == 48
    raw["num_hidden_layers"] = 32
    raw["layer_types"] = raw["layer_types"][:32]
    got = map_gguf(gguf_header_for(config_from_dict(raw))).arch
    assert {x.kind for x in got.layers} == {LayerKind.FULL}


def test_olmo2_files_are_read_as_olmo2() -> None:
    """llama.cpp's converter writes OLMo 3 as "olmo2"; such a file runs on Ollama's llama.cpp
    runner (only "olmo3" files take its own engine), so it is read as the olmo2 family."""
    from rigfit.families import family

    model = rigfit.get_model("allenai/Olmo-3.1-32B-Instruct")
    mapping = map_gguf(gguf_header_for(model.record.config))
    assert mapping.config.model_type == "olmo2"
    assert not family("olmo2").ollama_engine
    assert family("olmo3").ollama_engine
    assert mapping.arch.params_total == model.arch.params_total


def test_letter_patterns_become_layer_types() -> None:
    path = Path(__file__).parent.parent / "data" / "configs" / "exaone-4.0-32b.json"
    raw = json.loads(path.read_text())
    raw.pop("layer_types")
    a = from_config(config_from_dict(raw))
    assert [x.kind for x in a.layers][:4] == [LayerKind.SLIDING] * 3 + [LayerKind.FULL]
    with pytest.raises(ReaderError, match=r"L \(local\) and G \(global\)"):
        config_from_dict({**raw, "sliding_window_pattern": "LXG"})


def _gemma4_header(model: str, *, drop_v: bool = True) -> Any:
    """A Gemma 4 text GGUF as its converter writes it (Ollama convert_gemma4.go KV(): key_length
    / key_length_swa, head_count_kv per layer, sliding_window_pattern true = sliding), with the
    catalog model's tensors and the generated rope_freqs vector."""
    from rigfit.formats.gguf.header import GGUFHeader, GGUFTensor

    arch = rigfit.get_model(model).arch
    full = arch.attention_specs[1]
    p = "gemma4"
    md: dict[str, Any] = {
        "general.architecture": p,
        f"{p}.block_count": arch.num_layers,
        f"{p}.context_length": arch.context_length,
        f"{p}.embedding_length": arch.hidden_size,
        f"{p}.feed_forward_length": [x.dense_intermediate_size for x in arch.layers],
        f"{p}.attention.head_count": arch.attention.num_heads,
        f"{p}.attention.head_count_kv": [arch.attn(x).num_kv_heads for x in arch.layers],
        f"{p}.attention.key_length": full.head_dim,
        f"{p}.attention.value_length": full.head_dim,
        f"{p}.attention.key_length_swa": arch.attention.head_dim,
        f"{p}.attention.value_length_swa": arch.attention.head_dim,
        f"{p}.attention.sliding_window": next(x.window for x in arch.layers if x.window),
        f"{p}.attention.sliding_window_pattern": [x.kind.windowed for x in arch.layers],
        f"{p}.attention.shared_kv_layers": sum(x.kv_source is not None for x in arch.layers),
        f"{p}.embedding_length_per_layer_input": arch.per_layer_input,
        f"{p}.final_logit_softcapping": 30.0,
    }
    if arch.moe is not None:
        md |= {
            f"{p}.expert_count": arch.moe.num_experts,
            f"{p}.expert_used_count": arch.moe.experts_per_token,
            f"{p}.expert_feed_forward_length": arch.moe.expert_intermediate_size,
        }
    tensors = [
        GGUFTensor(t.name, 0, (t.cols, t.rows, t.count) if t.count > 1 else (t.cols, t.rows), 0, 0)
        for t in arch.tensors()
        if t.role not in TOWER_ROLES
    ]
    if not drop_v:  # a V projection on the full layers too
        tensors += [
            GGUFTensor(f"blk.{x.index}.attn_v.weight", 0, (arch.hidden_size, 1024), 0, 0)
            for x in arch.layers
            if not x.kind.windowed
        ]
    tensors.append(GGUFTensor("rope_freqs.weight", 0, (full.head_dim // 2,), 0, 0))
    return GGUFHeader(f"{model}.gguf", 3, md, tuple(tensors), 0, 32, 0)


@pytest.mark.parametrize(
    "model", ["google/gemma-4-26B-A4B", "google/gemma-4-31B-it", "google/gemma-4-E2B-it"]
)
def test_gemma4_files_read_back_to_the_language_model(model: str) -> None:
    """The text GGUF of Gemma 4 maps back to the catalog model's language model: K as V from
    the full layers' missing attn_v, their own KV heads and head size, the experts; E2B's
    per-layer input table, KV-shared layers and their double-wide MLPs; the file's parameters
    equal the architecture's, rope_freqs aside."""
    mapping = map_gguf(_gemma4_header(model))
    want = rigfit.get_model(model).arch
    assert mapping.config.model_type == "gemma4_text"
    assert mapping.config.attention_k_eq_v == want.attention_specs[1].k_eq_v
    assert mapping.arch.params_total == want.params_total - want.tower_params
    assert mapping.arch.kv_layers == want.kv_layers
    assert mapping.arch.kv_bytes_per_token(KVCacheType.F16) == want.kv_bytes_per_token(
        KVCacheType.F16
    )
    assert mapping.excluded == ("rope_freqs.weight",)


def test_gemma4_file_with_v_on_full_layers_of_other_kv_heads_is_refused() -> None:
    with pytest.raises(rigfit.UnsupportedArchitectureError, match="their own KV heads"):
        map_gguf(_gemma4_header("google/gemma-4-31B-it", drop_v=False))


def test_deci_gguf_widths_and_heads_are_checked() -> None:
    """A deci file's per-layer MLP width must be a DeciLM width (a multiple of 256, what
    round_up(2/3 × ffn_mult × hidden, 256) gives), and some layer must have heads."""
    from dataclasses import replace

    path = (
        Path(__file__).parent.parent / "data" / "configs" / "llama-3.3-nemotron-super-49b-v1.json"
    )
    header = gguf_header_for(config_from_dict(json.loads(path.read_text())))
    widths = list(header.metadata["deci.feed_forward_length"])
    assert map_gguf(header).arch.params_total == 49_867_145_216
    widths[5] = 1000
    odd = replace(header, metadata={**header.metadata, "deci.feed_forward_length": widths})
    with pytest.raises(ReaderError, match="not a DeciLM width"):
        map_gguf(odd)
    heads = [0] * len(widths)
    none = replace(
        header,
        metadata={
            **header.metadata,
            "deci.attention.head_count": heads,
            "deci.attention.head_count_kv": heads,
        },
    )
    with pytest.raises(ReaderError, match="no layer has attention heads"):
        map_gguf(none)
