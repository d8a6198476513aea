"""One record per ``model_type``: what each engine and file format does differently for it.

The quirks of model families used to live as string sets in the engines and the GGUF code;
each is now a field of the family's :class:`Family`, with the source it comes from, so adding a
family is one record here (and its config reader in :mod:`rigfit.arch`).
"""

from __future__ import annotations

from enum import StrEnum

from rigfit.errors import UnsupportedArchitectureError
from rigfit.frozen import frozen

__all__ = ["FAMILIES", "Family", "MLXRouter", "OllamaFlashAttn", "family"]


class MLXRouter(StrEnum):
    """How mlx-lm stores a MoE router when it quantizes a model."""

    # quantized like every Linear (the default predicate)
    QUANTIZED = "quantized"
    # qwen3_moe.py / gpt_oss.py quant_predicate: the router at 8 bits, group 64
    EIGHT_BIT = "8-bit"
    # deepseek_v2.py MoEGate holds a bare weight (no to_quantized): it stays 16-bit
    FLOAT = "16-bit"


class OllamaFlashAttn(StrEnum):
    """Ollama v0.24.0's flash attention for a GGUF architecture (fs/ggml/ggml.go)."""

    # FlashAttention(): on by default for these (l.890-907)
    DEFAULT_ON = "on by default"
    # SupportsFlashAttention: never gemma2 (l.868-887); MLA's K (576) and V (512) lengths differ
    NEVER = "never"
    # as OLLAMA_FLASH_ATTENTION says
    SETTING = "as set"


@frozen
class Family:
    """What differs for one Hugging Face ``model_type``."""

    model_type: str
    # llama.cpp's LLM_ARCH name, GGUF's general.architecture (convert_hf_to_gguf.py): Mistral
    # and Mixtral convert to "llama", Kimi-K2 and DeepSeek-V3 to "deepseek2"
    gguf_arch: str
    # the name Ollama's Go code knows the architecture by (it spells gpt-oss "gptoss")
    ollama_arch: str
    # llama.cpp caches sliding-window layers over the window only (llama_kv_cache_iswa;
    # hparams.swa_type set in llama-model.cpp load_hparams). Mistral, Mixtral and Qwen2 GGUFs
    # load as archs without SWA and Phi-3's is disabled ("Phi SWA is currently disabled").
    llamacpp_window_cache: bool = False
    # mlx-lm's make_cache gives sliding layers a RotatingKVCache (gemma3_text.py l.247-257,
    # gpt_oss.py l.313-320); it runs Mistral, Qwen2 and Gemma 2 windows as full attention
    mlx_rotating_cache: bool = False
    mlx_router: MLXRouter = MLXRouter.QUANTIZED
    # fs/ggml/ggml.go OllamaEngineRequired (v0.24.0 l.277-302): Ollama's Go engine runs it
    ollama_engine: bool = False
    ollama_flash_attn: OllamaFlashAttn = OllamaFlashAttn.SETTING
    # convert_hf_to_gguf.py writes Phi-3's fused qkv_proj as one attn_qkv tensor
    gguf_fused_qkv: bool = False
    # convert_hf_to_gguf.py repacks gpt-oss's MXFP4 expert blocks as GGML MXFP4 whatever
    # --outtype says
    gguf_mxfp4_experts: bool = False
    # why rigfit does not price this family under llama.cpp and Ollama ("" = it does); each
    # engine adds where to go instead
    llamacpp_refused: str = ""
    # the first llama.cpp release that loads the architecture (0: older than any build rigfit
    # replays); an older --engine-version is refused
    llamacpp_since_build: int = 0
    # the first transformers release with the modeling file, where it is after the 4.x
    # releases rigfit replays ("" = a 4.x release has it)
    transformers_since: str = ""
    # the first vLLM and SGLang releases that load the family ((0, 0, 0): older than any
    # release rigfit replays); an older --engine-version is refused, and the default (the
    # replayed release) carries a note
    vllm_since: tuple[int, int, int] = (0, 0, 0)
    sglang_since: tuple[int, int, int] = (0, 0, 0)
    # why rigfit does not price this family under transformers (and so not its training)
    transformers_refused: str = ""
    # transformers ships no configuration class for the model_type: config.json's auto_map
    # names one inside the checkpoint, so vLLM and SGLang load it with --trust-remote-code
    remote_code: bool = False


def _f(model_type: str, gguf: str, ollama: str | None = None, **kw: object) -> Family:
    return Family(model_type, gguf, ollama or gguf, **kw)  # type: ignore[arg-type]


_ON, _NEVER = OllamaFlashAttn.DEFAULT_ON, OllamaFlashAttn.NEVER
FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        _f("llama", "llama"),
        _f("mistral", "llama"),
        _f("mixtral", "llama"),
        _f("granite", "granite"),
        _f("qwen2", "qwen2"),
        _f("qwen3", "qwen3", ollama_engine=True, ollama_flash_attn=_ON),
        _f(
            "qwen3_moe",
            "qwen3moe",
            mlx_router=MLXRouter.EIGHT_BIT,
            ollama_engine=True,
            ollama_flash_attn=_ON,
        ),
        _f("qwen3_next", "qwen3next", ollama_engine=True, ollama_flash_attn=_ON),
        _f("phi3", "phi3", gguf_fused_qkv=True),
        _f("gemma2", "gemma2", llamacpp_window_cache=True, ollama_flash_attn=_NEVER),
        *(
            _f(
                mt,
                "gemma3",
                llamacpp_window_cache=True,
                mlx_rotating_cache=True,
                ollama_engine=True,
                ollama_flash_attn=_ON,
            )
            for mt in ("gemma3", "gemma3_text")
        ),
        *(
            _f(
                mt,
                "deepseek2",
                mlx_router=MLXRouter.FLOAT,
                ollama_engine=True,
                ollama_flash_attn=_NEVER,
            )
            for mt in ("deepseek_v2", "deepseek_v3", "kimi_k2")
        ),
        _f(
            "gpt_oss",
            "gpt-oss",
            "gptoss",
            llamacpp_window_cache=True,
            mlx_rotating_cache=True,
            mlx_router=MLXRouter.EIGHT_BIT,
            ollama_engine=True,
            ollama_flash_attn=_ON,
            gguf_mxfp4_experts=True,
        ),
        _f("glm4_moe", "glm4moe"),
        # Llama 4: llama.cpp caches the chunked layers in its iSWA cache (LLAMA_SWA_TYPE_CHUNKED,
        # src/models/llama4.cpp); Ollama v0.33 runs "llama4" on its own engine (fs/ggml/ggml.go
        # OllamaEngineRequired l.278-303), not among its flash-attention defaults (l.938-955)
        *(
            _f(mt, "llama4", llamacpp_window_cache=True, ollama_engine=True)
            for mt in ("llama4", "llama4_text")
        ),
        # llama.cpp's LLM_ARCH names (src/llama-arch.cpp): "minimax-m2", "deepseek32"
        _f("minimax_m2", "minimax-m2"),
        _f("deepseek_v32", "deepseek32", ollama_flash_attn=_NEVER),
        # GLM-5/5.1: llama.cpp LLM_ARCH_GLM_DSA "glm-dsa" (src/llama-arch.cpp), DeepSeek-V3.2's
        # MLA and indexer under another name
        _f(
            "glm_moe_dsa",
            "glm-dsa",
            ollama_flash_attn=_NEVER,
            llamacpp_refused="llama.cpp builds differ on GLM-5's cache: glm-dsa first ran"
            " DeepSeek2's dense-MLA graph with the plain MLA cache, later builds also keep the"
            " indexer's key cache (llama_kv_cache_dsa), and rigfit has not pinned the build"
            " where it changed",
        ),
        # Mamba2 hybrids (llama.cpp src/llama-arch.cpp: nemotron_h, granitehybrid, falcon-h1);
        # Ollama v0.33 runs "nemotron_h" on its own engine with flash attention by default
        # (fs/ggml/ggml.go l.278-303, l.938-955), the other two on its llama.cpp runner
        _f("nemotron_h", "nemotron_h", ollama_engine=True, ollama_flash_attn=_ON),
        _f("granitemoehybrid", "granitehybrid"),
        # Llama-Nemotron (DeciLMForCausalLM, model_type "nemotron-nas"): Llama blocks whose
        # attention may be absent and whose MLP width varies per layer (block_configs);
        # convert_hf_to_gguf DeciModel writes it as LLM_ARCH_DECI ("deci") with per-layer
        # head counts and feed-forward lengths
        _f(
            "nemotron-nas",
            "deci",
            remote_code=True,
            transformers_refused="DeciLM's remote code (modeling_decilm.py) caches in its own"
            " VariableCache, which rigfit does not replay",
        ),
        # Qwen3-VL: llama.cpp "qwen3vl"/"qwen3vlmoe" (text GGUF + mmproj); Ollama v0.33 runs
        # both on its own engine with flash attention on by default (fs/ggml/ggml.go)
        _f("qwen3_vl", "qwen3vl", ollama_engine=True, ollama_flash_attn=_ON),
        _f("qwen3_vl_moe", "qwen3vlmoe", ollama_engine=True, ollama_flash_attn=_ON),
        # Qwen3.5/3.6: llama.cpp "qwen35"/"qwen35moe" (vision in mmproj); Ollama v0.33 runs both
        # on its own engine, flash attention on by default (fs/ggml/ggml.go)
        _f("qwen3_5", "qwen35", ollama_engine=True, ollama_flash_attn=_ON),
        _f("qwen3_5_moe", "qwen35moe", ollama_engine=True, ollama_flash_attn=_ON),
        _f("falcon_h1", "falcon-h1"),
        # OLMo 3 (Olmo3ForCausalLM): post-norm blocks, q/k norms over all heads, 3 sliding
        # layers to 1 global. llama.cpp converts it as "olmo2" and, given a sliding window,
        # runs LLAMA_SWA_TYPE_STANDARD with pattern 4 (llama-model.cpp load_hparams
        # LLM_ARCH_OLMO2); Ollama v0.33 runs "olmo3" on its own engine with flash attention
        # by default (fs/ggml/ggml.go OllamaEngineRequired, FlashAttention); mlx-lm's
        # olmo3.py gives sliding layers a RotatingKVCache
        _f(
            "olmo3",
            "olmo2",
            "olmo3",
            llamacpp_window_cache=True,
            mlx_rotating_cache=True,
            ollama_engine=True,
            ollama_flash_attn=_ON,
        ),
        # OLMo 2 (Olmo2ForCausalLM) has OLMo 3's blocks without a window; a GGUF that
        # llama.cpp's converter wrote (general.architecture "olmo2", OLMo 3's too) is read as
        # this family: Ollama runs "olmo2" files on its llama.cpp runner, not its own engine
        _f("olmo2", "olmo2", llamacpp_window_cache=True),
        # EXAONE 4.0 (Exaone4ForCausalLM): post-norm blocks, per-head q/k norms, "LLLG"
        # (3 sliding, 1 global NoPE). llama.cpp LLM_ARCH_EXAONE4 sets LLAMA_SWA_TYPE_STANDARD,
        # n_swa 4096, pattern 4 for the 64-layer 32B; mlx-lm's exaone4.py keeps local layers
        # in a RotatingKVCache; Ollama runs it on its llama.cpp runner
        _f("exaone4", "exaone4", llamacpp_window_cache=True, mlx_rotating_cache=True),
        # Ministral 3 / Devstral 2 text models (Ministral3ForCausalLM): Mistral's dense block
        # with a weightless llama-4 style query scaling; llama.cpp LLM_ARCH_MISTRAL3
        # "mistral3", which Ollama v0.33 runs on its own engine with flash attention on by
        # default (fs/ggml/ggml.go OllamaEngineRequired, FlashAttention)
        # (also inside Mistral3ForConditionalGeneration with a Pixtral tower: Ministral 3,
        # Devstral Small 2). transformers has Ministral3 from its 5.0 release candidates only
        # (PR #42498, December 2025: docs v5.0.0rc1 model_doc/ministral3; the official
        # configs name transformers 5.0.0.dev0). llama.cpp: "model: support Ministral3
        # (#17644)", merge commit cd3c1189 of 2025-12-01, the 7,216th commit on master (a
        # build's number counts them); vLLM: 0.12.0's notes, "Mistral Large 3 and Ministral 3
        # (#29757)" (0.11.0 pins transformers 4.x, which has no ministral3 config); SGLang:
        # "ministral3 (#14251)", first tagged in v0.5.6.post1 (it pins transformers 5.0.0rc0;
        # 0.5.6.post2 to 0.5.9 went back to 4.57.1 and fail with KeyError 'ministral3',
        # sgl-project/sglang#18819; 0.5.10 pins transformers 5.3.0: rigfit reads versions
        # without their .post part, so it asks for 0.5.10)
        _f(
            "ministral3",
            "mistral3",
            ollama_engine=True,
            ollama_flash_attn=_ON,
            llamacpp_since_build=7216,
            transformers_since="5.0.0",
            vllm_since=(0, 12, 0),
            sglang_since=(0, 5, 10),
        ),
        # Mistral Small 3.1/3.2 with their Pixtral tower (Mistral3ForConditionalGeneration,
        # model_type "mistral3" around a "mistral" text model; transformers from 4.50):
        # llama.cpp's converter writes the text model as LLM_ARCH_MISTRAL3 and the tower as a
        # Pixtral mmproj (conversion/mistral3.py, ggml-org/llama.cpp @32e9e044); GGUFs converted
        # before it (2025) say "llama", which loads the same tensors and cache but runs on
        # Ollama's llama.cpp runner; Ollama's own library model runs "mistral3" on its engine
        _f("mistral3", "mistral3", ollama_engine=True, ollama_flash_attn=_ON),
        # Gemma 4 (Gemma4ForConditionalGeneration): llama.cpp "gemma4" from b8637 (PR #21309,
        # "b8637 is now released with Gemma 4 support", unslothai/unsloth PR #4796), an iSWA
        # cache (src/models/gemma4-iswa.cpp); transformers from 5.5.0 (the release the
        # official configs name); Ollama runs it on its own engine with flash attention by
        # default (fs/ggml/ggml.go l.285, l.942 at fb307609)
        *(
            _f(
                mt,
                "gemma4",
                llamacpp_window_cache=True,
                ollama_engine=True,
                ollama_flash_attn=_ON,
                llamacpp_since_build=8637,
                transformers_since="5.5.0",
            )
            for mt in ("gemma4", "gemma4_text")
        ),
    )
}


def family(model_type: str) -> Family:
    """The record of a supported ``model_type``; others fail closed, naming the supported."""
    f = FAMILIES.get(model_type)
    if f is None:
        raise UnsupportedArchitectureError(
            f"model_type {model_type!r} is not supported (supported: "
            + ", ".join(sorted(FAMILIES))
            + ")"
        )
    return f
