"""The size of a GGUF file: tensor data padded to the alignment, plus the header.

Layout (ggml gguf.cpp ``gguf_write_out`` and ``gguf_writer_base::write``; include/gguf.h), all
integers little-endian:

1. 24 bytes: magic, version, tensor count, key/value count;
2. the key/value pairs (model metadata and the tokenizer);
3. one tensor info per tensor: name (u64 length + bytes), n_dims (u32), ``ne`` (i64 each),
   type (i32), data offset (u64);
4. zeros up to a multiple of the alignment (``GGUF_DEFAULT_ALIGNMENT`` = 32, as
   ``llama-quantize`` writes: llama-quant.cpp @ ec98e2002 uses ``GGUF_DEFAULT_ALIGNMENT``);
5. the tensor data, each tensor followed by zeros up to the alignment (``GGML_PAD(size,
   align) - size`` bytes, llama-quant.cpp l.1023; gguf.cpp l.1159).

Everything but the key/value pairs is exact, given the replayed tensor types
(:mod:`rigfit.formats.gguf.quantize`). The key/value pairs are estimated: the catalog does not
hold the tokenizer, which is most of them. See :func:`metadata_estimate_bytes`.
"""

from __future__ import annotations

from rigfit.arch import Architecture
from rigfit.errors import InvalidSpecError
from rigfit.formats.gguf.quantize import imatrix_required, replay
from rigfit.frozen import frozen
from rigfit.quant import Family, GGMLType, GGUFRecipe, LlamaFtype, WeightFormat

__all__ = [
    "GGUF_DEFAULT_ALIGNMENT",
    "GGUFFileRow",
    "GGUFFileSize",
    "gguf_file_bytes",
    "gguf_file_size",
    "gguf_file_table",
    "gguf_ftype",
    "metadata_estimate_bytes",
    "tensor_type_counts",
]

GGUF_DEFAULT_ALIGNMENT = 32  # include/gguf.h

_HEADER_BYTES = 4 + 4 + 8 + 8  # magic "GGUF", version u32, n_tensors i64, n_kv i64

# Tokenizer metadata per vocabulary entry, from the GGUF encoding (gguf.h: a string is a u64
# length and its bytes; arrays of i32/f32 take 4 bytes an element) and typical tokenizers:
# * BPE (Llama 3, Qwen, DeepSeek, gpt-oss, Mistral Tekken): tokenizer.ggml.tokens 8 + ~7 bytes,
#   token_type 4, and about one tokenizer.ggml.merges entry per token (8 + ~2x7 + 1 bytes):
#   ~40 bytes a token. Llama 3 has two merges a token (~60), Qwen2 one (~38).
# * SentencePiece (Llama 2, Mistral 7B v0.1-v0.3, Mixtral: vocabularies of 32,000-32,768):
#   tokens 8 + ~6, scores 4, token_type 4, no merges: ~23 bytes a token.
# Rough figures, not measured: a 128k-vocabulary file is off by a few MB at most.
_BPE_BYTES_PER_TOKEN = 40
_SPM_BYTES_PER_TOKEN = 23
_SPM_MAX_VOCAB = 32_768
# The other key/value pairs: ~40 keys of general.*, hyperparameters, token ids and flags at
# ~50 bytes each, plus a chat template of a few KB.
_OTHER_KV_BYTES = 8 * 1024


def _pad(n: int, align: int = GGUF_DEFAULT_ALIGNMENT) -> int:
    return (n + align - 1) // align * align


def metadata_estimate_bytes(arch: Architecture) -> int:
    """Estimated bytes of the key/value pairs, from the vocabulary size only.

    ``vocab_size × 40`` bytes for BPE vocabularies, ``× 23`` for SentencePiece ones (taken to
    be those of at most 32,768 tokens), plus 8 KiB for the other keys and the chat template.
    Gemma's SentencePiece vocabulary of 256k is priced as BPE, about 4 MB too much. A model
    whose tokenizer.json is at hand could be priced exactly; the catalog keeps only
    config.json.

    >>> from rigfit.catalog.lookup import get_model
    >>> metadata_estimate_bytes(get_model("meta-llama/Llama-3.1-8B-Instruct").arch)
    5138432
    """
    v = arch.vocab_size
    per_token = _SPM_BYTES_PER_TOKEN if v <= _SPM_MAX_VOCAB else _BPE_BYTES_PER_TOKEN
    return v * per_token + _OTHER_KV_BYTES


def gguf_ftype(fmt: WeightFormat | LlamaFtype) -> LlamaFtype:
    """The llama.cpp file type of a GGUF ``--quant`` format (F32/F16/BF16: the converter's)."""
    if isinstance(fmt, LlamaFtype):
        return fmt
    layout = fmt.layout
    if isinstance(layout, GGUFRecipe):
        return layout.ftype
    floats = {
        WeightFormat.F32: LlamaFtype.ALL_F32,
        WeightFormat.F16: LlamaFtype.F16,
        WeightFormat.BF16: LlamaFtype.BF16,
    }
    if fmt.family is Family.FLOAT and fmt in floats:
        return floats[fmt]
    raise InvalidSpecError(f"{fmt.label} is not stored in GGUF files (try Q4_K_M or F16)")


@frozen
class GGUFFileSize:
    """The bytes of one GGUF file, by part; only ``metadata_bytes`` is an estimate."""

    ftype: LlamaFtype
    n_tensors: int
    tensor_bytes: int  # sum of ggml_nbytes: what llama.cpp loads
    padding_bytes: int  # zeros after each tensor up to the alignment
    tensor_info_bytes: int
    metadata_bytes: int  # key/value pairs, estimated
    by_type: tuple[tuple[str, int], ...]  # GGML type -> tensor bytes, largest first

    @property
    def header_bytes(self) -> int:
        """Header, key/value pairs and tensor infos, padded to the alignment."""
        return _pad(_HEADER_BYTES + self.metadata_bytes + self.tensor_info_bytes)

    @property
    def total_bytes(self) -> int:
        return self.header_bytes + self.tensor_bytes + self.padding_bytes


def gguf_file_size(
    arch: Architecture,
    fmt: WeightFormat | LlamaFtype,
    *,
    imatrix: bool | None = None,
    metadata: bool = True,
) -> GGUFFileSize:
    """The parts of the GGUF file of ``arch`` in ``fmt`` (see :func:`gguf_file_bytes`)."""
    ftype = gguf_ftype(fmt)
    plan = replay(arch, ftype, imatrix=imatrix)
    data = pad = info = 0
    by_type: dict[str, int] = {}
    for c in plan:
        n = c.nbytes
        data += n
        pad += _pad(n) - n
        by_type[c.type.name] = by_type.get(c.type.name, 0) + n
        # name (u64 + bytes), n_dims u32, ne i64 each, type i32, offset u64
        info += 8 + len(c.tensor.name.encode()) + 4 + 8 * c.tensor.n_dims + 4 + 8
    return GGUFFileSize(
        ftype=ftype,
        n_tensors=len(plan),
        tensor_bytes=data,
        padding_bytes=pad,
        tensor_info_bytes=info,
        metadata_bytes=metadata_estimate_bytes(arch) if metadata else 0,
        by_type=tuple(sorted(by_type.items(), key=lambda kv: -kv[1])),
    )


def gguf_file_bytes(
    arch: Architecture,
    fmt: WeightFormat | LlamaFtype,
    *,
    imatrix: bool | None = None,
    metadata: bool = True,
) -> int:
    """Predicted size in bytes of the GGUF file of ``arch`` quantized to ``fmt``.

    ``fmt`` is a GGUF ``--quant`` format, F32/F16/BF16 (a file straight from
    ``convert_hf_to_gguf.py``: norms, biases and routers F32, the rest in that type), or any
    :class:`~rigfit.quant.LlamaFtype` (Q4_1, IQ3_XS, Q2_K_S... that ``--quant`` does not offer).
    ``imatrix`` as in :func:`rigfit.formats.gguf.quantize.replay`. The tensor data, padding and
    tensor infos are exact for the replayed types; the key/value metadata (mostly the
    tokenizer) is estimated from the vocabulary size by :func:`metadata_estimate_bytes`, or
    left out with ``metadata=False``. The vision tower (a separate mmproj file) is not included.

    >>> from rigfit.catalog.lookup import get_model
    >>> arch = get_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B").arch
    >>> gguf_file_bytes(arch, WeightFormat.Q4_K_M, metadata=False)
    19845401664
    """
    return gguf_file_size(arch, fmt, imatrix=imatrix, metadata=metadata).total_bytes


def tensor_type_counts(arch: Architecture, ftype: LlamaFtype) -> dict[GGMLType, int]:
    """How many tensors of each type, as llama.cpp's loader lists them ("- type q4_K: N")."""
    counts: dict[GGMLType, int] = {}
    for c in replay(arch, ftype):
        counts[c.type] = counts.get(c.type, 0) + 1
    return counts


@frozen
class GGUFFileRow:
    """One llama.cpp file type of a model: its predicted file and what it is made of."""

    ftype: LlamaFtype
    size: GGUFFileSize
    params: int  # parameters in the file (the vision and audio towers excluded)
    imatrix: bool  # whether the replay assumed an importance matrix

    @property
    def bits_per_weight(self) -> float:
        """Tensor bits per parameter, as llama.cpp's ``model size ... (x BPW)`` prints it."""
        return 8 * self.size.tensor_bytes / self.params


def gguf_file_table(arch: Architecture, *, imatrix: bool | None = None) -> list[GGUFFileRow]:
    """Every llama.cpp file type of ``arch``, largest file first: the sizes a GGUF repository
    of this model would list (``imatrix`` as in :func:`gguf_file_bytes`). MXFP4_MOE appears
    only for MoE models, as llama-quantize makes it for their experts."""
    params = arch.params_total - arch.tower_params  # the towers go to the mmproj file
    rows = []
    for ftype in LlamaFtype:
        if ftype is LlamaFtype.MXFP4_MOE and arch.moe is None:
            continue
        use = imatrix if imatrix is not None else imatrix_required(arch, ftype)
        rows.append(GGUFFileRow(ftype, gguf_file_size(arch, ftype, imatrix=use), params, use))
    rows.sort(key=lambda r: -r.size.total_bytes)
    return rows
