"""The tiled loop nest of one layer: per output tile, gather its kept taps into a small L1/L2-resident matrix,
then run a register-blocked micro-kernel ``acc = bias + Wp[block] x col`` over every filter block, and store
through the fused epilogue.

Packed weights ``Wp[blocks, kept taps, block]`` put the ``block`` filters of one tile next to each other
for every tap, so the inner loop reads them with unit stride. A tile is a run of consecutive output pixels:
a segment of one output row, or whole rows when rows are shorter than a tile.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

from tvm.script.ir_builder import tirx as T

from .spec import ConvSpec
from .tile import Tile

Store = Callable[[object, object, object], None]  # store(packed row, pixel, value)
Gather = Callable[[object, int, object, int], tuple]  # gather(oy0, rows, ox0, columns) -> (matrix, pixel base)


def emit_tiles(spec: ConvSpec, tile: Tile, w, bias, gather: Gather, store: Store) -> None:
    """All output tiles of the layer; ``store`` gets the packed-row index, pixel and pre-epilogue value."""
    rows_per, seg = tile_shape(spec, tile)
    micro = partial(_micro_tile, tile.mode == "pixels")

    def one(oy0, nrows: int, ox0, nseg: int):
        col, col_base = gather(oy0, nrows, ox0, nseg)
        out_base = oy0 * spec.out_width + ox0
        over_blocks(len(spec.rows), tile.block, lambda fo, nr: micro(
            len(spec.taps), tile.block, fo, nr, col, col_base, out_base, nrows * nseg, w, bias, store))

    over_blocks(spec.out_height, rows_per, lambda oy, nr: over_blocks(
        spec.out_width, seg, lambda ox, ns: one(oy * rows_per, nr, ox * seg, ns)))


def tile_shape(spec: ConvSpec, tile: Tile) -> tuple[int, int]:
    """(output rows, pixels per row) of one tile; its pixels are always consecutive in the output."""
    if tile.mode == "filters":
        return spec.out_height, spec.out_width
    seg = min(spec.out_width, tile.width)
    return max(1, tile.width // spec.out_width), seg


def over_blocks(total: int, size: int, body: Callable[[object, int], None]) -> None:
    """Call ``body(index, size)`` in a loop over the full blocks, then ``body(full, rest)`` for the remainder."""
    full, rest = divmod(total, size)
    if full == 1:
        body(0, size)
    elif full:
        with T.serial(0, full) as i:
            body(i, size)
    if rest:
        body(full, rest)


def _micro_tile(by_pixels: bool, taps: int, block: int, fo, rows: int, col, col_base, out_base, width: int, w,
                bias, store: Store) -> None:
    """One tile: ``rows`` filters x ``width`` pixels of accumulators, vectorised over pixels (``by_pixels``) or
    over filters, initialised with the bias, accumulated over every kept tap, stored through ``store``."""
    outer, inner = (rows, width) if by_pixels else (width, rows)
    acc = T.alloc_buffer((outer, inner), "float32")

    def nest(body, inner_loop=T.vectorized) -> None:
        with T.unroll(0, outer) as a:
            with inner_loop(0, inner) as b:
                fi, pi = (a, b) if by_pixels else (b, a)
                body(a, b, fi, pi)

    nest(lambda a, b, fi, pi: T.buffer_store(acc, bias[fo * block + fi], [a, b]))
    with T.serial(0, taps) as k:
        nest(lambda a, b, fi, pi: T.buffer_store(acc, acc[a, b] + w[fo, k, fi] * col[k, col_base + pi], [a, b]))
    nest(lambda a, b, fi, pi: store(fo * block + fi, out_base + pi, acc[a, b]),
         T.vectorized if by_pixels else T.serial)
