"""Register tiles: how many filters and output pixels one micro-kernel keeps in vector registers."""
from __future__ import annotations

from dataclasses import dataclass

STACK_FLOATS = 240  # accumulators above 1 KiB go to a heap workspace in TVM and are no longer registers
ACCUMULATORS = 12  # vector accumulators per tile: enough independent FMAs to hide their latency


@dataclass(frozen=True)
class Tile:
    """``pixels`` mode vectorises over output pixels (``block`` filters x ``width`` pixels per tile);
    ``filters`` mode, for layers with fewer pixels than a vector holds, vectorises over ``block`` filters
    and keeps all ``width`` pixels."""

    mode: str
    block: int
    width: int


def choose_tile(pixels: int, lanes: int, registers: int, accumulators: int = ACCUMULATORS) -> Tile:
    """The tile for a layer with ``pixels`` outputs per channel on a CPU with ``lanes`` float32 lanes per
    vector and ``registers`` vector registers, using up to ``accumulators`` vector accumulators.

    12 beat 8 by 3-15% on the AVX-512 host (``benchmarks/results/kernel_tiles.md``).
    """
    accumulators = min(accumulators, registers - 4)
    if pixels >= lanes:
        width = lanes * 2 if pixels >= lanes * 2 else lanes
        block = max(1, min(accumulators // (width // lanes), (STACK_FLOATS - 1) // width))
        return Tile("pixels", block, width)
    block = lanes * 2 if pixels * 2 <= accumulators and pixels * lanes * 2 <= STACK_FLOATS else lanes
    return Tile("filters", block, pixels)
