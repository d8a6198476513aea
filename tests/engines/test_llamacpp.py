"""llama.cpp's accounting, checked against figures derived by hand from each config."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rigfit.api import make_request
from rigfit.engines.llamacpp import LLAMACPP, behaviour, build_number, layout
from rigfit.errors import InvalidSpecError
from rigfit.estimate.memory import Estimate, Request, estimate
from rigfit.estimate.settings import EngineSettings
from rigfit.estimate.weights import Kind, PlacedTensor

LLAMA8B = "meta-llama/Llama-3.1-8B-Instruct"  # 32 layers, 8 KV heads of 128, vocab 128256
DSV3 = "deepseek-ai/DeepSeek-V3"  # 61 layers, 128 heads, MLA latent 512 + rope 64


def _req(
    model: str,
    *,
    gpus: int = 1,
    quant: str = "F16",
    ctx: int = 4096,
    kv: str = "f16",
    seqs: int = 1,
    **settings: object,
) -> Request:
    _, req = make_request(model, "rtx-4090", gpus=gpus, quant=quant, ctx=ctx, kv_type=kv, seqs=seqs)
    return replace(req, engine=EngineSettings(**settings))  # type: ignore[arg-type]


def _term(est: Estimate, key: str) -> int:
    return est.term_bytes(key)


def test_kv_cache_llama_8b_matches_the_logged_512_mib() -> None:
    # 32 layers × 4096 cells × (K + V) × 8 heads × 128 × 2 B; llama.cpp logs 512.00 MiB
    est = estimate(_req(LLAMA8B, flash_attn=True), LLAMACPP)
    assert _term(est, "kv_cache") == 32 * 4096 * 2 * 8 * 128 * 2 == 512 * 2**20


def test_context_is_padded_to_256_cells_per_sequence() -> None:
    est = estimate(_req(LLAMA8B, ctx=1000, seqs=3, flash_attn=True), LLAMACPP)
    assert _term(est, "kv_cache") == 3 * 1024 * 32 * 2 * 8 * 128 * 2


def test_old_builds_pad_to_32_without_flash_attention() -> None:
    est = estimate(_req(LLAMA8B, ctx=1010, flash_attn=False, version="b5000"), LLAMACPP)
    assert _term(est, "kv_cache") == 1024 * 32 * 2 * 8 * 128 * 2  # GGML_PAD(1010, 32) = 1024
    est = estimate(_req(LLAMA8B, ctx=990, flash_attn=False, version="b5000"), LLAMACPP)
    assert _term(est, "kv_cache") == 992 * 32 * 2 * 8 * 128 * 2


def test_quantized_kv_rows() -> None:
    # q8_0: 34 bytes per 32 elements; K and V rows of 1024 elements each
    est = estimate(_req(LLAMA8B, kv="q8_0"), LLAMACPP)
    assert _term(est, "kv_cache") == 32 * 4096 * 2 * (1024 // 32 * 34)


@pytest.mark.parametrize(
    ("version", "k", "v"),
    [("b4905", 128 * 192, 128 * 128), ("b5331", 576, 512), (None, 576, 0)],
)
def test_mla_cache_follows_the_build(version: str | None, k: int, v: int) -> None:
    # DeepSeek-V3 at 16k: before PR #12801 per-head K/V, then latent K + V, then K only.
    # b5331's 61 × 16384 × (576 + 512) × 2 B = 2074.00 MiB is the value its log prints.
    est = estimate(_req(DSV3, quant="BF16", ctx=16384, version=version), LLAMACPP)
    assert _term(est, "kv_cache") == 61 * 16384 * (k + v) * 2


def test_compute_buffer_is_the_logits_of_a_ubatch_for_a_big_vocab() -> None:
    # logits 512 × 128256 × 4 B + normed hidden 512 × 4096 × 4 B (the layer phase is smaller)
    est = estimate(_req(LLAMA8B, flash_attn=True), LLAMACPP)
    assert _term(est, "compute") == 512 * (128256 + 4096) * 4


def test_compute_without_flash_attention_holds_the_kq_scores() -> None:
    # f32 KQ [n_kv, ubatch, heads] + f32 mask dominate at 80k cells (the logged 5312 MiB row)
    est = estimate(_req(LLAMA8B, ctx=8192, seqs=10, flash_attn=False), LLAMACPP)
    n_kv, ub = 81920, 512
    layer = 2 * ub * 4096 * 4 + ub * (48 * 128 + 32 * 128) * 4 + n_kv * ub * 33 * 4
    assert _term(est, "compute") == layer


def test_pipeline_parallelism_keeps_four_copies_of_each_input() -> None:
    """llama.cpp issue #11200 (b4462): Qwen2.5-Coder-32B Q8_0 on 2 × RTX 3090 Ti, -ts 10,6,
    -c 32768, -ub 256, -fa, q8_0 cache, 'pipeline parallelism enabled (n_copies=4)': CUDA0
    233.00, CUDA1 237.51, CUDA_Host 133.01 MiB. By hand: hidden state H = 5 MiB, f32 mask 32
    MiB, f16 mask 16 MiB, a layer's working set 3H + gate and up (27 MiB each) = 69 MiB, logits
    and the normed hidden state 153.5 MiB; each int32 token input 1 KiB."""
    _, req = make_request(
        "Qwen/Qwen2.5-Coder-32B-Instruct", "rtx-3090-ti", gpus=2, quant="Q8_0", ctx=32768,
        kv_type="q8_0",
    )  # fmt: skip
    req = replace(
        req,
        engine=EngineSettings(
            version="b4462", flash_attn=True, tensor_split=(10.0, 6.0), n_ubatch=256
        ),
    )
    est = estimate(req, LLAMACPP)
    mib, kib = 2**20, 2**10
    compute = next(t for t in est.terms if t.key == "compute")
    assert compute.per_device == (
        4 * (5 * mib + 32 * mib + kib) + 16 * mib + 69 * mib,
        4 * (5 * mib + 16 * mib + 2 * kib) + 256 * (152064 + 5120) * 4,
    )
    assert _term(est, "host_compute") == 4 * (32 * mib + 3 * kib) + 5 * mib
    # without the copies (one GPU, or pipelining off) the host holds one mask and the rows
    single = estimate(replace(req, engine=replace(req.engine, tensor_split=None, ngl=40)), LLAMACPP)
    assert _term(single, "host_compute") == 32 * mib + 5 * mib


def test_ngl_offloads_the_last_layers_and_the_head_only_when_all_are() -> None:
    lay = layout(_req(LLAMA8B, ngl=16))
    assert lay.layer_device == (None,) * 16 + (0,) * 16
    assert lay.output_device is None
    lay = layout(_req(LLAMA8B, ngl=33))
    assert lay.output_device == 0
    est = estimate(_req(LLAMA8B, ngl=16), LLAMACPP)
    assert _term(est, "kv_cache") == 16 * 4096 * 2 * 8 * 128 * 2
    assert _term(est, "host_kv_cache") == 16 * 4096 * 2 * 8 * 128 * 2


def test_tensor_split_places_layers_at_cumulative_split_points() -> None:
    # 33 offloaded units (32 layers + output); split 3:1 -> boundary at 0.75 × 33 = 24.75
    lay = layout(_req(LLAMA8B, gpus=2, tensor_split=(3.0, 1.0)))
    assert lay.layer_device == (0,) * 25 + (1,) * 7
    assert lay.output_device == 1
    est = estimate(_req(LLAMA8B, gpus=2, tensor_split=(3.0, 1.0)), LLAMACPP)
    kv = next(t for t in est.terms if t.key == "kv_cache")
    per_layer = 4096 * 2 * 8 * 128 * 2
    assert kv.per_device == (25 * per_layer, 7 * per_layer)


def test_token_embedding_stays_in_host_memory() -> None:
    est = estimate(_req(LLAMA8B), LLAMACPP)
    assert _term(est, "host_weights") == 128256 * 4096 * 2  # F16 token_embd


def test_cpu_moe_moves_routed_experts_to_ram() -> None:
    req = _req("Qwen/Qwen3-30B-A3B", quant="BF16", cpu_moe=True)
    est = estimate(req, LLAMACPP)
    experts = sum(t.numel for t in req.arch.tensors() if t.role.is_expert) * 2
    embd = 151936 * 2048 * 2
    assert _term(est, "host_weights") == experts + embd
    full = estimate(replace(req, engine=EngineSettings()), LLAMACPP)
    assert _term(full, "weights") - _term(est, "weights") == experts


def test_sliding_layers_keep_window_plus_ubatch() -> None:
    # gemma-2-9b: 21 of 42 layers slide over 4096 tokens; 8 KV heads of 256
    est = estimate(_req("google/gemma-2-9b-it", ctx=8192), LLAMACPP)
    row = 2 * 8 * 256 * 2
    assert _term(est, "kv_cache") == 21 * 8192 * row + 21 * (4096 + 512) * row


def test_output_buffer_is_host_logits_per_sequence() -> None:
    est = estimate(_req(LLAMA8B, seqs=4, ctx=1024), LLAMACPP)
    assert _term(est, "output") == 128256 * 4 * 4
    assert next(t for t in est.terms if t.key == "output").host


def test_bad_options_give_one_line_errors() -> None:
    with pytest.raises(InvalidSpecError, match=r"no fp8 KV cache"):
        estimate(_req(LLAMA8B, kv="fp8"), LLAMACPP)
    with pytest.raises(InvalidSpecError, match=r"flash attention"):
        estimate(_req(LLAMA8B, kv="q8_0", flash_attn=False), LLAMACPP)
    with pytest.raises(InvalidSpecError, match=r"tensor-split"):
        estimate(_req(LLAMA8B, tp=2), LLAMACPP)
    with pytest.raises(InvalidSpecError, match=r"one per GPU"):
        estimate(_req(LLAMA8B, tensor_split=(1.0, 1.0)), LLAMACPP)
    with pytest.raises(InvalidSpecError, match=r"build number"):
        behaviour("latest")


def test_build_numbers() -> None:
    assert build_number("b5331 (33eff402)") == 5331
    assert build_number("5192") == 5192
    with pytest.raises(InvalidSpecError, match=r"not a build number"):
        build_number("0.8.5")  # a dotted version is not build 0


def test_checkpoint_formats_without_a_gguf_form_are_refused() -> None:
    for quant in ("AWQ", "GPTQ-INT4", "FP8", "BNB-NF4"):
        with pytest.raises(InvalidSpecError, match=r"no GGUF form"):
            estimate(_req(LLAMA8B, quant=quant), LLAMACPP)
    estimate(_req("openai/gpt-oss-20b", quant="MXFP4-EXPERTS"), LLAMACPP)  # MXFP4 is a GGUF type


def test_quantized_v_cache_needs_flash_attention_on_old_builds() -> None:
    # before flash attention became "auto" (FA_AUTO_BUILD) it was off unless -fa was given
    with pytest.raises(InvalidSpecError, match=r"flash attention"):
        estimate(_req(LLAMA8B, kv="q8_0", version="b5000"), LLAMACPP)
    estimate(_req(LLAMA8B, kv="q8_0", version="b5000", flash_attn=True), LLAMACPP)


def test_a_hugging_face_head_is_not_taken_for_a_tied_one() -> None:
    # A checkpoint names its head lm_head.weight: the embedding is not duplicated onto the GPU,
    # so GPU and host weights add up to the file's bytes.
    embd = PlacedTensor("model.embed_tokens.weight", Kind.EMBEDDING, None, 1000)
    head = PlacedTensor("lm_head.weight", Kind.OUTPUT, None, 1000)
    norm = PlacedTensor("model.norm.weight", Kind.OUTPUT, None, 8)
    layers = tuple(
        PlacedTensor(f"model.layers.{i}.mlp.up_proj.weight", Kind.LAYER, i, 500) for i in range(32)
    )
    base = _req(LLAMA8B)

    def with_tensors(*tensors: PlacedTensor) -> Request:
        return replace(base, file_weights=replace(base.weights(), tensors=tensors))

    req = with_tensors(embd, head, norm, *layers)
    est = estimate(req, LLAMACPP)
    assert _term(est, "weights") == 1000 + 8 + 32 * 500
    assert _term(est, "host_weights") == 1000
    # without a head the embedding is duplicated as output.weight, as llama.cpp does
    w = next(t for t in est.terms if t.key == "weights")
    assert w.inputs["tied_output_duplicate_bytes"] == 0
    # without a head the embedding is duplicated as output.weight, as llama.cpp does
    tied = estimate(with_tensors(embd, norm, *layers), LLAMACPP)
    w = next(t for t in tied.terms if t.key == "weights")
    assert w.inputs["tied_output_duplicate_bytes"] == 1000


def test_command_line() -> None:
    req = _req(LLAMA8B, quant="Q4_K_M", ctx=8192, kv="q8_0", seqs=2, ngl=20, cpu_moe=False)
    cmd = LLAMACPP.command(req, "m.gguf")
    assert cmd == "llama-server -m m.gguf -c 16384 -np 2 -ngl 20 -ctk q8_0 -ctv q8_0"


def test_mixed_gpus_split_by_capacity() -> None:
    _, req = make_request(LLAMA8B, "rtx-4090", mix=["rtx-3060-12gb"], quant="F16")
    est = estimate(req, LLAMACPP)
    w = next(t for t in est.terms if t.key == "weights")
    assert w.per_device[0] > w.per_device[1] > 0
    assert len(est.device_bytes) == 2


def test_llamacpp_caches_the_full_context_where_it_has_no_sliding_window() -> None:
    # Mistral-7B-v0.1's config has a 4096-token window; llama.cpp loads it as plain llama and
    # allocates every cell: 32 layers × 8192 cells × (K + V) × 8 heads × 128 × 2 B
    est = estimate(_req("mistralai/Mistral-7B-v0.1", ctx=8192), LLAMACPP)
    assert _term(est, "kv_cache") == 32 * 8192 * 2 * 8 * 128 * 2


def test_qwen3_next_state_of_cpu_layers_is_host_memory() -> None:
    req = _req("Qwen/Qwen3-Next-80B-A3B-Instruct", quant="BF16", ngl=24)
    est = estimate(req, LLAMACPP)
    s = req.arch.linear_attention
    assert s is not None
    per_layer = s.state_elems() * 4
    linear_on_gpu = sum(1 for x in req.arch.layers[-24:] if x.kind.value == "linear_attention")
    assert _term(est, "state") == linear_on_gpu * per_layer
    assert _term(est, "host_state") == (36 - linear_on_gpu) * per_layer


def test_swa_full_keeps_the_whole_context_in_sliding_layers() -> None:
    """--swa-full (llama_context_params.swa_full): Gemma 2's sliding layers cache every cell,
    as Ollama's llama.cpp runner does by default."""
    base = _req("google/gemma-2-9b-it", ctx=8192)
    windowed = LLAMACPP.cells(base)
    full = LLAMACPP.cells(replace(base, engine=EngineSettings(swa_full=True)))
    assert windowed[1] < windowed[0]
    assert full == (windowed[0], windowed[0])
    assert "--swa-full" in LLAMACPP.command(
        replace(base, engine=EngineSettings(swa_full=True)), "m"
    )


def test_gaudi_has_no_llamacpp_backend() -> None:
    """ggml has no backend for Intel Gaudi's HPUs: llama.cpp is refused there, and the default
    for a GGUF type says so instead of pricing it."""
    _, req = make_request(LLAMA8B, "gaudi3", quant="Q4_K_M", ctx=4096)
    with pytest.raises(InvalidSpecError, match=r"no backend for .*Gaudi"):
        LLAMACPP.check(req)


def test_gaudi_anywhere_in_the_system_is_refused() -> None:
    _, req = make_request(LLAMA8B, "rtx-4090", quant="Q4_K_M", ctx=4096, mix=["gaudi3"])
    with pytest.raises(InvalidSpecError, match="Gaudi"):
        LLAMACPP.check(req)


SUPER = "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8"


def test_latent_experts_need_the_build_that_loads_them() -> None:
    """Nemotron 3 Super's latent MoE loads from PR #20411 (2026-03-11); b8227 (2026-03-09)
    predates it, so it is refused there and priced from b8228."""
    with pytest.raises(InvalidSpecError, match="predates nemotron_h with latent experts"):
        estimate(_req(SUPER, quant="Q4_K_M", version="b8227"), LLAMACPP)
    est = estimate(_req(SUPER, quant="Q4_K_M", version="b8228"), LLAMACPP)
    assert not any("loads from llama.cpp" in n for n in est.notes)
    default = estimate(_req(SUPER, quant="Q4_K_M"), LLAMACPP)
    assert any(
        "latent experts (moe_latent_size) loads from llama.cpp b8228" in n for n in default.notes
    )
    # the Nano (no latent) loads on older builds
    estimate(
        _req("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", quant="Q4_K_M", version="b7820"),
        LLAMACPP,
    )


def test_cpu_moe_keeps_the_latent_projections_on_the_gpu() -> None:
    """--cpu-moe moves the ffn_(up|down|gate)_exps tensors only: the latent projections, the
    router and the shared expert stay with their layer."""
    req = _req(SUPER, quant="Q8_0", cpu_moe=True, ngl=999)
    est = estimate(req, LLAMACPP)
    full = estimate(replace(req, engine=EngineSettings(ngl=999)), LLAMACPP)
    moved = _term(full, "weights") - _term(est, "weights")
    experts = [t for t in req.arch.tensors() if t.role.is_expert]
    # Q8_0: 34 bytes per 32 weights
    assert moved == sum(t.numel for t in experts) // 32 * 34


@pytest.mark.parametrize(
    ("gpu", "own", "allowed"),
    [
        ("rtx-4090", "cuda", ("cuda", "vulkan")),
        ("rx-7900-xtx", "rocm", ("rocm", "vulkan")),
        ("m2-ultra-192gb", "metal", ("metal",)),
        ("arc-b580", "sycl", ("sycl", "vulkan")),
    ],
)
def test_backend_defaults_to_the_vendors_own_and_refuses_the_rest(
    gpu: str, own: str, allowed: tuple[str, ...]
) -> None:
    _, req = make_request(LLAMA8B, gpu, quant="Q4_K_M", ctx=4096)
    assert LLAMACPP.backend(req) == own
    assert LLAMACPP.kernels(req) == "llama.cpp"  # the vendor backends share one calibration
    for b in ("cuda", "rocm", "vulkan", "metal", "sycl"):
        r = replace(req, engine=EngineSettings(backend=b))
        if b in allowed:
            LLAMACPP.check(r)
            assert LLAMACPP.kernels(r) == ("llama.cpp-vulkan" if b == "vulkan" else "llama.cpp")
        else:
            with pytest.raises(InvalidSpecError, match=rf"{b} backend does not run on .*allowed"):
                LLAMACPP.check(r)


def test_backend_changes_speed_not_memory() -> None:
    _, req = make_request(LLAMA8B, "rx-7900-xtx", quant="Q4_K_M", ctx=4096)
    vk = replace(req, engine=EngineSettings(backend="vulkan"))
    assert estimate(vk, LLAMACPP).total_bytes == estimate(req, LLAMACPP).total_bytes


def test_gpus_of_two_vendors_share_the_one_backend_both_run() -> None:
    """One llama.cpp process loads one build: an AMD and an NVIDIA card share Vulkan, and the
    plan says so; a backend only one of them runs is refused with the shared ones."""
    _, req = make_request(LLAMA8B, "rx-7900-xtx", quant="Q4_K_M", ctx=4096, mix=["rtx-3090"])
    assert LLAMACPP.backend(req) == "vulkan"
    LLAMACPP.check(req)
    assert any("2 vendors" in n and "vulkan" in n for n in LLAMACPP.notes(req))
    with pytest.raises(InvalidSpecError, match=r"allowed on every GPU here: vulkan"):
        LLAMACPP.check(replace(req, engine=EngineSettings(backend="rocm")))


def test_the_backend_option_lists_every_backend() -> None:
    from rigfit.engines.llamacpp import Backend
    from rigfit.estimate.settings import option

    assert option("backend").choices == tuple(Backend)
