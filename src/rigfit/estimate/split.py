"""How an engine divides a model's work over the system: the one fact speed needs from a plan.

Memory asks where each byte lives; speed asks which device does each layer's work and in what
order. Each engine answers with a :class:`Split` (its own rule: llama.cpp's ``-ngl`` and
``--tensor-split``, vLLM's and SGLang's tensor × pipeline grid, transformers' whole layers in
order), and :mod:`rigfit.speed` prices the reads and FLOPs of each part on its device.
"""

from __future__ import annotations

from enum import StrEnum

from rigfit.frozen import frozen

__all__ = ["Split", "SplitKind"]


class SplitKind(StrEnum):
    """How devices share one token's work.

    * ``layers``: whole layers per device, run one device after the other (llama.cpp's
      default ``-sm layer``, transformers' ``device_map``); one token gains nothing from more
      devices, though llama.cpp overlaps a prompt's micro-batches (``pipeline_copies``); a
      layer may also stay in host RAM (``None``), where the CPU runs it
    * ``tensor``: every layer divided over ``tp`` ranks that work at once and all-reduce
      twice a layer; ``pp`` pipeline stages of ``tp`` ranks each run one after the other
    """

    LAYERS = "layers"
    TENSOR = "tensor"


@frozen
class Split:
    kind: SplitKind
    # LAYERS: the device index of each repeating layer (None: host RAM and the CPU), and of
    # the output head; TENSOR: empty
    layer_device: tuple[int | None, ...] = ()
    output_device: int | None = 0
    # layers whose routed experts stay in host RAM while the rest of the layer is on a GPU
    # (llama.cpp --cpu-moe / --n-cpu-moe)
    host_expert_layers: frozenset[int] = frozenset()
    tp: int = 1
    pp: int = 1
    # LAYERS: how many of one prompt's micro-batches may be in flight over the devices at once
    # (1: each runs through every device before the next starts; llama.cpp's pipeline
    # parallelism keeps up to its scheduler's input copies queued, one device a stage)
    pipeline_copies: int = 1

    @staticmethod
    def tensor(tp: int, pp: int = 1) -> Split:
        return Split(SplitKind.TENSOR, output_device=None, tp=tp, pp=pp)

    @staticmethod
    def layers(n_layers: int, n_devices: int) -> Split:
        """Whole layers over ``n_devices`` in order, evenly (the default of an engine that
        says nothing else)."""
        per = -(-n_layers // n_devices)
        return Split(
            SplitKind.LAYERS,
            layer_device=tuple(min(i // per, n_devices - 1) for i in range(n_layers)),
            output_device=n_devices - 1,
        )
