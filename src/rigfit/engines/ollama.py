"""Ollama: llama.cpp's accounting with Ollama's defaults, its reserve and its own layer offload.

Reference: Ollama v0.24.0 (2026-05-14), from its source (envconfig/config.go, api/types.go
``DefaultOptions``, server/routes.go default context, server/sched.go, llm/server.go
``NewLlamaServer`` / ``buildLayout`` / ``assignLayers``, ml/device.go ``MinimumMemory``,
fs/ggml/ggml.go ``FlashAttention`` / ``SupportsFlashAttention`` / ``SupportsKVCacheType`` /
``OllamaEngineRequired``, kvcache/causal.go, llama/llama.go ``NewContextParams``). It vendors
llama.cpp ec98e2002, whose memory rules :mod:`rigfit.engines.llamacpp` replays.

* Context: ``num_ctx`` (``OLLAMA_CONTEXT_LENGTH``; unset, 4096 / 32768 / 262144 tokens by total
  VRAM below 23 GiB / below 47 GiB / above), capped at the model's training context; the KV
  cache holds ``num_ctx × OLLAMA_NUM_PARALLEL`` (default 1) tokens; ``num_batch`` 512.
* Two runners: models Ollama's own Go engine requires (Qwen3, Gemma 3, gpt-oss, DeepSeek-V2/3,
  Qwen3-Next ...) and llama.cpp's runner for the rest (Llama, Mistral, Qwen2, Phi-3, Gemma 2
  ...). The llama.cpp runner takes the library's defaults, so sliding-window layers keep a
  full-size cache (``swa_full``); Ollama's engine keeps window + batch cells.
* Flash attention: on by default for the models ``FlashAttention()`` lists, llama.cpp's
  "auto" for the runner's models, never for Gemma 2 or MLA models; ``OLLAMA_KV_CACHE_TYPE``
  q8_0/q4_0 needs it (and for the runner ``OLLAMA_FLASH_ATTENTION=1`` explicitly), else
  Ollama falls back to f16.
* Offload: Ollama picks ``num_gpu`` itself, the most layers (the output layer counted as the
  last one) that fit on the fewest GPUs after keeping 457 MiB (CUDA/ROCm) or 512 MiB (Metal)
  plus ``OLLAMA_GPU_OVERHEAD`` (0) and the compute graph free on each GPU.

A plan fits when Ollama puts every layer on the GPUs; when it would split the model with the
CPU, the estimate prices the full offload (which does not fit) and the notes give the split.
"""

from __future__ import annotations

from dataclasses import replace

from rigfit.arch import LayerKind
from rigfit.engines.checks import refuse_mixed_attention
from rigfit.engines.llamacpp import LLAMACPP, refuse_non_gguf
from rigfit.errors import InvalidSpecError, UnsupportedArchitectureError
from rigfit.estimate.memory import ProfileBase, Request, Term, refuse_pooling
from rigfit.estimate.split import Split
from rigfit.estimate.terms import TermKind
from rigfit.families import OllamaFlashAttn, family
from rigfit.quant import LLAMA_QUANT_BUILD, KVCacheType
from rigfit.units import GIB, MIB, fmt_bytes

__all__ = ["OLLAMA", "Ollama", "default_num_ctx"]

REFERENCE_VERSION = "v0.24.0"
# Ollama v0.24.0 vendors llama.cpp ec98e2002 (Makefile.sync FETCH_HEAD, llama/build-info.cpp),
# a December 2025 commit after PR #17046 (n_ctx padded to 256, ~b6950) and before PR #19067
# (V-less MLA cache, b7832): the revision rigfit's quantizer replay follows, build b7437
LLAMACPP_BUILD = f"b{LLAMA_QUANT_BUILD}"
# server/routes.go (v0.24.0 l.1900-1913): the default num_ctx by total VRAM (Σ total memory −
# OLLAMA_GPU_OVERHEAD), "slightly lower thresholds (47/23 GiB vs. 48/24 GiB)"
CTX_TIERS = ((47 * GIB, 262144), (23 * GIB, 32768))
CTX_SMALL = 4096
NUM_BATCH = 512  # api/types.go DefaultOptions NumBatch: 512 (the runner's n_ubatch)
NUM_PARALLEL_DEFAULT = 1  # envconfig NumParallel = Uint("OLLAMA_NUM_PARALLEL", 1) (PR #11330)
GPU_OVERHEAD_BYTES = 0  # envconfig GpuOverhead = Uint64("OLLAMA_GPU_OVERHEAD", 0)
# ml/device.go MinimumMemory: "set aside on the device for overhead (e.g. VRAM consumed by
# context structures independent of model allocations)": 512 MiB on Metal, 457 MiB otherwise
MIN_MEMORY_BYTES = 457 * MIB
MIN_MEMORY_METAL_BYTES = 512 * MIB
# fs/ggml/ggml.go SupportsKVCacheType: "", "f16", "q8_0", "q4_0"
SUPPORTED_KV = (KVCacheType.F16, KVCacheType.Q8_0, KVCacheType.Q4_0)
# rigfit model_type -> the GGUF general.architecture Ollama sees (llama.cpp convert_hf_to_gguf)
# Which architectures Ollama's Go engine runs, and its flash attention per architecture:
# rigfit.families (ollama_arch, ollama_engine, ollama_flash_attn)


def default_num_ctx(capacities: tuple[int, ...]) -> int:
    """Ollama's num_ctx when neither OLLAMA_CONTEXT_LENGTH nor the request sets one.

    >>> default_num_ctx((24 * 1024**3,)), default_num_ctx((80 * 1024**3,))
    (32768, 262144)
    """
    total = sum(c - GPU_OVERHEAD_BYTES for c in capacities)
    for bound, ctx in CTX_TIERS:
        if total >= bound:
            return ctx
    return CTX_SMALL


class Ollama(ProfileBase):
    """Ollama: its own choices (context, layers, GPUs, flash attention, reserve) around the
    llama.cpp plan its runner makes, which the llama.cpp profile prices."""

    name = "ollama"
    description = (
        "Ollama on llama.cpp: num_ctx × OLLAMA_NUM_PARALLEL cells, flash attention and KV type"
        " by model, 457 MiB (Metal 512 MiB) kept free per GPU, num_gpu chosen as the most"
        " layers that fit on the fewest GPUs"
    )
    reference_version = REFERENCE_VERSION

    # ---- Ollama's choices -------------------------------------------------------------------

    @staticmethod
    def gguf_arch(req: Request) -> str:
        return family(req.arch.model_type).ollama_arch

    def ollama_engine(self, req: Request) -> bool:
        """Whether Ollama runs this model on its own Go engine (else llama.cpp's runner)."""
        return family(req.arch.model_type).ollama_engine

    def kernels(self, req: Request) -> str:
        # Ollama runs llama.cpp's kernels for both of its runners, on the vendor's own backend
        # by default; its opt-in Vulkan runner is not priced apart
        return "llama.cpp"

    def flash_attention(self, req: Request) -> bool:
        fa = family(req.arch.model_type).ollama_flash_attn
        if fa is OllamaFlashAttn.NEVER:
            return False
        if req.engine.flash_attn is not None:
            return req.engine.flash_attn
        if self.ollama_engine(req):
            return fa is OllamaFlashAttn.DEFAULT_ON
        # llama.cpp runner: FlashAttentionAuto, on where the device supports it (ec98)
        return True

    def min_memory(self, req: Request) -> int:
        base = MIN_MEMORY_METAL_BYTES if req.system.gpu.unified_memory else MIN_MEMORY_BYTES
        return base + GPU_OVERHEAD_BYTES

    def check(self, req: Request) -> None:
        self._check_ollama(req)

    def default_ctx(self, req: Request) -> tuple[int, str]:
        ctx = min(default_num_ctx(req.system.capacities_bytes), req.arch.context_length)
        vram = fmt_bytes(sum(req.system.capacities_bytes), "GiB")
        return ctx, (
            f"Ollama's default num_ctx for {vram} of VRAM is {ctx:,} tokens (capped at the"
            " model's maximum)"
        )

    def _check_ollama(self, req: Request) -> None:
        refuse_pooling(req, "Ollama")
        refused = family(req.arch.model_type).llamacpp_refused
        if refused:
            raise UnsupportedArchitectureError(
                f"{refused}; Ollama wraps llama.cpp: use --engine vllm or sglang"
            )
        if any(x.kind is LayerKind.CHUNKED for x in req.arch.layers):
            raise UnsupportedArchitectureError(
                "rigfit does not yet replay the chunked-attention cache of Ollama's own engine"
                " for Llama 4; use --engine llama.cpp"
            )
        if self.ollama_engine(req):
            refuse_mixed_attention(req, "Ollama's own engine", "its per-layer caches")
        if req.arch.mamba is not None and self.ollama_engine(req):
            raise UnsupportedArchitectureError(
                "rigfit does not yet replay the Mamba cache of Ollama's own engine (Nemotron-H);"
                " use --engine llama.cpp"
            )
        if req.arch.attention.indexer is not None:
            raise UnsupportedArchitectureError(
                f"Ollama does not list {family(req.arch.model_type).gguf_arch} (DeepSeek sparse"
                " attention) among its engine's"
                " architectures; use --engine llama.cpp"
            )
        refuse_non_gguf(req, "Ollama")
        s = req.engine
        if req.kv_type not in SUPPORTED_KV:
            raise InvalidSpecError(
                f"Ollama has no {req.kv_type.flag} KV cache (allowed: "
                + ", ".join(k.flag for k in SUPPORTED_KV)
                + " as OLLAMA_KV_CACHE_TYPE)"
            )
        if req.kv_type is not KVCacheType.F16 and not self.flash_attention(req):
            why = (
                f"Ollama never enables flash attention for {self.gguf_arch(req)}"
                if family(req.arch.model_type).ollama_flash_attn is OllamaFlashAttn.NEVER
                or (self.ollama_engine(req) and s.flash_attn is None)
                else "flash attention is off"
            )
            raise InvalidSpecError(
                f"{why}, so Ollama keeps an f16 KV cache instead of {req.kv_type.flag}"
                " (use --kv-type f16)"
            )
        if s.tensor_split is not None or s.cpu_moe or s.n_cpu_moe:
            raise InvalidSpecError(
                "Ollama places layers itself: --tensor-split and --cpu-moe are llama.cpp"
                " options (use --engine llama.cpp)"
            )
        if (s.tp or 1) > 1 or s.pp > 1:
            raise InvalidSpecError(
                "Ollama splits layers over GPUs, it has no tensor parallelism; drop --tp/--pp"
            )
        if s.version is not None and not s.version.strip().lstrip("v").startswith("0."):
            raise InvalidSpecError(
                f"Ollama version {s.version!r} is not like v0.24.0 (rigfit replays v0.24.0)"
            )
        if s.version is not None and s.version.strip().lstrip("v") != REFERENCE_VERSION[1:]:
            # its accounting (the vendored llama.cpp, the runner choice, num_ctx tiers) is
            # replayed for one release only; another would be priced as that one under its name
            raise InvalidSpecError(
                f"rigfit replays Ollama {REFERENCE_VERSION}'s accounting, not {s.version}"
                f" (allowed: {REFERENCE_VERSION})"
            )

    def _inner(self, req: Request, ngl: int | None, gpus: int) -> Request:
        """The llama.cpp request Ollama's runner makes: build, ubatch, FA, layers, GPUs."""
        n = req.system.n_devices
        caps = req.system.capacities_bytes
        split = tuple(float(caps[i]) if i < gpus else 0.0 for i in range(n))
        engine = replace(
            req.engine,
            version=LLAMACPP_BUILD,
            ngl=ngl,
            flash_attn=self.flash_attention(req),
            n_ubatch=min(NUM_BATCH, req.ctx_tokens),
            tensor_split=split if n > 1 else None,
            # llama_context_default_params() has swa_full = true and llama.cpp's runner keeps
            # it; Ollama's own engine keeps window + batch cells
            swa_full=not self.ollama_engine(req),
        )
        return replace(req, engine=engine)

    def _device_bytes(self, req: Request, inner: Request) -> tuple[int, ...]:
        terms = LLAMACPP.terms(inner)
        n = req.system.n_devices
        used = [
            any(t.on_device(i) for t in terms if t.key in ("weights", "kv_cache")) or i == 0
            for i in range(n)
        ]
        return tuple(
            sum(t.on_device(i) for t in terms if t.key != "reserve")
            + (self.min_memory(req) if used[i] else 0)
            for i in range(n)
        )

    def _fits(self, req: Request, inner: Request) -> bool:
        caps = req.system.capacities_bytes
        return all(b <= c for b, c in zip(self._device_bytes(req, inner), caps, strict=True))

    def plan(self, req: Request) -> tuple[int, int]:
        """(num_gpu, GPUs used): a given num_gpu on every GPU, else Ollama's search: the
        fewest GPUs that hold every layer, or the most layers all of them hold."""
        n_layers = req.arch.num_layers
        n_dev = req.system.n_devices
        if req.engine.ngl is not None:
            return req.engine.ngl, n_dev
        best = (0, n_dev)
        for gpus in range(1, n_dev + 1):
            lo, hi = 0, n_layers + 1  # the output layer counts as layer n_layers + 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self._fits(req, self._inner(req, mid, gpus)):
                    lo = mid
                else:
                    hi = mid - 1
            if lo == n_layers + 1:
                return lo, gpus
            if lo > best[0]:
                best = (lo, gpus)
        return best

    def placement(self, req: Request) -> tuple[int, int]:
        """The (num_gpu, GPUs) the terms price: Ollama's own choice when every layer fits;
        when it would split the model with the CPU, every layer on every GPU, so that the
        estimate says it does not fit (the split Ollama would run is in the notes, and a
        given num_gpu prices it)."""
        ngl, gpus = self.plan(req)
        full = req.arch.num_layers + 1
        if req.engine.ngl is None and ngl < full:
            return full, req.system.n_devices
        return ngl, gpus

    def split(self, req: Request) -> Split:
        """The llama.cpp runner's split at the num_gpu the terms price. Ollama's own Go engine
        builds its scheduler without pipeline parallelism in the versions rigfit prices
        (ml/backend/ggml/ggml.go: ggml_backend_sched_new_ext(..., parallel false, ...); earlier
        ones passed it for several GPUs holding the output, which is not modelled), so its
        prompts run through the GPUs one micro-batch at a time."""
        ngl, gpus = self.placement(req)
        split = LLAMACPP.split(self._inner(req, ngl, gpus))
        if self.ollama_engine(req):
            return replace(split, pipeline_copies=1)
        return split

    # ---- the profile ------------------------------------------------------------------------

    def terms(self, req: Request) -> list[Term]:
        self._check_ollama(req)
        ngl, gpus = self.placement(req)
        inner = self._inner(req, ngl, gpus)
        terms = [t for t in LLAMACPP.terms(inner) if t.key != "reserve"]
        n = req.system.n_devices
        used = [
            any(t.on_device(i) for t in terms if t.key in ("weights", "kv_cache")) or i == 0
            for i in range(n)
        ]
        per = tuple(self.min_memory(req) if used[i] else 0 for i in range(n))
        terms.append(
            Term(
                TermKind.RESERVE,
                "kept free (Ollama's minimum memory)",
                sum(per),
                max(per),
                "457 MiB per GPU used (512 MiB on Metal) + OLLAMA_GPU_OVERHEAD (0)",
                {"per_gpu_bytes": self.min_memory(req), "num_gpu": ngl, "gpus_used": gpus},
                per_device=per,
            )
        )
        return terms

    def notes(self, req: Request) -> tuple[str, ...]:
        self._check_ollama(req)
        ngl, gpus = self.plan(req)
        n = req.arch.num_layers + 1
        runner = "Ollama's engine" if self.ollama_engine(req) else "llama.cpp's runner"
        fa = "on" if self.flash_attention(req) else "off"
        out = [
            f"Ollama {REFERENCE_VERSION} runs {self.gguf_arch(req)} on {runner} (llama.cpp"
            f" ec98e2002), flash attention {fa}; num_gpu {min(ngl, n)}/{n} on {gpus} GPU(s)",
        ]
        if ngl < n and req.engine.ngl is None:
            out.append(
                f"only {ngl} of {n} layers fit on the GPUs: Ollama would run the rest on the"
                f" CPU (slower); rigfit prices all {n} on the GPUs, which does not fit (set"
                f" num_gpu {ngl} to price Ollama's split)"
            )
        elif ngl < n:
            out.append(f"num_gpu {ngl}: {n - ngl} of {n} layers run on the CPU (slower)")
        # Ollama lowers a num_ctx above the model's trained context to it ("requested context
        # size too large for model", llm/server.go)
        default = min(default_num_ctx(req.system.capacities_bytes), req.arch.context_length)
        if default != req.ctx_tokens:
            out.append(
                f"without OLLAMA_CONTEXT_LENGTH Ollama would use num_ctx {default:,} on this"
                f" much VRAM; the command sets {req.ctx_tokens:,}"
            )
        if req.engine.ngl is not None:
            out.append(f"num_gpu {req.engine.ngl} is set with PARAMETER num_gpu in a Modelfile")
        if req.seqs > 1 and self.ollama_engine(req):
            out.append(
                "Ollama's engine pads the whole num_ctx × parallel cache to 256 once; rigfit"
                " pads each sequence (llama.cpp's runner rule), a difference under 256 cells"
            )
        return tuple(out)

    def command(self, req: Request, model_ref: str) -> str:
        env = [f"OLLAMA_CONTEXT_LENGTH={req.ctx_tokens}"]
        if req.seqs != NUM_PARALLEL_DEFAULT:
            env.append(f"OLLAMA_NUM_PARALLEL={req.seqs}")
        if req.kv_type is not KVCacheType.F16 or req.engine.flash_attn is True:
            env.append("OLLAMA_FLASH_ATTENTION=1")
        elif req.engine.flash_attn is False:
            env.append("OLLAMA_FLASH_ATTENTION=0")
        if req.kv_type is not KVCacheType.F16:
            env.append(f"OLLAMA_KV_CACHE_TYPE={req.kv_type.flag}")
        if model_ref.endswith(".gguf"):
            # a local GGUF file enters Ollama through a Modelfile (docs/modelfile.md: FROM)
            name = model_ref.rsplit("/", 1)[-1].removesuffix(".gguf").lower()
            return (
                " ".join(env)
                + f" ollama serve & printf 'FROM ./{model_ref}\\n' > Modelfile"
                + f" && ollama create {name} -f Modelfile && ollama run {name}"
            )
        return " ".join(env) + f" ollama serve & ollama run {model_ref}"


OLLAMA = Ollama()
