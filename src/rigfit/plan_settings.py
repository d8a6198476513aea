"""The planner's settings: what a plan ranks by, how many devices it may use, the formats it
tries, and the context "which models run here?" holds.

They live apart from :mod:`rigfit.planner` so that the CLI, the web form and the MCP tool can
declare their options without importing the planner's search (docs/benchmarks.md: the cold
start).
"""

from __future__ import annotations

from enum import StrEnum

from rigfit.quant import WeightFormat

__all__ = ["DEFAULT_FORMATS", "DEFAULT_MAX_GPUS", "FITS_CTX_TOKENS", "FITS_FORMATS", "Minimize"]

# One node: rigfit prices the links inside a node (NVLink, PCIe), not the network between
# nodes, so a plan that needs more devices is out of its reach unless --max-gpus says so.
DEFAULT_MAX_GPUS = 8

# The formats a plan tries besides the checkpoint's own: the GPU servers' 8-bit and 4-bit
# (FP8, AWQ) and llama.cpp's common GGUF types from near-lossless to the usual 4-bit.
DEFAULT_FORMATS = (
    WeightFormat.BF16,
    WeightFormat.FP8,
    WeightFormat.AWQ,
    WeightFormat.Q8_0,
    WeightFormat.Q6_K,
    WeightFormat.Q5_K_M,
    WeightFormat.Q4_K_M,
)


class Minimize(StrEnum):
    """What the ranking puts first."""

    GPUS = "gpus"  # fewest devices
    PRICE = "price"  # purchase price of the devices
    RENT = "rent"  # on-demand hourly rent of the devices
    POWER = "power"  # board power of the devices (TDP): the most they draw
    ENERGY = "energy"  # joules per output token: board power over all users' tokens/s

    @property
    def label(self) -> str:
        """In words, for forms."""
        return {
            "gpus": "fewest devices",
            "price": "purchase price",
            "rent": "hourly rent",
            "power": "board power",
            "energy": "energy per token",
        }[self.value]


# The formats "which models run here?" tries, most precise first: the checkpoint's own, then
# the 8-bit formats, then llama.cpp's GGUF types down to 3 bits (below that quality falls
# off, and a user should choose it knowingly with --quant).
FITS_FORMATS = (
    WeightFormat.FP8,
    WeightFormat.Q8_0,
    WeightFormat.Q6_K,
    WeightFormat.Q5_K_M,
    WeightFormat.Q4_K_M,
    WeightFormat.Q3_K_M,
)


# The context "which models run here?" holds by default: a working length for a chat turn with
# some history, shorter than the plan's so a small machine still lists what it runs.
FITS_CTX_TOKENS = 4096
