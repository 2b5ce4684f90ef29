"""Register tiles: how many filters and output pixels one micro-kernel keeps in vector registers."""
from __future__ import annotations

from dataclasses import dataclass

STACK_FLOATS = 240  # accumulators above 1 KiB go to a heap workspace in TVM and are no longer registers


@dataclass(frozen=True)
class Tile:
    """``pixels`` mode vectorises over output pixels (``block`` filters x ``width`` pixels per tile);
    ``filters`` mode, for layers with fewer pixels than a vector holds, vectorises over ``block`` filters
    and keeps all ``width`` pixels."""

    mode: str
    block: int
    width: int


def choose_tile(pixels: int, lanes: int, registers: int) -> Tile:
    """The tile for a layer with ``pixels`` outputs per channel on a CPU with ``lanes`` float32 lanes per
    vector and ``registers`` vector registers (accumulators take at most half of them)."""
    if pixels >= lanes:
        vectors = 4 if registers >= 32 and lanes <= 4 else 2
        return Tile("pixels", 4, lanes * vectors if pixels >= lanes * vectors else lanes)
    block = lanes * 2 if pixels * lanes * 2 <= min(STACK_FLOATS, registers // 2 * lanes) else lanes
    return Tile("filters", block, pixels)
