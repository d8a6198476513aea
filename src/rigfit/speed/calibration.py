"""The speed model's efficiency constants, fitted on the sourced speed measurements.

No constant here is chosen by hand: ``scripts/fit_speed.py`` fits them on the rows of
``rigfit/validation/data/speed/speed.jsonl`` that are not held out (a quarter is, picked by a
hash of each row's id) and writes ``calibration.json`` beside this module, with the rows each
key rests on and its bands. ``tests/speed/test_calibration.py``
re-fits and requires the committed file to be what the fit gives.

A key is ``engine/class``: the engine (Ollama runs llama.cpp's kernels and takes its
constants) and the hardware class (:func:`hardware_class`). A pair with no rows falls back to
the engine's constants over every class, then to every engine's; the answer then says so and
its band is widened.
"""

from __future__ import annotations

import json
from dataclasses import replace
from enum import StrEnum
from functools import cache
from pathlib import Path

from rigfit.catalog.schema import GPURecord, Vendor
from rigfit.frozen import frozen

__all__ = [
    "CALIBRATION_PATH",
    "KERNEL_PARENT",
    "Band",
    "Calibration",
    "Constants",
    "HardwareClass",
    "calibration",
    "hardware_class",
    "kernel_engine",
]

CALIBRATION_PATH = Path(__file__).parent / "calibration.json"

# A band rests on at least this many rows; with fewer, the pooled band is widened by
# WIDEN (a margin rigfit chooses: the residuals of a handful of rows say little).
MIN_BAND_ROWS = 5
WIDEN = 1.5


class HardwareClass(StrEnum):
    """Accelerators whose kernels reach like shares of their datasheet figures: by vendor and
    memory technology (HBM needs far more bytes in flight than GDDR to reach its peak, and
    the measurement set shows llama.cpp reaching a smaller share of it), and Apple's unified
    LPDDR."""

    NVIDIA_HBM = "nvidia-hbm"
    NVIDIA_GDDR = "nvidia-gddr"
    AMD_HBM = "amd-hbm"
    AMD_GDDR = "amd-gddr"
    # shared LPDDR on an APU or a desktop superchip that is not Apple's (Strix Halo, DGX Spark)
    LPDDR = "lpddr"
    APPLE = "apple"
    OTHER = "other"


def hardware_class(gpu: GPURecord) -> HardwareClass:
    if gpu.vendor is Vendor.APPLE:
        return HardwareClass.APPLE
    if "LPDDR" in gpu.memory_type.upper():
        return HardwareClass.LPDDR
    hbm = gpu.memory_type.upper().startswith("HBM")
    if gpu.vendor is Vendor.AMD:
        return HardwareClass.AMD_HBM if hbm else HardwareClass.AMD_GDDR
    if gpu.vendor is Vendor.NVIDIA:
        return HardwareClass.NVIDIA_HBM if hbm else HardwareClass.NVIDIA_GDDR
    return HardwareClass.OTHER


def kernel_engine(engine: str) -> str:
    """The engine whose kernels run a plan: Ollama's are llama.cpp's."""
    return "llama.cpp" if engine == "ollama" else engine


# Kernels calibrated apart from the rest of their engine's (a profile's ``kernels``): where
# they have too few rows of their own, their engine's constants are the nearest estimate.
KERNEL_PARENT = {"llama.cpp-vulkan": "llama.cpp"}


@frozen
class Band:
    """Measured/predicted ratios of the calibration rows: the 10th and 90th percentiles."""

    low: float
    high: float
    rows: int


@frozen
class Constants:
    """One engine's constants on one hardware class."""

    key: str
    bandwidth_efficiency: float  # share of the datasheet bandwidth a decode step reaches
    compute_efficiency: float  # share of the datasheet tensor throughput prefill reaches
    layer_overhead_s: float  # per layer per step: kernel launches, sampling, scheduling
    bands: dict[str, Band]
    rows: int  # calibration rows behind these constants
    fallback: str | None = None  # why a wider key was used, in words
    # the same share for block-quantized weights (GGUF k-quants, MLX affine, AWQ/GPTQ
    # through Marlin), whose kernels unpack each block as they read it; None: as 16-bit
    quantized_bandwidth_efficiency: float | None = None
    # the share of the tensor peak llama.cpp's MMQ reaches on quantized blocks, against
    # dense GEMMs
    quantized_compute_efficiency: float | None = None
    # llama.cpp's prompt products on Hopper (MMQ and cuBLAS alike) reach this fraction of the
    # share above: fitted on the H100 rows, which reach about half the share the A100s of the
    # same class reach of their datasheet figures; None: 1 (no such rows)
    hopper_compute_factor: float | None = None
    # per request, before its first token: the server's HTTP, tokenizer and scheduler time a
    # serving benchmark's TTFT counts beyond the prefill (fitted on the TTFT rows)
    request_overhead_s: float = 0.0

    def bandwidth(self, quantized: bool) -> float:
        """The bandwidth share for block-quantized or plain weights."""
        if quantized and self.quantized_bandwidth_efficiency is not None:
            return self.quantized_bandwidth_efficiency
        return self.bandwidth_efficiency

    def compute(self, block_products: bool, hopper: bool = False) -> float:
        """The tensor-throughput share for products on quantized blocks, or dense GEMMs;
        ``hopper``: llama.cpp's products on a Hopper GPU."""
        share = self.compute_efficiency
        if block_products and self.quantized_compute_efficiency is not None:
            share = self.quantized_compute_efficiency
        if hopper and self.hopper_compute_factor is not None:
            share *= self.hopper_compute_factor
        return share

    def band(self, metric: str) -> Band | None:
        return self.bands.get(metric)


@frozen
class Calibration:
    constants: dict[str, Constants]
    # the CPU's share of its RAM's peak bandwidth when it runs offloaded layers or experts
    host_bandwidth_efficiency: float
    # one all-reduce's fixed cost in a tensor-parallel step (launch and synchronisation)
    allreduce_latency_s: float
    meta: dict[str, object]

    def decode_rows(self, key: str) -> int:
        """The decode and serving rows the fit had for ``key`` (an ``engine/class`` pair),
        with or without constants of its own."""
        rows = self.meta.get("decode_fit_rows", {})
        assert isinstance(rows, dict)
        n = rows.get(key, 0)
        assert isinstance(n, int)
        return n

    def lookup(self, engine: str, cls: HardwareClass) -> Constants:
        """The constants of ``engine``'s kernels (a profile's ``kernels``) on ``cls``, or of
        the nearest wider key that has rows, with why and a widened band. Kernels calibrated
        apart from their engine's (:data:`KERNEL_PARENT`) take their own constants over every
        class only on the classes those were fitted on; elsewhere their engine's own constants
        are the nearer estimate."""
        eng = kernel_engine(engine)
        parent = KERNEL_PARENT.get(eng)
        seen = self.decode_rows(f"{eng}/{cls}")
        lacking = (
            f"{seen} {eng} decode and serving rows on {cls} hardware, too few for constants of"
            " their own"
            if seen
            else f"no {eng} decode or serving measurements on {cls} hardware"
        )
        chain: list[tuple[str, str | None]] = [(f"{eng}/{cls}", None)]
        if parent is None or seen:
            chain.append((f"{eng}/*", f"{lacking}: {eng}'s constants over"))
        if parent is not None:
            chain += [
                (f"{parent}/{cls}", f"{lacking}: {parent}'s own constants on {cls} hardware"),
                (f"{parent}/*", f"{lacking}: {parent}'s own constants over"),
            ]
        chain += [
            (f"*/{cls}", f"{lacking}: every engine's constants on {cls} hardware"),
            ("*/*", f"{lacking}: every engine's constants"),
        ]
        for key, why in chain:
            c = self.constants.get(key)
            if c is not None:
                if why is None:
                    return c
                if key.endswith("/*") and key != "*/*":
                    why += " every hardware class"
                # every field carries over (a pooled key's request overhead is 0 by its fit:
                # a server's request handling is never borrowed from another engine's rows)
                return replace(
                    c,
                    bands={
                        m: Band(b.low / WIDEN, b.high * WIDEN, b.rows) for m, b in c.bands.items()
                    },
                    fallback=why + "; band widened ×1.5",
                )
        raise LookupError("the speed calibration has no pooled constants")  # pragma: no cover


def _parse(data: dict[str, object]) -> Calibration:
    consts: dict[str, Constants] = {}
    raw = data["constants"]
    assert isinstance(raw, dict)
    for key, c in raw.items():
        bands = {m: Band(b["low"], b["high"], b["rows"]) for m, b in c["bands"].items()}
        consts[key] = Constants(
            key,
            c["bandwidth_efficiency"],
            c["compute_efficiency"],
            c["layer_overhead_s"],
            bands,
            c["rows"],
            quantized_bandwidth_efficiency=c.get("quantized_bandwidth_efficiency"),
            quantized_compute_efficiency=c.get("quantized_compute_efficiency"),
            hopper_compute_factor=c.get("hopper_compute_factor"),
            request_overhead_s=c.get("request_overhead_s", 0.0),
        )
    host = data["host_bandwidth_efficiency"]
    ar = data["allreduce_latency_s"]
    meta = data["meta"]
    assert isinstance(host, float)
    assert isinstance(ar, float)
    assert isinstance(meta, dict)
    return Calibration(consts, host, ar, meta)


@cache
def calibration() -> Calibration:
    """The committed calibration (``calibration.json``)."""
    return _parse(json.loads(CALIBRATION_PATH.read_text()))
