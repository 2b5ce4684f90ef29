"""The micro-kernel GEMM over the gathered matrix: ``acc[tile] = bias + Wp[block] x col``, accumulators in
registers, then the fused epilogue on the way out.

Packed weights ``Wp[blocks, kept taps, block]`` put the ``block`` filters of one tile next to each other
for every tap, so the inner loop reads them with unit stride.
"""
from __future__ import annotations

from typing import Callable

from tvm.script.ir_builder import tirx as T

from .spec import ConvSpec
from .tile import Tile

Store = Callable[[object, object, object], None]  # store(row, pixel, value)


def emit_gemm(spec: ConvSpec, tile: Tile, col, w, bias, store: Store) -> None:
    """All tiles of the layer; ``store`` receives packed-row index, pixel and pre-epilogue value.

    The outer loop runs over whichever operand is cheaper to stream again: the packed weights once per
    pixel tile, or the gathered matrix once per filter block.
    """
    tile_fn = _pixel_tile if tile.mode == "pixels" else _filter_tile
    rows, taps = len(spec.rows), len(spec.taps)

    def one(fo, nrows, po, width):
        tile_fn(taps, tile.block, fo, nrows, po * tile.width, width, col, w, bias, store)

    if _weights_reread(rows, spec.pixels, tile) <= _gathered_reread(rows, spec.pixels, tile):
        over_blocks(spec.pixels, tile.width, lambda po, width: over_blocks(
            rows, tile.block, lambda fo, nrows: one(fo, nrows, po, width)))
    else:
        over_blocks(rows, tile.block, lambda fo, nrows: over_blocks(
            spec.pixels, tile.width, lambda po, width: one(fo, nrows, po, width)))


def _weights_reread(rows: int, pixels: int, tile: Tile) -> int:
    return -(-rows // tile.block) * tile.block * -(-pixels // tile.width)


def _gathered_reread(rows: int, pixels: int, tile: Tile) -> int:
    return pixels * -(-rows // tile.block)


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


def _pixel_tile(taps: int, block: int, fo, rows: int, p0, width: int, col, w, bias, store: Store) -> None:
    acc = T.alloc_buffer((rows, width), "float32")
    with T.unroll(0, rows) as fi:
        with T.vectorized(0, width) as pi:
            T.buffer_store(acc, bias[fo * block + fi], [fi, pi])
    with T.serial(0, taps) as k:
        with T.unroll(0, rows) as fi:
            with T.vectorized(0, width) as pi:
                T.buffer_store(acc, acc[fi, pi] + w[fo, k, fi] * col[k, p0 + pi], [fi, pi])
    with T.unroll(0, rows) as fi:
        with T.vectorized(0, width) as pi:
            store(fo * block + fi, p0 + pi, acc[fi, pi])


def _filter_tile(taps: int, block: int, fo, rows: int, p0, width: int, col, w, bias, store: Store) -> None:
    acc = T.alloc_buffer((width, rows), "float32")
    with T.unroll(0, width) as pi:
        with T.vectorized(0, rows) as fi:
            T.buffer_store(acc, bias[fo * block + fi], [pi, fi])
    with T.serial(0, taps) as k:
        with T.unroll(0, width) as pi:
            with T.vectorized(0, rows) as fi:
                T.buffer_store(acc, acc[pi, fi] + w[fo, k, fi] * col[k, p0 + pi], [pi, fi])
    with T.unroll(0, width) as pi:
        with T.serial(0, rows) as fi:
            store(fo * block + fi, p0 + pi, acc[pi, fi])
