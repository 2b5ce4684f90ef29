"""Register tiles: how many filters and output pixels one micro-kernel keeps in vector registers, and how it
reads the operand it broadcasts."""
from __future__ import annotations

from dataclasses import dataclass

STACK_FLOATS = 240  # accumulators above 1 KiB go to a heap workspace in TVM and are no longer registers
ACCUMULATORS = 12  # vector accumulators per tile on x86: enough independent FMAs to hide their latency
NEON_ACCUMULATORS = 24  # of NEON's 32 registers: 24 accumulators, 2 gathered vectors, 3 weight vectors
NEON_TAP_UNROLL = 2  # taps per iteration of the NEON tap loop: halves its counter, compare and branch


@dataclass(frozen=True)
class Tile:
    """``pixels`` mode vectorises over output pixels (``block`` filters x ``width`` pixels per tile);
    ``filters`` mode, for layers with fewer pixels than a vector holds, vectorises over ``block`` filters
    and keeps all ``width`` pixels.

    ``lane_fma``: the broadcast operand (a weight per filter, or a gathered value per pixel) is read a vector
    at a time and each multiply-add takes one lane of it (NEON's ``fmla v, v, v.s[i]``), instead of one
    broadcast load per use. ``unroll``: taps per iteration of the tap loop."""

    mode: str
    block: int
    width: int
    lane_fma: int = 0  # lanes per vector read of the broadcast operand; 0: a broadcast load per use
    unroll: int = 1


def is_neon(lanes: int, registers: int) -> bool:
    """32 vector registers of 4 float32 lanes: AArch64 NEON (x86 has 16 registers at 4 lanes, or wider ones)."""
    return lanes == 4 and registers == 32


def choose_tile(pixels: int, lanes: int, registers: int, accumulators: int | None = None) -> Tile:
    """The tile for a layer with ``pixels`` outputs per channel on a CPU with ``lanes`` float32 lanes per
    vector and ``registers`` vector registers, using up to ``accumulators`` vector accumulators (default:
    ``NEON_ACCUMULATORS`` on NEON, else ``ACCUMULATORS``).

    On x86, 12 beat 8 by 3-15% on the AVX-512 host (``benchmarks/results/kernels/kernel_tiles.md``), and the
    FMA folds its broadcast load. On NEON, 24 accumulators with lane-indexed FMAs and two taps per loop
    iteration execute 0.7x the instructions of the x86 tile (``benchmarks/results/kernels/arm64.md``).
    """
    neon = is_neon(lanes, registers)
    if accumulators is None:
        accumulators = NEON_ACCUMULATORS if neon else ACCUMULATORS
    accumulators = min(accumulators, registers - 4)
    unroll = NEON_TAP_UNROLL if neon else 1
    if pixels >= lanes:
        width = lanes * 2 if pixels >= lanes * 2 else lanes
        block = max(1, min(accumulators // (width // lanes), (STACK_FLOATS - 1) // width))
        return Tile("pixels", block, width, lanes if neon else 0, unroll)
    block = lanes * 2 if pixels * 2 <= accumulators and pixels * lanes * 2 <= STACK_FLOATS else lanes
    return Tile("filters", block, pixels, lanes if neon else 0, unroll)
