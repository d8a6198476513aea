"""Strict models for the catalog's data files: one TOML file per model or accelerator.

Every record is frozen and forbids unknown keys, so a typo in a data file fails the test suite
with the file's name instead of being silently ignored. Every record names its sources.

A model record's ``[config]`` table holds keys of the model's own ``config.json``, verbatim
(same names, same values), for exactly the keys rigfit reads; :mod:`rigfit.arch` turns them into
an architecture. That way a catalog entry and a user's ``config.json`` go through the same code.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any, ClassVar

from rigfit import strict
from rigfit.catalog.evidence import Evidence
from rigfit.catalog.url import Url
from rigfit.strict import Record, record

__all__ = [
    "Checkpoint",
    "Disagreement",
    "GPURecord",
    "HFConfig",
    "Modality",
    "ModelRecord",
    "ModelSources",
    "OfficialParams",
    "Origin",
    "PriceTable",
    "PurchasePrice",
    "RentalPrice",
    "Segment",
    "Vendor",
    "VisionConfig",
]


# A DeciLM block's config also carries training-time keys rigfit does not read
# (unshifted_sink, use_prefill_window_in_sink_attention): its parts ignore unknown keys (their
# ``__pydantic_config__``); the ones that change the shapes or the cache are read, and refused
# where rigfit does not model them.


@record
class NasAttention(Record):
    """One DeciLM block's attention (configuration_decilm.py AttentionConfig)."""

    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "ignore"}

    n_heads_in_group: int | None = strict.field(default=None, gt=0)
    no_op: bool = False
    replace_with_linear: bool = False
    window_length: int | None = None
    num_sink_tokens: int | None = None
    sparsify: Any = None


@record
class NasFFN(Record):
    """One DeciLM block's MLP (configuration_decilm.py FFNConfig)."""

    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "ignore"}

    ffn_mult: float | None = strict.field(default=None, gt=0)
    no_op: bool = False
    replace_with_linear: bool = False
    sparsify: Any = None


@record
class NasBlock(Record):
    """One entry of a DeciLM (``nemotron-nas``) config's ``block_configs``."""

    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "ignore"}

    attention: NasAttention
    ffn: NasFFN


@record
class VisionConfig(Record):
    """The keys of a ``vision_config`` rigfit reads: SigLIP (Gemma 3), Llama 4's vision model,
    Qwen3-VL's, Gemma 4's and Pixtral (Mistral 3); each tower's reader in :mod:`rigfit.arch`
    asks for the keys it needs."""

    model_type: str
    hidden_size: int = strict.field(gt=0)
    intermediate_size: int = strict.field(gt=0)
    num_hidden_layers: int | None = strict.field(default=None, gt=0)
    num_attention_heads: int | None = strict.field(default=None, gt=0)
    patch_size: int = strict.field(gt=0)
    image_size: int | None = strict.field(default=None, gt=0)
    num_channels: int = strict.field(default=3, gt=0)
    # Qwen3-VL (Qwen3VLVisionConfig): depth, a 3-D patch embedding, learned positions, the
    # merger and the DeepStack mergers
    depth: int | None = strict.field(default=None, gt=0)
    num_heads: int | None = strict.field(default=None, gt=0)
    in_channels: int | None = strict.field(default=None, gt=0)
    temporal_patch_size: int | None = strict.field(default=None, gt=0)
    spatial_merge_size: int | None = strict.field(default=None, gt=0)
    out_hidden_size: int | None = strict.field(default=None, gt=0)
    num_position_embeddings: int | None = strict.field(default=None, gt=0)
    deepstack_visual_indexes: tuple[int, ...] = ()
    vision_use_head: bool | None = None
    # Llama 4's vision adapter and projector (Llama4VisionConfig)
    pixel_shuffle_ratio: float | None = strict.field(default=None, gt=0)
    projector_input_dim: int | None = strict.field(default=None, gt=0)
    projector_output_dim: int | None = strict.field(default=None, gt=0)
    vision_output_dim: int | None = strict.field(default=None, gt=0)
    # Gemma 4's vision model (Gemma4VisionConfig): grouped-query heads, a learned 2-D position
    # table, an optional standardization and clipped linears
    head_dim: int | None = strict.field(default=None, gt=0)
    num_key_value_heads: int | None = strict.field(default=None, gt=0)
    position_embedding_size: int | None = strict.field(default=None, gt=0)
    pooling_kernel_size: int | None = strict.field(default=None, gt=0)
    standardize: bool | None = None
    use_clipped_linears: bool | None = None


@record
class HFConfig(Record):
    """Keys of a Hugging Face ``config.json``, verbatim, that rigfit reads.

    For multimodal configs whose language model sits in ``text_config``, the text keys are
    lifted to this level and ``vision_config`` is kept.
    """

    model_type: str
    architectures: tuple[str, ...] = ()
    hidden_size: int = strict.field(gt=0)
    intermediate_size: int | None = strict.field(default=None, gt=0)
    num_hidden_layers: int = strict.field(gt=0)
    num_attention_heads: int = strict.field(gt=0)
    num_key_value_heads: int | None = strict.field(default=None, gt=0)
    head_dim: int | None = strict.field(default=None, gt=0)
    vocab_size: int = strict.field(gt=0)
    max_position_embeddings: int = strict.field(gt=0)
    tie_word_embeddings: bool | None = None
    hidden_act: str | None = None
    hidden_activation: str | None = None
    rms_norm_eps: float | None = None
    layer_norm_eps: float | None = None
    rope_theta: float | None = None
    rope_scaling: dict[str, Any] | None = None
    partial_rotary_factor: float | None = None
    attention_bias: bool | None = None
    mlp_bias: bool | None = None
    torch_dtype: str | None = None
    # sliding-window and per-layer attention kinds
    sliding_window: int | None = None
    use_sliding_window: bool | None = None
    max_window_layers: int | None = None
    layer_types: tuple[str, ...] | None = None
    sliding_window_pattern: int | None = None
    query_pre_attn_scalar: float | None = None
    attn_logit_softcapping: float | None = None
    final_logit_softcapping: float | None = None
    use_qk_norm: bool | None = None
    # Llama 4: chunked local attention on the RoPE layers, every no_rope_layer_interval-th layer
    # global and without RoPE (no_rope_layers: 1 = RoPE layer, 0 = NoPE layer)
    attention_chunk_size: int | None = strict.field(default=None, gt=0)
    no_rope_layers: tuple[int, ...] | None = None
    no_rope_layer_interval: int | None = strict.field(default=None, gt=0)
    # MiniMax-M2: RMSNorm over all heads' q and k at once ("per_layer")
    qk_norm_type: str | None = None
    rotary_dim: int | None = strict.field(default=None, gt=0)
    # mixture of experts (each family names them differently; kept verbatim)
    num_local_experts: int | None = None
    num_experts: int | None = None
    n_routed_experts: int | None = None
    n_shared_experts: int | None = None
    num_experts_per_tok: int | None = None
    experts_per_token: int | None = None
    moe_intermediate_size: int | None = None
    intermediate_size_mlp: int | None = strict.field(default=None, gt=0)  # Llama 4's dense layers
    interleave_moe_layer_step: int | None = strict.field(default=None, gt=0)
    moe_layers: tuple[int, ...] | None = None
    shared_expert_intermediate_size: int | None = None
    first_k_dense_replace: int | None = None
    moe_layer_freq: int | None = None
    decoder_sparse_step: int | None = None
    mlp_only_layers: tuple[int, ...] | None = None
    norm_topk_prob: bool | None = None
    routed_scaling_factor: float | None = None
    n_group: int | None = None
    topk_group: int | None = None
    scoring_func: str | None = None
    topk_method: str | None = None
    # multi-head latent attention (DeepSeek-V2/V3, Kimi-K2)
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    # multi-token prediction
    num_nextn_predict_layers: int | None = None
    mtp_num_hidden_layers: int | None = None  # Qwen3.5's name for it
    # DeepSeek-V3.2's sparse-attention indexer (DeepseekV32Config)
    index_n_heads: int | None = strict.field(default=None, gt=0)
    index_head_dim: int | None = strict.field(default=None, gt=0)
    index_topk: int | None = strict.field(default=None, gt=0)
    # GLM-5.2: layers whose indexer reuses the previous layer's top-k ("shared"); read only so
    # that rigfit can refuse what it does not model
    indexer_types: tuple[str, ...] | None = None
    index_topk_freq: int | None = strict.field(default=None, gt=0)
    # linear attention (Qwen3-Next gated DeltaNet)
    full_attention_interval: int | None = None
    linear_num_key_heads: int | None = None
    linear_num_value_heads: int | None = None
    linear_key_head_dim: int | None = None
    linear_value_head_dim: int | None = None
    linear_conv_kernel_dim: int | None = None
    # Mamba2 hybrids: Nemotron-H (NemotronHConfig), Granite 4 (GraniteMoeHybridConfig) and
    # Falcon-H1 (FalconH1Config) name the same mixer's sizes differently; kept verbatim
    hybrid_override_pattern: str | None = None
    layers_block_type: tuple[str, ...] | None = None
    mamba_num_heads: int | None = strict.field(default=None, gt=0)
    mamba_head_dim: int | None = strict.field(default=None, gt=0)
    ssm_state_size: int | None = strict.field(default=None, gt=0)
    n_groups: int | None = strict.field(default=None, gt=0)
    conv_kernel: int | None = strict.field(default=None, gt=0)
    use_conv_bias: bool | None = None
    use_bias: bool | None = None
    attention_head_dim: int | None = strict.field(default=None, gt=0)
    mlp_hidden_act: str | None = None
    moe_shared_expert_intermediate_size: int | None = strict.field(default=None, ge=0)
    moe_latent_size: int | None = strict.field(default=None, gt=0)
    mamba_n_heads: int | None = strict.field(default=None, gt=0)
    mamba_n_groups: int | None = strict.field(default=None, gt=0)
    mamba_d_state: int | None = strict.field(default=None, gt=0)
    mamba_d_head: int | str | None = None  # an int, or "auto" (d_inner // heads)
    mamba_d_conv: int | None = strict.field(default=None, gt=0)
    mamba_expand: int | None = strict.field(default=None, gt=0)
    mamba_d_ssm: int | None = strict.field(default=None, gt=0)
    mamba_conv_bias: bool | None = None
    mamba_proj_bias: bool | None = None
    mamba_rms_norm: bool | None = None
    projectors_bias: bool | None = None
    # DeciLM / Llama-Nemotron (nemotron-nas): one attention and MLP config per layer
    block_configs: tuple[NasBlock, ...] | None = None
    shared_intermediate_size: int | None = strict.field(default=None, ge=0)
    position_embedding_type: str | None = None
    # Gemma 4 (Gemma4TextConfig): full layers of their own head size and KV heads, K as V on
    # them, a dense MLP beside the experts, per-layer input embeddings and KV-shared layers
    global_head_dim: int | None = strict.field(default=None, gt=0)
    num_global_key_value_heads: int | None = strict.field(default=None, gt=0)
    attention_k_eq_v: bool | None = None
    enable_moe_block: bool | None = None
    top_k_experts: int | None = strict.field(default=None, gt=0)
    hidden_size_per_layer_input: int | None = strict.field(default=None, ge=0)
    vocab_size_per_layer_input: int | None = strict.field(default=None, gt=0)
    num_kv_shared_layers: int | None = strict.field(default=None, ge=0)
    use_double_wide_mlp: bool | None = None
    rope_parameters: dict[str, Any] | None = None
    # multimodal
    vision_config: VisionConfig | None = None
    mm_tokens_per_image: int | None = None
    # Mistral 3 (Mistral3Config): the projector's keys sit beside vision_config
    # (configuration_mistral3.py): the patch merger's spatial_merge_size, the biases of
    # linear_1/linear_2, and the vision layer(s) whose features are concatenated
    spatial_merge_size: int | None = strict.field(default=None, gt=0)
    multimodal_projector_bias: bool | None = None
    vision_feature_layer: int | tuple[int, ...] | None = None
    projector_hidden_act: str | None = None
    # an audio tower (Gemma 4 E2B/E4B: Gemma4AudioConfig), read by rigfit.arch for the keys
    # its tower needs; another tower is refused there
    audio_config: dict[str, Any] | None = None
    # official quantization of the checkpoint, verbatim
    quantization_config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        kv = self.num_key_value_heads or self.num_attention_heads
        if self.num_attention_heads % kv:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) is not a multiple of"
                f" num_key_value_heads ({kv})"
            )
        if (
            self.head_dim is None
            and self.kv_lora_rank is None
            and (self.hidden_size % self.num_attention_heads)
        ):
            raise ValueError(
                f"no head_dim and hidden_size ({self.hidden_size}) is not a multiple of"
                f" num_attention_heads ({self.num_attention_heads})"
            )
        if self.layer_types is not None and len(self.layer_types) != self.num_hidden_layers:
            raise ValueError(
                f"layer_types has {len(self.layer_types)} entries for"
                f" {self.num_hidden_layers} layers"
            )
        k = self.num_experts_per_tok or self.experts_per_token
        e = self.num_local_experts or self.num_experts or self.n_routed_experts
        if k is not None and e is not None and k > e:
            raise ValueError(f"{k} experts per token but only {e} experts")


class Modality(StrEnum):
    TEXT = "text"
    TEXT_VISION = "text+vision"
    TEXT_VISION_AUDIO = "text+vision+audio"  # Gemma 4 E2B/E4B: a vision and an audio encoder


class Task(StrEnum):
    """What a model is run for: generating tokens, or one pass over its input that returns a
    pooled vector (Qwen3-Embedding's last-token embedding). Only generation has decode
    speeds; engines run embedding models as pooling models (docs/engines.md)."""

    GENERATION = "generation"
    EMBEDDING = "embedding"


@record
class Checkpoint(Record):
    """The official checkpoint as published: its dtype, its quantization and its size."""

    dtype: str = strict.field(description="dtype of the published weights, e.g. bf16")
    quantization: str = strict.field(
        default="none", description="none, or how the published weights are quantized"
    )
    safetensors_total_bytes: int | None = strict.field(
        default=None, gt=0, description="metadata.total_size of model.safetensors.index.json"
    )
    source: Url | None = None

    def __post_init__(self) -> None:
        if self.safetensors_total_bytes is not None and self.source is None:
            raise ValueError("checkpoint.safetensors_total_bytes needs checkpoint.source")


@record
class OfficialParams(Record):
    """Parameter counts as the publisher states them, with where they say it."""

    total: int = strict.field(gt=0)
    active: int | None = strict.field(default=None, gt=0)
    source: Url
    rounding: int | None = strict.field(
        default=None,
        gt=0,
        description="the unit the publisher rounded to ('7.3B' -> 100000000); None when exact",
    )
    excludes_vision: bool = strict.field(
        default=False,
        description="the statement counts the language model alone, without the vision"
        " encoder the checkpoint also holds (Qwen3-VL's sizes, Qwen3.6's 'Language Model'"
        " line)",
    )
    note: str = ""


@record
class Disagreement(Record):
    """A public page that states a different value than the primary source."""

    field: str
    page: str = strict.field(
        description="the site and the page, by name (never an internal file id)"
    )
    url: Url = strict.field(description="the page that states page_value")
    page_value: str
    primary_value: str


@record
class ModelSources(Record):
    config: Url = strict.field(description="a verbatim copy of the official config.json")
    card: Url = strict.field(description="the model card (organization, license, release date)")
    release: Url | None = strict.field(
        default=None, description="where the publisher states the release date"
    )
    config_copy: str = strict.field(
        default="",
        description="where rigfit read a verbatim copy of config.json when the hub was out of"
        " reach: repository, path and commit, and any second copy it was checked against",
    )


@record
class ModelRecord(Record):
    """One catalog model: what the seed pages show, each value with its source."""

    id: str = strict.field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    name: str
    aliases: tuple[str, ...] = ()
    organization: str
    family: str
    base_model: str | None = None
    lineage: str = ""
    # None where no primary source for the date was found: the pages say "not recorded"
    # rather than take a third-party date
    release_date: dt.date | None = None
    license: str
    modality: Modality = Modality.TEXT
    task: Task = Task.GENERATION
    description: str
    sources: ModelSources
    checkpoint: Checkpoint
    params: OfficialParams
    config: HFConfig
    disagreements: tuple[Disagreement, ...] = ()
    evidence: Evidence | None = None


class Vendor(StrEnum):
    NVIDIA = "nvidia"
    AMD = "amd"
    APPLE = "apple"
    INTEL = "intel"


class Segment(StrEnum):
    DATACENTER = "datacenter"
    WORKSTATION = "workstation"
    CONSUMER = "consumer"
    APPLE_SILICON = "apple-silicon"


class Origin(StrEnum):
    """Where an accelerator's figures come from."""

    CATALOG = "catalog"  # rigfit's bundled catalog: every figure has a source
    USER = "user"  # the user's accelerators file (~/.config/rigfit/accelerators.toml)
    CUSTOM = "custom"  # typed on the command line: --gpu custom:memory=24GiB,...
    DETECTED = "detected"  # a catalog entry with the memory this machine's driver reports


_PCI_ID = r"^[0-9a-f]{4}:[0-9a-f]{4}$"


@record
class GPURecord(Record):
    """One accelerator (one GPU, or one Apple SoC at one unified-memory size)."""

    id: str = strict.field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: str
    aliases: tuple[str, ...] = ()
    vendor: Vendor
    segment: Segment
    architecture: str
    release_year: int = strict.field(ge=2015, le=2030)
    form_factor: str
    memory_type: str
    memory_gb: float = strict.field(
        gt=0, description="capacity as marketed on the datasheet, in its GB"
    )
    memory_bytes: int = strict.field(gt=0, description="physical capacity in bytes")
    driver_reported_bytes: int | None = strict.field(
        default=None,
        gt=0,
        description="memory the driver offers, in bytes (nvidia-smi/rocm-smi total; on Apple,"
        " Metal's recommendedMaxWorkingSetSize)",
    )
    driver_reported_reading: str | None = strict.field(
        default=None, description="the reading as printed, e.g. 'nvidia-smi: 81559MiB'"
    )
    driver_reported_source: Url | None = strict.field(
        default=None, description="where the reading was printed; None only off the catalog"
    )
    runtime_total_bytes: int | None = strict.field(
        default=None,
        gt=0,
        description="total memory the CUDA/ROCm runtime reports to programs (cudaMemGetInfo,"
        " torch.cuda.mem_get_info), in bytes: below the driver's total by what it reserves",
    )
    runtime_total_reading: str | None = strict.field(
        default=None, description="the reading as printed, e.g. 'total_gpu_memory (23.58GiB)'"
    )
    runtime_total_source: Url | None = None
    unified_memory: bool = False
    one_per_host: bool = strict.field(
        default=False,
        description="a device a machine holds one of (a laptop GPU, an APU, a DGX Spark):"
        " never counted more than once in a system",
    )
    gpu_share_bytes: int | None = strict.field(
        default=None,
        gt=0,
        description="an APU or superchip whose GPU draws on system memory: the most of it the"
        " GPU may be given, as its maker documents (Strix Halo: 96 GB of Variable Graphics"
        " Memory)",
    )
    gpu_share_source: Url | None = None
    devices_per_board: int = strict.field(
        default=1, ge=1, le=8, description="GPUs the software sees per board (MI250X: 2 GCDs)"
    )
    bandwidth_gb_s: float | None = strict.field(
        default=None,
        gt=0,
        description="peak memory bandwidth, decimal GB/s; required for catalog entries (None:"
        " a custom accelerator given without one, whose speed is not estimated)",
    )
    bf16_dense_tflops: float | None = strict.field(default=None, gt=0)
    fp16_dense_tflops: float | None = strict.field(default=None, gt=0)
    fp8_dense_tflops: float | None = strict.field(default=None, gt=0)
    int8_dense_tops: float | None = strict.field(default=None, gt=0)
    fp4_dense_tflops: float | None = strict.field(default=None, gt=0)
    interconnect: str
    interconnect_gb_s: float | None = strict.field(default=None, gt=0)
    tdp_w: float | None = strict.field(
        default=None, gt=0, description="None where none is published"
    )
    source: Url | None = strict.field(
        default=None, description="the datasheet; required for catalog entries"
    )
    throughput_source: Url | None = None
    notes: str = ""
    pci_ids: tuple[str, ...] = strict.field(
        default=(),
        description="PCI vendor:device ids (lowercase hex, from pci.ids) the driver reports for"
        " this part, e.g. 10de:2684",
    )
    origin: Origin = Origin.CATALOG

    def __post_init__(self) -> None:
        sourced = self.origin is Origin.CATALOG
        if sourced and self.source is None:
            raise ValueError("source: every catalog accelerator names its datasheet")
        if sourced and self.bandwidth_gb_s is None:
            raise ValueError("bandwidth_gb_s: every catalog accelerator has its datasheet's")
        for pci in self.pci_ids:
            if not re.match(_PCI_ID, pci):
                raise ValueError(f"pci_ids: {pci!r} is not vendor:device in lowercase hex")
        if self.driver_reported_bytes is not None:
            if (sourced and self.driver_reported_source is None) or not (
                self.driver_reported_reading
            ):
                raise ValueError(
                    "driver_reported_bytes needs driver_reported_reading and driver_reported_source"
                )
            if self.driver_reported_bytes > self.memory_bytes:
                raise ValueError("driver_reported_bytes exceeds memory_bytes")
        if self.runtime_total_bytes is not None:
            if (sourced and self.runtime_total_source is None) or not self.runtime_total_reading:
                raise ValueError(
                    "runtime_total_bytes needs runtime_total_reading and runtime_total_source"
                )
            if self.runtime_total_bytes > (self.driver_reported_bytes or self.memory_bytes):
                raise ValueError("runtime_total_bytes exceeds the driver's total")
        if self.gpu_share_bytes is not None:
            if sourced and self.gpu_share_source is None:
                raise ValueError("gpu_share_bytes needs gpu_share_source")
            if self.gpu_share_bytes > self.memory_bytes:
                raise ValueError("gpu_share_bytes exceeds memory_bytes")
        if self.unified_memory != (self.segment is Segment.APPLE_SILICON):
            raise ValueError("unified_memory must be true exactly for apple-silicon entries")


@record
class PurchasePrice(Record):
    """What one accelerator costs to buy, as a dated, sourced figure."""

    gpu: str
    usd: float = strict.field(gt=0)
    kind: str = strict.field(description="launch MSRP, list price, street price")
    date: dt.date = strict.field(
        description="the day the price applies (launch, or the page's date)"
    )
    source: Url | None = strict.field(default=None, description="required in the bundled table")
    quote: str = ""


@record
class RentalPrice(Record):
    """What one accelerator costs an hour on demand at one provider, dated and sourced."""

    gpu: str
    usd_per_hour: float = strict.field(gt=0, description="per GPU, on demand")
    provider: str
    date: dt.date
    source: Url | None = strict.field(default=None, description="required in the bundled table")
    quote: str = ""


@record
class PriceTable(Record):
    """``prices.toml``: ``[[purchase]]`` and ``[[rental]]`` rows."""

    purchase: tuple[PurchasePrice, ...] = ()
    rental: tuple[RentalPrice, ...] = ()
