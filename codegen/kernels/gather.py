"""The restricted im2col, one output tile at a time: copy only the kept taps of the input pixels a tile needs
into the rows of a small gathered matrix that stays in cache while every filter block uses it.

The input is first copied into a zero-padded buffer (when the layer pads), so every run of kept taps is one
loop nest with constant bounds and offsets: straight-line code, no index array read at run time. Past
``RUN_BUDGET`` runs, LLVM's compile time explodes, so such layers loop over the taps of each kernel offset and
read each tap's channel from a constant table: one load per gathered row of a tile, never inside the copy or
the GEMM loops.
"""
from __future__ import annotations

from functools import partial

from tvm.script.ir_builder import tirx as T

from .spec import ConvSpec


def make_gather(spec: ConvSpec, x, tile_rows: int, seg: int, channels=None):
    """A gather factory for :func:`emit_tiles`: each call allocates the gathered matrix ``col[(kept taps),
    (tile_rows x seg pixels)]`` where it is called (inside each parallel task) and returns the callback that
    fills it from ``x[C, H, W]``; ``channels[t]`` (int32) is the input channel of tap ``t``, needed when
    ``spec.straight_line`` is false. When tiles span whole rows (``seg == spec.out_width``), padding is
    resolved per row (a branch) and per column (compile-time ranges) and the input is read in place;
    otherwise a zero-padded copy is made first, once, here."""
    padded = seg < spec.out_width and any(spec.padding)
    src = _padded(spec, x) if padded else x
    (sh, sw), (top, left) = spec.stride, spec.padding[:2]

    def new_gather():
        col = T.alloc_buffer((len(spec.taps), tile_rows * seg), "float32")
        return partial(gather, col)

    def gather(col, oy0, rows: int, ox0, seg: int):
        def copy(row, channel, kh: int, kw: int):
            with T.serial(0, rows) as r:
                if padded:
                    _copy_row(spec, src, col, row, r * seg, channel, (oy0 + r) * sh + kh, ox0, kw, (0, seg), seg)
                    return
                iy = (oy0 + r) * sh + kh - top
                columns = valid_range(kw - left, sw, spec.width, seg)
                if not _may_leave_rows(spec, kh - top):
                    _copy_row(spec, src, col, row, r * seg, channel, iy, ox0, kw - left, columns, seg)
                    return
                with T.If(T.And(iy >= 0, iy < spec.height)):
                    with T.Then():
                        _copy_row(spec, src, col, row, r * seg, channel, iy, ox0, kw - left, columns, seg)
                    with T.Else():
                        _zero(col, row, r * seg, seg)

        if spec.straight_line:
            for run in spec.runs:
                with T.serial(0, run.count) as c:
                    copy(run.t0 + c, run.c0 + c, run.kh, run.kw)
        else:
            for group in spec.offset_groups:
                with T.serial(0, group.count) as t:
                    copy(group.t0 + t, channels[group.t0 + t], group.kh, group.kw)
        return col, 0

    return new_gather


def valid_range(offset: int, stride: int, size: int, out: int) -> tuple[int, int]:
    """Output columns ``[lo, hi)`` whose input column ``o * stride + offset`` lies inside ``[0, size)``."""
    lo = max(0, -(offset // stride))
    last = size - 1 - offset
    hi = min(out, last // stride + 1) if last >= 0 else 0
    return lo, max(lo, hi)


def _may_leave_rows(spec: ConvSpec, offset: int) -> bool:
    return offset < 0 or (spec.out_height - 1) * spec.stride[0] + offset >= spec.height


def _copy_row(spec: ConvSpec, src, col, row, base, channel, iy, ox0, offset: int, columns: tuple[int, int],
              seg: int) -> None:
    lo, hi = columns
    _zero(col, row, base, lo)
    if hi > lo:
        with T.vectorized(0, hi - lo) as j:
            T.buffer_store(col, src[channel, iy, (ox0 + lo + j) * spec.stride[1] + offset], [row, base + lo + j])
    _zero(col, row, base + hi, seg - hi)


def _zero(col, row, base, count: int) -> None:
    if count > 0:
        with T.vectorized(0, count) as j:
            T.buffer_store(col, T.float32(0), [row, base + j])


def _padded(spec: ConvSpec, x):
    """The zero-padded copy of the input channels that some kept tap reads (all of them for a table gather)."""
    top, left, bottom, right = spec.padding
    height, width = spec.height + top + bottom, spec.width + left + right
    padded = T.alloc_buffer((spec.in_channels, height, width), "float32")
    spans = channel_spans(spec) if spec.straight_line else [(0, spec.in_channels)]
    for first, count in spans:
        with T.serial(first, first + count) as c:
            for rows in ((0, top), (top + spec.height, bottom)):
                _zero_rows(padded, c, rows[0], rows[1], width)
            with T.serial(top, top + spec.height) as y:
                for start, length in ((0, left), (left + spec.width, right)):
                    if length:
                        with T.vectorized(0, length) as i:
                            T.buffer_store(padded, T.float32(0), [c, y, start + i])
                with T.vectorized(0, spec.width) as i:
                    T.buffer_store(padded, x[c, y - top, i], [c, y, left + i])
    return padded


def channel_spans(spec: ConvSpec) -> list[tuple[int, int]]:
    """Consecutive runs ``(first, count)`` of the input channels that at least one kept tap reads."""
    spans: list[tuple[int, int]] = []
    for c in sorted({c for c, _, _ in spec.taps}):
        if spans and sum(spans[-1]) == c:
            spans[-1] = (spans[-1][0], spans[-1][1] + 1)
        else:
            spans.append((c, 1))
    return spans


def _zero_rows(buf, c, start: int, count: int, width: int) -> None:
    if count:
        with T.serial(start, start + count) as y:
            with T.vectorized(0, width) as i:
                T.buffer_store(buf, T.float32(0), [c, y, i])
