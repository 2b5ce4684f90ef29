"""The tiled loop nest of one layer: per output tile, gather its kept taps into a small L1/L2-resident matrix,
then run a register-blocked micro-kernel ``acc = bias + Wp[block] x col`` over every filter block, and store
through the fused epilogue.

Packed weights ``Wp[blocks, kept taps, block]`` put the ``block`` filters of one tile next to each other
for every tap, so the inner loop reads them with unit stride. A tile is a run of consecutive output pixels:
a segment of one output row, or whole rows when rows are shorter than a tile.

Blocks of taps (``Tile.tap_block``, tiles of a row loop only): each tile runs its taps in passes, every pass
over all filter blocks, partial sums kept in a per-task buffer between passes, so the slice of the gathered
matrix a pass reads stays in L1. Each output is still one sum in tap order: the same bits as one pass.

Threads: the loop over rows of tiles is a ``parallel`` loop (TVM lowers it to one ``TVMBackendParallelLaunch``
per layer, each task a contiguous range of rows with its own gathered matrix); a layer that is a single tile
runs its filter blocks in parallel instead. Every output is the same sum in the same order whatever the
number of threads, so results are bit-identical.
"""
from __future__ import annotations

from typing import Callable

from tvm.script.ir_builder import tirx as T

from .spec import ConvSpec
from .tile import Tile

Store = Callable[[object, object, object], None]  # store(packed row, pixel, value)
Gather = Callable[[object, int, object, int], tuple]  # gather(oy0, rows, ox0, columns) -> (matrix, pixel base)
NewGather = Callable[[], Gather]  # allocates one task's gathered matrix where it is called
Init = Callable[[object, object], object]  # init(packed row, pixel) -> an accumulator's starting value


def emit_tiles(spec: ConvSpec, tile: Tile, w, bias, new_gather: NewGather, store: Store) -> None:
    """All output tiles of the layer; ``store`` gets the packed-row index, pixel and pre-epilogue value."""
    rows_per, seg = tile_shape(spec, tile)
    spans = tap_spans(len(spec.taps), tile.tap_block)

    def one(gather: Gather, oy0, nrows: int, ox0, nseg: int, loop=T.serial, part=None):
        col, col_base = gather(oy0, nrows, ox0, nseg)
        out_base = oy0 * spec.out_width + ox0

        def blocks(k0, taps: int, init: Init, finish: Store) -> None:
            over_blocks(len(spec.rows), tile.block, lambda fo, nr: _micro_tile(
                tile, k0, taps, fo, nr, (col, col_base), nrows * nseg, w, init, finish), loop)

        from_bias, to_output = (lambda f, p: bias[f]), (lambda f, p, v: store(f, out_base + p, v))
        if part is None:
            blocks(0, len(spec.taps), from_bias, to_output)
            return
        load, save = (lambda f, p: part[f, p]), (lambda f, p, v: T.buffer_store(part, v, [f, p]))
        (_, size), (last, rest) = spans[0], spans[-1]
        blocks(0, size, from_bias, save)
        if len(spans) > 2:
            with T.serial(1, len(spans) - 1) as b:
                blocks(b * size, size, load, save)
        blocks(last, rest, load, to_output)

    if rows_per >= spec.out_height and seg >= spec.out_width:
        one(new_gather(), 0, spec.out_height, 0, spec.out_width, T.parallel)
        return

    def row(oy, nr: int):
        gather = new_gather()
        part = T.alloc_buffer((len(spec.rows), rows_per * seg), "float32") if len(spans) > 1 else None
        over_blocks(spec.out_width, seg, lambda ox, ns: one(gather, oy * rows_per, nr, ox * seg, ns, part=part))

    over_blocks(spec.out_height, rows_per, row, T.parallel)


def tap_spans(taps: int, block: int) -> list[tuple[int, int]]:
    """``(first tap, taps)`` of each pass: ``taps`` split into passes of at most ``block`` (0: one pass), all of
    one size but the last, which may be shorter."""
    passes = -(-taps // block) if 0 < block < taps else 1
    size = -(-taps // passes)
    return [(k, min(size, taps - k)) for k in range(0, taps, size)] if taps else [(0, 0)]


def tile_shape(spec: ConvSpec, tile: Tile) -> tuple[int, int]:
    """(output rows, pixels per row) of one tile; its pixels are always consecutive in the output."""
    if tile.mode == "filters":
        return spec.out_height, spec.out_width
    seg = min(spec.out_width, tile.width)
    return max(1, tile.width // spec.out_width), seg


def over_blocks(total: int, size: int, body: Callable[[object, int], None], loop=T.serial) -> None:
    """Call ``body(index, size)`` in a ``loop`` over the full blocks, then ``body(full, rest)`` for the
    remainder."""
    full, rest = divmod(total, size)
    if full == 1:
        body(0, size)
    elif full:
        with loop(0, full) as i:
            body(i, size)
    if rest:
        body(full, rest)


def _micro_tile(tile: Tile, k0, taps: int, fo, rows: int, gathered: tuple, width: int, w, init: Init,
                finish: Store) -> None:
    """One tile over taps ``k0 .. k0 + taps``: ``rows`` filters x ``width`` pixels of accumulators, vectorised
    over pixels (``pixels`` mode) or over filters, started from ``init`` (the bias, or the partial sums of the
    previous taps), handed to ``finish`` with the tile's pixel index."""
    col, col_base = gathered
    by_pixels = tile.mode == "pixels"
    outer, inner = (rows, width) if by_pixels else (width, rows)
    # one buffer per vector row: TVM puts a buffer above 1 KiB on the heap, where it is no longer registers
    acc = [T.alloc_buffer((inner,), "float32") for _ in range(outer)]

    def nest(body, inner_loop=T.vectorized) -> None:
        for a in range(outer):
            with inner_loop(0, inner) as b:
                fi, pi = (a, b) if by_pixels else (b, a)
                body(acc[a], b, fi, pi)

    def vector(k, b):
        return col[k, col_base + b] if by_pixels else w[fo, k, b]

    def tap(k) -> None:
        if tile.prefetch:
            _prefetch(w, fo, k + tile.prefetch)
        if not tile.lane_fma:
            nest(lambda row, b, fi, pi: T.buffer_store(row, row[b] + w[fo, k, fi] * col[k, col_base + pi], [b]))
            return
        for row, scalar in zip(acc, _lane_scalars(tile, k, fo, outer, col, col_base, w)):
            with T.vectorized(0, inner) as b:
                T.buffer_store(row, row[b] + scalar * vector(k, b), [b])

    nest(lambda row, b, fi, pi: T.buffer_store(row, init(fo * tile.block + fi, pi), [b]))
    _over_taps(taps, tile.unroll, lambda k: tap(k0 + k))
    nest(lambda row, b, fi, pi: finish(fo * tile.block + fi, pi, row[b]), T.vectorized if by_pixels else T.serial)


def _prefetch(w, fo, k) -> None:
    """Prefetch (for reading, into every cache level) the packed weights of block ``fo`` at tap ``k``. Past the
    last tap the address runs into the next block, or past the buffer: a prefetch never faults."""
    T.evaluate(T.call_llvm_intrin("void", "llvm.prefetch.p0", T.address_of(w[fo, k, 0]), T.int32(0), T.int32(3),
                                  T.int32(1)))


def _lane_scalars(tile: Tile, k, fo, outer: int, col, col_base, w) -> list:
    """The ``outer`` broadcast operands of tap ``k`` (weights of the block's filters, or gathered values of the
    tile's pixels) as lanes of vectors read ``lanes`` at a time. In ``pixels`` mode a read may run into the
    packed block's zero padding, never past it."""
    by_pixels, lanes = tile.mode == "pixels", tile.lane_fma
    limit, base = (tile.block, 0) if by_pixels else (outer, col_base)
    scalars = []
    for g in range(0, outer, lanes):
        n = min(lanes, limit - g)
        index = T.Ramp(base + g, 1, n) if n > 1 else base + g
        vec = T.bind(w[fo, k, index] if by_pixels else col[k, index])
        scalars += [T.Shuffle([vec], [i]) if n > 1 else vec for i in range(min(n, outer - g))]
    return scalars


def _over_taps(taps: int, unroll: int, body: Callable[[object], None]) -> None:
    """``body(k)`` for every tap, ``unroll`` taps per loop iteration, the remainder after the loop."""
    if unroll == 1:
        with T.serial(0, taps) as k:
            body(k)
        return
    full = taps // unroll
    if full:
        with T.serial(0, full) as ko:
            for i in range(unroll):
                body(ko * unroll + i)
    for k in range(full * unroll, taps):
        body(k)
