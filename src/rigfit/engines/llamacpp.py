"""llama.cpp (llama-server, llama-cli): memory the way its loader and context account for it.

Reference: upstream llama.cpp at commit ec98e2002 (December 2025, vendored unchanged by Ollama
v0.13.5+), with the V-less MLA cache of PR #19067 (January 2026). Older builds are replayed
where their accounting differs; ``EngineSettings.version`` takes a build number like ``b5331``.

Per device, llama.cpp holds (log lines in quotes):

* weights of the layers it was given ("CUDA0 model buffer size"): ``-ngl N`` puts the last N
  repeating layers on GPUs, the output head only when N exceeds the layer count, and the token
  embedding always stays in host memory ("CPU_Mapped model buffer size");
  ``--tensor-split`` (default: in proportion to each device's memory) spreads GPU layers over
  devices; ``--cpu-moe`` / ``--n-cpu-moe N`` keep routed experts in RAM;
* the KV cache of its layers ("KV buffer size"), per layer K and V rows of the cache type for
  every cell, cells = context padded to 256 per sequence; sliding-window layers hold only
  window + ubatch cells; MLA models hold the compressed latent;
* a compute buffer ("compute buffer size") sized by the scheduler's worst-case graph;
* and the host holds the output (logits) buffer ("CUDA_Host output buffer size").
"""

from __future__ import annotations

import re
from dataclasses import replace
from enum import StrEnum
from functools import lru_cache

from rigfit.arch import Architecture, AttentionKind, AttentionSpec, KVLayout, Role
from rigfit.catalog.schema import GPURecord, Vendor
from rigfit.engines.checks import without_ggml_backend
from rigfit.engines.tensors import Kind, PlacedTensor, request_tensors, vision_bytes
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import ProfileBase, Request, Term
from rigfit.estimate.split import Split, SplitKind
from rigfit.estimate.terms import TermKind
from rigfit.families import family
from rigfit.frozen import frozen
from rigfit.quant import Family, KVCacheType, WeightFormat
from rigfit.units import GIB

__all__ = ["LLAMACPP", "Backend", "LlamaCpp", "backends_for", "behaviour", "build_number"]

# The build whose accounting the defaults follow: the first with the V-less MLA cache
# (see MLA_K_ONLY_BUILD); every rule below holds from there on as of November 2026.
REFERENCE_BUILD = 7832

# PR #12801 "DeepSeek V2/V3 MLA implementation" (merged 2025-04-15) made llama.cpp cache the
# MLA latent (K = kv_lora_rank + rope, V = kv_lora_rank). It landed between b4905 (whose
# DeepSeek-R1 log still shows the decompressed cache) and b5331 (whose log shows the latent);
# rigfit switches at b5331, the first build a measurement in its set confirms.
MLA_LATENT_BUILD = 5331
# PR #19067 "kv-cache : support V-less cache" (merge commit d9c6ce46f, 2026-01-25): MLA models
# keep only K (the latent + rope, 576 values for DeepSeek) and read V as a view of it. A
# llama.cpp build's number counts the commits on master (b4462 is c05e8c99, the 4,462nd;
# helper check over 2,415 tags of a mirror), and `git rev-list --count d9c6ce46f` is 7832
# (ngxson/llama.cpp, a fork carrying master's history): b7832.
MLA_K_ONLY_BUILD = 7832
# PR #17046 padded n_ctx to 256 always (llama-context.cpp, ec98 l.149); before it the padding
# was 256 with flash attention and 32 without (llama_kv_cache::get_padding, commit 7049736b,
# about b6900 / October-November 2025).
PAD_ALWAYS_256_BUILD = 6950
# Flash attention became "auto" (on where the device supports it) by default in August 2025
# (common.h, between commits e54d41be and 364a7a6d); before, it was off unless -fa was given.
FA_AUTO_BUILD = 6300

# common.h at the reference build: n_ctx = 0 ("context the model was trained with"),
# fit_params = true, fit_params_min_ctx = 4096 ("minimum context size to set when trying to
# reduce memory use")
FIT_MIN_CTX_TOKENS = 4096
CTX_PAD_TOKENS = 256  # GGML_PAD(n_ctx, 256): llama-context.cpp ec98 l.149
OLD_PAD_NO_FA_TOKENS = 32  # get_padding() without flash attention, builds before PR #17046
SWA_PAD_TOKENS = 256  # llama-kv-cache-iswa.cpp: the SWA cache is always padded to 256
N_UBATCH_DEFAULT = 512  # common.h n_ubatch
# ggml-backend.cpp: the scheduler's copies of a graph's inputs with pipeline parallelism on
SCHED_MAX_COPIES = 4
# Pipeline parallelism came with PR #6017, commit f30ea47a, tagged b2413 (the git bisect in
# ggml-org/llama.cpp issue #6091: "f30ea47a - (tag: b2413, ...) llama : add pipeline
# parallelism support (#6017)"); builds before it run a prompt's micro-batches in turn
PIPELINE_BUILD = 2413
F32_BYTES = 4  # logits, activations and the KQ scores are f32 in ggml graphs
MASK_BYTES_FA = 2  # the KQ mask is cast to f16 for flash attention (llama-graph.cpp)
I32_BYTES = 4  # the per-token int32 graph inputs: token ids, positions, output ids
# llama.cpp's own --fit plan leaves 1 GiB free on each device for what it does not count: the
# CUDA context, cuBLAS workspaces and fragmentation (common.h fit_params_target = 1 GiB).
RESERVE_PER_GPU_BYTES = 1 * GIB
# KV cache types llama.cpp accepts for -ctk/-ctv (common/arg.cpp kv_cache_types)
SUPPORTED_KV = (
    KVCacheType.F32,
    KVCacheType.F16,
    KVCacheType.BF16,
    KVCacheType.Q8_0,
    KVCacheType.Q4_0,
    KVCacheType.Q4_1,
    KVCacheType.IQ4_NL,
    KVCacheType.Q5_0,
    KVCacheType.Q5_1,
)
# Weight formats a GGUF file can hold besides llama.cpp's own quantizations: the float types and
# MXFP4 (GGML_TYPE_MXFP4, ggml.h; gpt-oss's GGUF keeps its experts in it). AWQ, GPTQ, FP8,
# bitsandbytes and NVFP4 checkpoints have no GGUF form llama.cpp loads.
GGUF_GPU_FORMATS = (WeightFormat.MXFP4, WeightFormat.MXFP4_EXPERTS)


def refuse_non_gguf(req: Request, engine: str) -> None:
    """Refuse a GPU serving format that has no GGUF form: ``engine`` (llama.cpp, or Ollama,
    which wraps it) loads GGUF files only."""
    fmt = req.weights().format
    if fmt.family is Family.GPU and fmt not in GGUF_GPU_FORMATS:
        raise InvalidSpecError(
            f"{engine} loads GGUF files, and {fmt.label} has no GGUF form (allowed: the GGUF"
            " types such as Q4_K_M or Q8_0, F16, BF16, MXFP4)"
        )


# Names of the output head: GGUF's output.weight, a Hugging Face checkpoint's lm_head.weight
_HEAD_NAMES = ("output.weight", "lm_head.weight")


@frozen
class Behaviour:
    build: int
    mla: KVLayout  # how this build caches MLA layers
    pad_always_256: bool
    fa_default: bool


# Nemotron 3 Super's latent experts (moe_latent_size; ffn_latent_down/up) load from PR #20411
# "llama : add support for Nemotron 3 Super", opened 2026-03-11: b8227 (issue #20268,
# 2026-03-09) predates it, and LM Studio's tracker (lmstudio-bug-tracker #1643, 2026-03-13)
# asks for b8300; the PR's own benchmark (PR #20420, benches/nemotron/nemotron-dgx-spark.md)
# ran "build: 04a65daab (8268)", a branch build. The first release with it is not pinned, so
# only builds that certainly predate it are refused.
LATENT_MOE_BUILD = 8228


def since_build(arch: Architecture) -> tuple[int, str]:
    """The first llama.cpp build that loads ``arch`` (0: older than any build rigfit
    replays), and what it loads, for messages."""
    fam = family(arch.model_type)
    if (
        arch.moe is not None
        and arch.moe.latent_size
        and fam.llamacpp_since_build < (LATENT_MOE_BUILD)
    ):
        return LATENT_MOE_BUILD, f"{fam.gguf_arch} with latent experts (moe_latent_size)"
    return fam.llamacpp_since_build, fam.gguf_arch


def build_number(version: str | None) -> int:
    """``b5331``, ``5331`` or ``b5331 (33eff402)`` -> 5331; None -> the reference build."""
    if version is None:
        return REFERENCE_BUILD
    m = re.fullmatch(r"\s*b?(\d{1,6})(?:\s.*)?", version)  # not "0.8.5" (a vLLM-style version)
    if m is None:
        raise InvalidSpecError(
            f"llama.cpp version {version!r} is not a build number (allowed: b5331, 5331)"
        )
    return int(m.group(1))


def behaviour(version: str | None) -> Behaviour:
    b = build_number(version)
    mla = (
        KVLayout.PER_HEAD
        if b < MLA_LATENT_BUILD
        else KVLayout.LATENT_KV
        if b < MLA_K_ONLY_BUILD
        else KVLayout.LATENT
    )
    return Behaviour(b, mla, b >= PAD_ALWAYS_256_BUILD, b >= FA_AUTO_BUILD)


def _is_head(t: PlacedTensor) -> bool:
    """Whether ``t`` is the output head (not output_norm, not a layer's attn_output)."""
    if t.role is not None:
        return t.role is Role.OUTPUT
    return t.kind is Kind.OUTPUT and t.name.rsplit("model.", 1)[-1] in _HEAD_NAMES


def _pad(x: int, to: int) -> int:
    return -(-x // to) * to


@frozen
class Layout:
    """Where each repeating layer and the output head live: a device index or None (host)."""

    layer_device: tuple[int | None, ...]
    output_device: int | None
    split: tuple[float, ...]


def layout(req: Request) -> Layout:
    """llama_model::load_tensors: -ngl and the cumulative --tensor-split points."""
    n, s = req.arch.num_layers, req.engine
    n_dev = req.system.n_devices
    if s.tensor_split is not None:
        if len(s.tensor_split) != n_dev:
            raise InvalidSpecError(
                f"--tensor-split has {len(s.tensor_split)} proportions for {n_dev} GPUs"
                " (give one per GPU)"
            )
        weights = tuple(s.tensor_split)
    else:  # llama.cpp splits by each device's free memory; rigfit uses its capacity
        weights = tuple(float(c) for c in req.system.capacities_bytes)
    return _layout(n, s.ngl, weights)


@lru_cache(maxsize=256)
def _layout(n: int, ngl_given: int | None, weights: tuple[float, ...]) -> Layout:
    # memoized: a fit's searches ask for the same layout dozens of times
    n_dev = len(weights)
    ngl = n + 1 if ngl_given is None else ngl_given
    start = max(n - ngl, 0)  # i_gpu_start
    act = min(ngl, n + 1)  # act_gpu_layers, the output layer counting as layer n
    total = sum(weights)
    cum, acc = [], 0.0
    for w in weights:
        acc += w
        cum.append(acc / total)

    def device(il: int) -> int | None:
        if act <= 0 or il < start or il - start >= act:
            return None
        x = (il - start) / act
        for d, c in enumerate(cum):  # std::upper_bound: first split point above x
            if c > x:
                return d
        return n_dev - 1

    return Layout(tuple(device(i) for i in range(n)), device(n), weights)


# layouts whose KV layer groups an architecture keeps (a fit's searches use a handful)
_LAYOUTS_KEPT = 64


def _kv_layer_groups(
    arch: Architecture, layer_device: tuple[int | None, ...]
) -> dict[tuple[int | None, bool, AttentionSpec], int]:
    """The KV-caching layers counted by (device, windowed, attention geometry): what each
    device's cache sums over, memoized on the architecture for a layout."""
    memo = arch.cache.setdefault("llama.cpp kv layer groups", {})
    assert isinstance(memo, dict)
    found = memo.get(layer_device)
    if found is None:
        groups: dict[tuple[int | None, bool, AttentionSpec], int] = {}
        for layer in arch.layers:
            if layer.caches_kv:
                g = (layer_device[layer.index], layer.kind.windowed, arch.attn(layer))
                groups[g] = groups.get(g, 0) + 1
        if len(memo) >= _LAYOUTS_KEPT:  # a server sees any --tensor-split: keep a few
            memo.clear()
        memo[layer_device] = found = groups
    return found


def _is_token_embd(t: PlacedTensor) -> bool:
    """Whether an embedding tensor is token_embd (which a tied model also uses as its head),
    not Gemma 4's per-layer input table."""
    return t.role is not Role.PER_LAYER_EMBD and not t.name.startswith("per_layer_token_embd")


@frozen
class _Placement:
    """The weights of one tensor list under one layout, summed where they land."""

    device_bytes: tuple[int, ...]
    host_bytes: int
    expert_host_bytes: int
    tied_duplicate_bytes: int  # token_embd copied as the head of a tied model
    host_largest_bytes: int  # the largest layer or expert tensor left in host memory


@frozen
class _LayerSums:
    """One tensor list summed where llama.cpp's placement can tell its tensors apart."""

    # layer -> (dense bytes, largest dense tensor, expert bytes, largest expert tensor)
    layers: dict[int, tuple[int, int, int, int]]
    host_bytes: int  # the token embedding (and Gemma 4's per-layer table): never offloaded
    output_bytes: int  # the output head and final norm
    embedding: tuple[int, ...]  # each token-embedding tensor's bytes
    has_head: bool


_SUMS: dict[int, tuple[tuple[PlacedTensor, ...], _LayerSums]] = {}


def _layer_sums(tensors: tuple[PlacedTensor, ...]) -> _LayerSums:
    hit = _SUMS.get(id(tensors))
    if hit is not None and hit[0] is tensors:
        return hit[1]
    layers: dict[int, list[int]] = {}
    host = output = 0
    embedding: list[int] = []
    for t in tensors:
        if t.kind is Kind.VISION:
            continue  # the towers are the mmproj file, priced as their own term
        if t.kind is Kind.EMBEDDING:
            host += t.nbytes  # the input layer is never offloaded (llama-model.cpp)
            if t.kind is Kind.EMBEDDING and _is_token_embd(t):
                embedding.append(t.nbytes)
            continue
        if t.kind is Kind.OUTPUT:
            output += t.nbytes
            continue
        assert t.layer is not None
        row = layers.setdefault(t.layer, [0, 0, 0, 0])
        i = 2 if t.kind is Kind.EXPERT else 0
        row[i] += t.nbytes
        row[i + 1] = max(row[i + 1], t.nbytes)
    sums = _LayerSums(
        {k: (v[0], v[1], v[2], v[3]) for k, v in sorted(layers.items())},
        host,
        output,
        tuple(embedding),
        any(_is_head(t) for t in tensors),
    )
    if len(_SUMS) >= _PLACEMENTS_MAX:
        _SUMS.clear()
    _SUMS[id(tensors)] = (tensors, sums)
    return sums


# Memo of placements: keyed by the tensor list's identity (request_tensors returns one tuple per
# model and format) and the layout; bounded, cleared when full.
_PLACEMENTS: dict[object, tuple[tuple[PlacedTensor, ...], _Placement]] = {}
_PLACEMENTS_MAX = 4096


class Backend(StrEnum):
    """The GPU backend a llama.cpp build runs (its ``GGML_*`` build option): ggml/src has one
    each. The HIP build compiles ggml-cuda's kernels for AMD GPUs; Vulkan's kernels are its own
    and run on any vendor's Vulkan driver."""

    CUDA = "cuda"
    ROCM = "rocm"
    VULKAN = "vulkan"
    METAL = "metal"
    SYCL = "sycl"


# The backends each vendor's GPUs run in llama.cpp's own builds and docs (docs/build.md: CUDA
# for NVIDIA, HIP for AMD, Metal on Apple silicon, SYCL for Intel GPUs, Vulkan for NVIDIA,
# AMD and Intel); the first is the vendor's own, taken when none is given. Apple's Vulkan runs
# through MoltenVK, a translation layer rigfit has no measurements of, so Apple lists Metal only.
_BACKENDS: dict[Vendor, tuple[Backend, ...]] = {
    Vendor.NVIDIA: (Backend.CUDA, Backend.VULKAN),
    Vendor.AMD: (Backend.ROCM, Backend.VULKAN),
    Vendor.APPLE: (Backend.METAL,),
    Vendor.INTEL: (Backend.SYCL, Backend.VULKAN),
}


assert set(_BACKENDS) == set(Vendor), "every vendor lists its llama.cpp backends"


def backends_for(gpu: GPURecord) -> tuple[Backend, ...]:
    """The llama.cpp backends that run on ``gpu``, its vendor's own first."""
    return _BACKENDS[gpu.vendor]


def common_backends(gpus: tuple[GPURecord, ...]) -> tuple[Backend, ...]:
    """The backends every one of ``gpus`` runs, in the first one's order: one llama.cpp
    process loads one build, so GPUs of two vendors share Vulkan or nothing."""
    return tuple(b for b in backends_for(gpus[0]) if all(b in backends_for(g) for g in gpus))


class LlamaCpp(ProfileBase):
    name = "llama.cpp"
    description = (
        "llama.cpp's loader and context: -ngl layer offload, --tensor-split over GPUs,"
        " expert offload, KV cells padded to 256, per-device compute buffers, host output"
        " buffer; 1 GiB left free per GPU as its --fit does"
    )
    reference_version = f"b{REFERENCE_BUILD}"

    # ---- helpers ----------------------------------------------------------------------------

    def flash_attention(self, req: Request) -> bool:
        """-fa as given, else the build's default (auto from b6300, off before)."""
        if req.engine.flash_attn is not None:
            return req.engine.flash_attn
        return behaviour(req.engine.version).fa_default

    def backend(self, req: Request) -> Backend:
        """--backend as given, else the vendor's own (CUDA, ROCm, Metal, SYCL), or the first
        one every GPU runs where they are of several vendors (Vulkan)."""
        if req.engine.backend is not None:
            return Backend(req.engine.backend)
        shared = common_backends(req.system.devices)
        return shared[0] if shared else backends_for(req.system.gpu)[0]

    def kernels(self, req: Request) -> str:
        # Vulkan's kernels are not the vendor backends' (ggml-vulkan's own shaders): their
        # speed is calibrated apart, on the rows that name the Vulkan backend
        return "llama.cpp-vulkan" if self.backend(req) is Backend.VULKAN else self.name

    def ubatch(self, req: Request) -> int:
        return req.engine.n_ubatch or N_UBATCH_DEFAULT

    def cells(self, req: Request) -> tuple[int, int]:
        """(KV cells per sequence for full-attention layers, for sliding-window layers)."""
        b = behaviour(req.engine.version)
        pad = (
            CTX_PAD_TOKENS
            if b.pad_always_256 or self.flash_attention(req)
            else OLD_PAD_NO_FA_TOKENS
        )
        base = _pad(req.ctx_tokens, pad)
        window = next((x.window for x in req.arch.layers if x.window), None)
        if window is None or not family(req.arch.model_type).llamacpp_window_cache:
            return base, 0
        if req.engine.swa_full:
            return base, base  # --swa-full: the sliding layers' cache is full-size too
        swa = min(base, _pad(window + self.ubatch(req), SWA_PAD_TOKENS))
        return base, swa

    def check(self, req: Request) -> None:
        self._check(req)

    def _check(self, req: Request) -> None:
        fam = family(req.arch.model_type)
        if fam.llamacpp_refused:
            raise UnsupportedArchitectureError(
                f"{fam.llamacpp_refused}; use --engine vllm or sglang"
            )
        since, what = since_build(req.arch)
        if req.engine.version is not None and build_number(req.engine.version) < since:
            raise InvalidSpecError(
                f"llama.cpp b{build_number(req.engine.version)} predates {what}, which"
                f" loads from b{since} (allowed: b{since} or later)"
            )
        backend = self.backend(req)
        for gpu in req.system.devices:
            if without_ggml_backend(gpu):
                raise InvalidSpecError(
                    f"llama.cpp has no backend for {gpu.name} (Intel Gaudi); use --engine vllm"
                )
            if backend not in backends_for(gpu):
                shared = common_backends(req.system.devices)
                allowed = ", ".join(shared) if shared else "none: no build runs them all"
                where = (
                    " on every GPU here" if len({g.vendor for g in req.system.devices}) > 1 else ""
                )
                raise InvalidSpecError(
                    f"llama.cpp's {backend} backend does not run on {gpu.name} (allowed{where}:"
                    f" {allowed})"
                )
        if req.kv_type not in SUPPORTED_KV:
            raise InvalidSpecError(
                f"llama.cpp has no {req.kv_type.flag} KV cache (allowed: "
                + ", ".join(k.flag for k in SUPPORTED_KV)
                + ")"
            )
        quantized = req.kv_type not in (KVCacheType.F32, KVCacheType.F16, KVCacheType.BF16)
        if quantized and not self.flash_attention(req):
            raise InvalidSpecError(
                f"llama.cpp needs flash attention for a {req.kv_type.flag} V cache"
                " (give -fa on, or use an f16 KV cache; builds before flash attention became"
                " 'auto' leave it off)"
            )
        refuse_non_gguf(req, "llama.cpp")
        if (req.engine.tp or 1) > 1 or req.engine.pp > 1:
            raise InvalidSpecError(
                "llama.cpp splits layers over GPUs (--tensor-split), it has no"
                " --tensor-parallel-size; drop --tp/--pp for --engine llama.cpp"
            )

    # ---- terms ------------------------------------------------------------------------------

    def terms(self, req: Request) -> list[Term]:
        self._check(req)
        arch, n_dev = req.arch, req.system.n_devices
        lay = layout(req)

        # weights, tensor by tensor (the same for every context and concurrency: cached)
        tensors = request_tensors(req)
        placed = self._placement(req, tensors, lay)
        dev_w, host_w = list(placed.device_bytes), placed.host_bytes
        expert_host, tied_dup = placed.expert_host_bytes, placed.tied_duplicate_bytes
        gpu_layers = sum(d is not None for d in lay.layer_device)
        terms = [
            Term(
                TermKind.WEIGHTS,
                f"weights ({req.weights().format.label})",
                sum(dev_w),
                max(dev_w),
                "Σ tensors on each GPU: layers from -ngl and --tensor-split, the output head"
                " when all layers are offloaded; token_embd stays in host memory",
                {
                    "gpu_layers": gpu_layers,
                    "layers": arch.num_layers,
                    "output_on_gpu": str(lay.output_device is not None),
                    "tied_output_duplicate_bytes": tied_dup,
                    "split": ",".join(f"{x:g}" for x in lay.split),
                },
                per_device=tuple(dev_w),
            ),
            Term(
                TermKind.WEIGHTS,
                "weights in host memory",
                host_w,
                0,
                "token_embd"
                + (" and the per-layer input table" if arch.per_layer_input else "")
                + " + layers not offloaded + experts kept in RAM (mmapped from the file)",
                {"expert_bytes": expert_host},
                host=True,
            ),
        ]
        if arch.vision is not None:
            mm = vision_bytes(req)
            per = [0] * n_dev
            per[0] = mm
            what = "vision" if arch.audio is None else "vision and audio"
            terms.append(
                Term(
                    TermKind.MMPROJ,
                    f"{what} projector (mmproj, f16)",
                    mm,
                    mm,
                    f"{what} tower parameters × 2 B, loaded on the first GPU by llama-mtmd",
                    {"bytes": mm},
                    per_device=tuple(per),
                )
            )

        terms += self._kv_terms(req, lay)
        terms += self._compute_terms(req, lay, tensors)
        if req.pooling:
            # --embedding: every token of a batch is an output, and the server lowers n_batch
            # to n_ubatch (tools/server/server.cpp); output_reserve keeps logits and
            # embeddings, (n_vocab + n_embd) floats an output (src/llama-context.cpp)
            rows = min(self.ubatch(req), req.ctx_tokens * req.seqs)
            out = (arch.vocab_size + arch.hidden_size) * rows * F32_BYTES
            how = (
                "(vocab + hidden) × n_ubatch × 4 B in pinned host memory: an embedding run"
                " outputs every token of the batch (llama_context::output_reserve)"
            )
            inputs: dict[str, int | str | float] = {
                "vocab_size": arch.vocab_size,
                "hidden_size": arch.hidden_size,
                "n_ubatch": rows,
            }
        else:
            out = arch.vocab_size * max(1, req.seqs) * F32_BYTES
            how = (
                "vocab × max(1, n_seq) × 4 B in pinned host memory (llama_context::output_reserve)"
            )
            inputs = {"vocab_size": arch.vocab_size, "n_seq": req.seqs}
        terms.append(
            Term(
                TermKind.OUTPUT,
                "output (logits) buffer",
                out,
                0,
                how,
                inputs,
                host=True,
            )
        )
        reserve = 0 if req.system.gpu.unified_memory else RESERVE_PER_GPU_BYTES
        terms.append(
            Term(
                TermKind.RESERVE,
                "left free (CUDA context, workspaces)",
                reserve * n_dev,
                reserve,
                "1 GiB per GPU, the margin llama.cpp's --fit keeps (0 on Apple Metal)",
                {"per_gpu_bytes": reserve},
            )
        )
        return terms

    def _placement(
        self, req: Request, tensors: tuple[PlacedTensor, ...], lay: Layout
    ) -> _Placement:
        """Where each tensor goes under ``lay`` and the expert options, summed per device;
        memoized per tensor list, since searches over context and concurrency ask again.
        The tensors are summed per layer once (:func:`_layer_sums`), so a new layout costs a
        pass over the layers, not over every tensor."""
        s = req.engine
        key = ("llama.cpp placement", id(tensors), lay, s.cpu_moe, s.n_cpu_moe)
        hit = _PLACEMENTS.get(key)
        if hit is not None and hit[0] is tensors:
            return hit[1]
        sums = _layer_sums(tensors)
        dev_w = [0] * req.system.n_devices
        host_w = sums.host_bytes  # token embedding
        expert_host = tied_dup = 0
        host_largest = 0
        n = len(lay.layer_device)
        for il, (dense, dense_max, experts, experts_max) in sums.layers.items():
            dev = lay.layer_device[il] if il < n else None  # an MTP layer stays in RAM
            if dev is None:
                host_w += dense
                host_largest = max(host_largest, dense_max)
            else:
                dev_w[dev] += dense
            if experts:
                experts_dev = None if (s.cpu_moe or il < s.n_cpu_moe) else dev
                if experts_dev is None:
                    host_w += experts
                    expert_host += experts
                    host_largest = max(host_largest, experts_max)
                else:
                    dev_w[experts_dev] += experts
        if lay.output_device is None:
            host_w += sums.output_bytes
        else:
            dev_w[lay.output_device] += sums.output_bytes
            if not sums.has_head and sums.embedding:
                # tied head: llama.cpp duplicates token_embd as output.weight on its device
                dev_w[lay.output_device] += sum(sums.embedding)
                tied_dup = sums.embedding[-1]
        placed = _Placement(tuple(dev_w), host_w, expert_host, tied_dup, host_largest)
        if len(_PLACEMENTS) >= _PLACEMENTS_MAX:
            _PLACEMENTS.clear()
        _PLACEMENTS[key] = (tensors, placed)
        return placed

    def _kv_terms(self, req: Request, lay: Layout) -> list[Term]:
        arch, n_dev = req.arch, req.system.n_devices
        b = behaviour(req.engine.version)
        k_el, v_el = arch.attention.kv_row(b.mla)
        v_pad = 0
        if arch.mixed_attention and not self.flash_attention(req):
            # "the V embeddings have different sizes across layers and FA is not enabled -
            # padding V cache to n_embd_v_gqa_max" (src/llama-kv-cache.cpp, llama_kv_cache
            # constructor): without flash attention every layer's V row is the widest
            v_pad = max(a.kv_row(b.mla)[1] for a in arch.attention_specs)
        rows: dict[AttentionSpec, int] = {}
        for a in arch.attention_specs:
            k, v = a.kv_row(b.mla)
            v = max(v, v_pad)
            row_a = req.kv_type.row_bytes(k) + (req.kv_type.row_bytes(v) if v else 0)
            if a.indexer is not None:
                # llama_kv_cache_dsa: a second cache of one K head of indexer_head_size per
                # layer, no V (src/llama-kv-cache-dsa.cpp l.31-53)
                row_a += req.kv_type.row_bytes(a.indexer.head_dim)
            rows[a] = row_a
        row = rows[arch.attention]
        full_cells, swa_cells = self.cells(req)
        seqs = req.seqs
        dev = [0] * n_dev
        host = 0
        for (d, windowed_kind, spec), count in _kv_layer_groups(arch, lay.layer_device).items():
            cells = swa_cells if windowed_kind and swa_cells else full_cells
            nbytes = rows[spec] * cells * seqs * count
            if d is None:
                host += nbytes
            else:
                dev[d] += nbytes
        inputs: dict[str, int | str | float] = {
            "cells_per_seq": full_cells,
            "seqs": seqs,
            "k_elems_per_token_layer": k_el,
            "v_elems_per_token_layer": v_el,
            "bytes_per_token_layer": row,
            "kv_layers": arch.kv_layers,
        }
        if arch.mixed_attention:
            # the full-attention layers' own row (Gemma 4: global_head_dim, their KV heads)
            other = [r for key, r in rows.items() if key != arch.attention]
            inputs["full_layer_bytes_per_token"] = max(other)
            if v_pad:
                inputs["v_row_padded_to"] = v_pad
        if swa_cells:
            inputs["swa_cells_per_seq"] = swa_cells
        if arch.attention.kind is AttentionKind.MLA:
            inputs["mla_cache"] = b.mla.value
        terms = [
            Term(
                TermKind.KV_CACHE,
                f"KV cache ({req.kv_type.flag})",
                sum(dev),
                max(dev),
                "n_seq × Σ_layers cells × (K row + V row) bytes on each layer's device;"
                " cells = ctx padded to 256 (sliding layers: window + ubatch, padded)",
                inputs,
                per_device=tuple(dev),
            )
        ]
        if host:
            terms.append(
                Term(
                    TermKind.KV_CACHE,
                    "KV cache of layers in host memory",
                    host,
                    0,
                    "the KV cache of layers left on the CPU",
                    {},
                    host=True,
                )
            )
        if arch.has_state:
            # llama_memory_recurrent: f32 conv and recurrent state (n_embd_r + n_embd_s, the
            # delta-net or Mamba2 state), max(1, n_seq) cells
            per = [0] * n_dev
            host_state = 0
            for layer in arch.layers:
                if layer.kind.keeps_state:
                    nbytes = arch.layer_state_elems(layer) * F32_BYTES * max(1, seqs)
                    d = lay.layer_device[layer.index]
                    if d is None:
                        host_state += nbytes  # the state follows its layer to the CPU
                    else:
                        per[d] += nbytes
            terms.append(
                Term(
                    TermKind.STATE,
                    "recurrent state (f32)",
                    sum(per),
                    max(per),
                    "n_seq × Σ state layers (conv + recurrent state elements) × 4 B"
                    " (llama_memory_recurrent)",
                    {"seqs": seqs, "state_layers": arch.state_layers},
                    per_device=tuple(per),
                )
            )
            if host_state:
                terms.append(
                    Term(
                        TermKind.STATE,
                        "recurrent state of layers in host memory",
                        host_state,
                        0,
                        "the f32 state of recurrent layers left on the CPU",
                        {},
                        host=True,
                    )
                )
        if arch.windowed_layers and not swa_cells:
            terms[0] = replace(
                terms[0],
                inputs={**terms[0].inputs, "sliding_window": "not applied by llama.cpp here"},
            )
        return terms

    def _compute_terms(
        self, req: Request, lay: Layout, tensors: tuple[PlacedTensor, ...]
    ) -> list[Term]:
        """The scheduler's worst-case graph: a ubatch of prompt tokens over a full cache.

        llama.cpp measures this buffer rather than computing it; rigfit models its largest
        live tensors: the logits of the ubatch on the output device (plus the normed hidden
        state feeding them), or one layer's working set: q/k/v/attention output and the FFN
        intermediates in f32, the KQ mask, and without flash attention the f32 KQ scores of
        every head over the whole cache. When weights stay in host memory, the scheduler copies
        one of them at a time to the GPU for large batches (op offload), so the largest such
        tensor is added to the layer phase.
        """
        arch, n_dev = req.arch, req.system.n_devices
        a, h = arch.attention, arch.hidden_size
        ub = min(self.ubatch(req), req.ctx_tokens * req.seqs)
        full_cells, _ = self.cells(req)
        n_kv = full_cells * req.seqs  # the reservation uses a full cache
        fa = self.flash_attention(req)
        qkv, attn_out, ffn = arch.widest_qkv, arch.widest_attn_out, arch.widest_ffn
        # the widest mixer: attention's q/k/v and output, a recurrent layer's own (its spec's
        # working_width), or both side by side (Falcon-H1's hybrid layers)
        mixer = max(
            ((qkv + attn_out if kv else 0) + width for kv, width in arch.mixer_shapes),
            default=qkv + attn_out,
        )
        hidden_in = ub * h * F32_BYTES
        mask_f32 = n_kv * ub * F32_BYTES
        mask_fa = n_kv * ub * MASK_BYTES_FA
        attn_core = ub * mixer * F32_BYTES
        if not fa:
            attn_core += n_kv * ub * a.num_heads * F32_BYTES  # the KQ scores of every head
        attn = attn_core + (mask_fa if fa else mask_f32)
        ffn_bytes = ub * 2 * ffn * F32_BYTES  # gate and up outputs live together
        layer_phase = 2 * hidden_in + max(attn, ffn_bytes)
        host_largest = self._placement(req, tensors, lay).host_largest_bytes
        logits_phase = ub * (arch.vocab_size + h) * F32_BYTES
        per = [0] * n_dev
        for d in range(n_dev):
            if not any(x == d for x in lay.layer_device) and lay.output_device != d:
                continue
            val = layer_phase + host_largest
            if lay.output_device == d:
                val = max(val, logits_phase)
            per[d] = val
        if lay.output_device is None and n_dev:
            # The head stays in host memory, but for a batch the scheduler still runs its
            # matrix product on the first GPU (op offload), copying the head over: the logits
            # and that copy land in GPU0's compute buffer (so do the layers' with -ngl 0).
            head = max(
                (t.nbytes for t in tensors if _is_head(t)),
                default=0,
            )
            if not head:  # tied: the head is token_embd
                head = max(
                    (t.nbytes for t in tensors if t.kind is Kind.EMBEDDING and _is_token_embd(t)),
                    default=0,
                )
            per[0] = max(per[0], layer_phase + host_largest, logits_phase + head)
        host_compute = hidden_in + mask_f32
        copies = self.split(req).pipeline_copies
        formula = (
            "max(ubatch × (vocab + hidden) × 4 B on the output GPU, one layer's f32 working"
            " set + mask (+ KQ scores without flash attention) + largest host weight copied"
            " for the batch)"
        )
        host_formula = "ubatch × hidden × 4 B (embeddings) + the f32 KQ mask"
        if copies > 1:
            # Pipeline parallelism: the scheduler keeps n_copies copies of every graph input on
            # the CPU backend (the first GPU's host buffer) and of every tensor a GPU receives
            # from another backend in that GPU's buffer, each flagged input and output so that
            # the allocator keeps them all live through the graph (ggml-backend.cpp
            # ggml_backend_sched_split_graph, ggml at 16e0e0c3 l.1170-1213 and l.1278-1306,
            # unchanged at d99724f2; ggml-alloc.c never frees output tensors). The first GPU
            # receives the token embeddings (looked up on the CPU), the f32 mask and the
            # positions; the others the previous GPU's hidden state, the mask as the first GPU
            # cast it (f16 with flash attention) and the positions, the output GPU also the
            # output ids. Above the copies a layer's working set shows one more hidden-state
            # block (3 where the layer phase counts 2). Checked against llama.cpp #11200
            # (b4462, 2 × RTX 3090 Ti): 233.00 / 237.51 / 133.01 MiB, exactly.
            first = lay.layer_device[0]
            work = 3 * hidden_in + max(attn_core, ffn_bytes) + host_largest
            for d in range(n_dev):
                if not per[d]:
                    continue
                received = mask_f32 if d == first or not fa else mask_fa
                token_inputs = ub * I32_BYTES * (2 if d == lay.output_device else 1)
                val = copies * (hidden_in + received + token_inputs)
                if d == first and fa:
                    val += mask_fa  # the f16 cast the other GPUs copy from
                val += max(work, logits_phase) if d == lay.output_device else work
                per[d] = val
            # tokens, positions and output ids are int32 a token; the embeddings once
            host_compute = copies * (mask_f32 + 3 * ub * I32_BYTES) + hidden_in
            formula += (
                f"; pipeline parallelism: + {copies} copies of each input a GPU receives (hidden"
                " state or embeddings, the KQ mask, positions)"
            )
            host_formula = (
                f"ubatch × hidden × 4 B (embeddings) + {copies} copies of the f32 KQ mask and"
                " the token, position and output-id inputs (pipeline parallelism)"
            )
        if arch.per_layer_input:
            # Gemma 4's per-layer inputs: the table's rows for the ubatch are gathered on the
            # CPU (it stays in host memory) and sent to the first GPU, an f32 [L·P, ubatch]
            # block each side (src/models/gemma4.cpp build_inp_per_layer), in as many copies
            # as the scheduler keeps of what a GPU receives; rigfit has no logged buffer of an
            # E2B/E4B run to check this against
            ple_in = ub * arch.num_layers * arch.per_layer_input * F32_BYTES
            host_compute += ple_in
            head_of_layers = lay.layer_device[0]
            if head_of_layers is not None and per[head_of_layers]:
                per[head_of_layers] += copies * ple_in
        # A KV-shared layer (Gemma 4 E2B/E4B) on another device than the layer whose cache it
        # reads gets that layer's K and V views copied into its device, like any input a
        # device receives, `copies` times; each shared layer's views are tensors of their own
        # (the ggml scheduler, as above; a reviewer's run of the real scheduler showed 4 × the
        # source's K+V per such layer). Single-device plans have none.
        full_cells, swa_cells = self.cells(req)
        for x in arch.layers:
            src, home = x.kv_source, lay.layer_device[x.index]
            if src is None or home is None or home == lay.layer_device[src]:
                continue
            source = arch.layers[src]
            cells = (swa_cells or full_cells) if source.kind.windowed else full_cells
            row = req.kv_type.row_bytes(arch.attn(source).kv_elems_per_token())
            per[home] += copies * cells * req.seqs * row
        return [
            Term(
                TermKind.COMPUTE,
                "compute buffer",
                sum(per),
                max(per),
                formula,
                {
                    "ubatch": ub,
                    "kv_cells": n_kv,
                    "flash_attn": str(fa),
                    "host_weight_copy_bytes": host_largest,
                    "pipeline_copies": copies,
                },
                per_device=tuple(per),
            ),
            Term(
                TermKind.COMPUTE,
                "host compute buffer",
                host_compute,
                0,
                host_formula,
                {"ubatch": ub, "pipeline_copies": copies},
                host=True,
            ),
        ]

    def split(self, req: Request) -> Split:
        """Layers on the devices -ngl and --tensor-split give, run in order; the rest, and
        the experts --cpu-moe/--n-cpu-moe keep in RAM, run on the CPU."""
        lay = layout(req)
        s, n = req.engine, req.arch.num_layers
        host_experts = frozenset(
            i
            for i in range(n)
            if lay.layer_device[i] is not None and (s.cpu_moe or i < s.n_cpu_moe)
        )
        if req.arch.moe is None:
            host_experts = frozenset()
        # pipeline parallelism (PR #6017, March 2024: llama_decode splits a batch into -ub
        # micro-batches and returns before they finish) is on when the model has more than
        # one device, every layer and the output on them (-ngl > n_layer), -sm layer, the KV
        # cache offloaded and no tensor overrides, which --cpu-moe/--n-cpu-moe write
        # (llama-context.cpp, the pipeline_parallel condition; it also asks every device for
        # async compute and events, which CUDA/HIP and SYCL have, and Vulkan in current builds:
        # rigfit does not know the build a Vulkan build gained them in, so it does not gate it); the
        # scheduler then keeps GGML_SCHED_MAX_COPIES = 4 copies of the inputs
        # (ggml-backend.cpp), so up to four micro-batches are in flight, one device a stage
        pipelined = (
            behaviour(s.version).build >= PIPELINE_BUILD
            and req.system.n_devices > 1
            and None not in lay.layer_device
            and lay.output_device is not None
            and not (s.cpu_moe or s.n_cpu_moe)  # overrides are written even for dense models
        )
        return Split(
            SplitKind.LAYERS,
            lay.layer_device,
            lay.output_device,
            host_experts,
            pipeline_copies=SCHED_MAX_COPIES if pipelined else 1,
        )

    def default_ctx(self, req: Request) -> tuple[int, str]:
        from rigfit.estimate.plan import max_context

        n = req.arch.context_length
        fits = max_context(req, self)
        if fits >= n:
            return n, f"llama.cpp's default -c 0 is the model's trained context, {n:,} tokens"
        ctx = min(n, max(fits, FIT_MIN_CTX_TOKENS))
        return ctx, (
            f"llama.cpp's default -c 0 is the trained context ({n:,} tokens); its --fit (on by"
            f" default) lowers it to what fits, {FIT_MIN_CTX_TOKENS:,} at least: {ctx:,}"
        )

    def notes(self, req: Request) -> tuple[str, ...]:
        out = [f"llama.cpp accounting of build b{behaviour(req.engine.version).build}"]
        vendors = {g.vendor for g in req.system.devices}
        if len(vendors) > 1 and req.engine.backend is None:
            out.append(
                f"GPUs of {len(vendors)} vendors: one llama.cpp build runs them all, so its"
                f" {self.backend(req)} backend is priced (--backend names it)"
            )
        if req.arch.mixed_attention and req.engine.flash_attn is None:
            widest = max(a.head_dim for a in req.arch.attention_specs)
            out.append(
                "flash attention is taken as on (llama.cpp's -fa auto); a backend without"
                f" kernels for {widest}-wide heads turns it off, which pads every layer's V"
                " row to the widest and adds the f32 KQ scores: --flash-attn off prices that"
            )
        since, what = since_build(req.arch)
        if req.engine.version is None and since > REFERENCE_BUILD:
            out.append(
                f"{what} loads from llama.cpp b{since}; its cache and buffers are priced by"
                f" b{REFERENCE_BUILD}'s rules, which that build keeps for its cache kinds"
            )
        if req.arch.moe is not None and req.arch.moe.latent_size:
            out.append(
                "llama.cpp's latent experts were added for Nemotron 3 Super (PR #20411); rigfit"
                " found no published llama.cpp run of another latent-MoE model (Nemotron 3"
                " Ultra), so loading one there is unverified"
            )
        if req.system.n_devices > 1 and req.arch.kv_shared_layers:
            out.append(
                "llama.cpp builds from b8637 (the first to load Gemma 4) until PR #22789 (August"
                " 2026) stop on load when a model with KV-shared layers spans several GPUs"
                " (GGML_ASSERT(n_inputs < GGML_SCHED_MAX_SPLIT_INPUTS), issues #21730, #24132,"
                " #24657); on later builds each shared layer away from its source layer holds"
                " copies of that layer's cache, priced here: one GPU is cheaper"
            )
        if req.seqs > 1:
            out.append(
                f"llama-server -c is the total over slots: -c {req.ctx_tokens * req.seqs}"
                f" -np {req.seqs} gives each of {req.seqs} sequences {req.ctx_tokens:,} tokens"
            )
        return tuple(out)

    # ---- command line -----------------------------------------------------------------------

    def command(self, req: Request, model_ref: str) -> str:
        s = req.engine
        parts = ["llama-server", "-m", model_ref, "-c", str(req.ctx_tokens * req.seqs)]
        if req.pooling:
            parts.append("--embedding")
        if req.seqs > 1:
            parts += ["-np", str(req.seqs)]
        parts += ["-ngl", "999" if s.ngl is None else str(s.ngl)]
        if req.kv_type is not KVCacheType.F16:
            parts += ["-ctk", req.kv_type.flag, "-ctv", req.kv_type.flag]
        if s.flash_attn is not None:
            parts += ["-fa", "on" if s.flash_attn else "off"]
        if s.tensor_split is not None:
            parts += ["--tensor-split", ",".join(f"{x:g}" for x in s.tensor_split)]
        if s.cpu_moe:
            parts.append("--cpu-moe")
        elif s.n_cpu_moe:
            parts += ["--n-cpu-moe", str(s.n_cpu_moe)]
        if s.n_ubatch is not None:
            parts += ["-ub", str(s.n_ubatch)]
        if s.swa_full:
            parts.append("--swa-full")
        if req.arch.vision is not None:
            parts += ["--mmproj", "mmproj-F16.gguf"]
        return " ".join(parts)


LLAMACPP = LlamaCpp()
