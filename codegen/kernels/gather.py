"""The restricted im2col, one output tile at a time: copy only the kept taps of the input pixels a tile needs
into the rows of a small gathered matrix that stays in cache while every filter block uses it.

The input is first copied into a zero-padded buffer (when the layer pads), so every run of kept taps is one
loop nest with constant bounds and offsets: straight-line code, no index array read at run time. Past
``RUN_BUDGET`` runs, LLVM's compile time explodes, so such layers loop over the taps of each kernel offset and
read each tap's channel from a constant table: one load per gathered row of a tile, never inside the copy or
the GEMM loops.
"""
from __future__ import annotations

from tvm.script.ir_builder import tirx as T

from .spec import ConvSpec


def make_gather(spec: ConvSpec, x, col, channels=None):
    """A gather callback for :func:`emit_tiles` filling ``col[(kept taps), (tile pixels)]`` from ``x[C, H, W]``;
    ``channels[t]`` (int32) is the input channel of tap ``t``, needed when ``spec.straight_line`` is false."""
    src = _padded(spec, x) if any(spec.padding) else x

    def gather(oy0, rows: int, ox0, seg: int):
        def copy(row, channel, kh: int, kw: int):
            with T.serial(0, rows) as r:
                with T.vectorized(0, seg) as j:
                    iy = (oy0 + r) * spec.stride[0] + kh
                    ix = (ox0 + j) * spec.stride[1] + kw
                    T.buffer_store(col, src[channel, iy, ix], [row, r * seg + j])

        if spec.straight_line:
            for run in spec.runs:
                with T.serial(0, run.count) as c:
                    copy(run.t0 + c, run.c0 + c, run.kh, run.kw)
        else:
            for group in spec.offset_groups:
                with T.serial(0, group.count) as t:
                    copy(group.t0 + t, channels[group.t0 + t], group.kh, group.kw)
        return col, 0

    return gather


def _padded(spec: ConvSpec, x):
    top, left, bottom, right = spec.padding
    height, width = spec.height + top + bottom, spec.width + left + right
    padded = T.alloc_buffer((spec.in_channels, height, width), "float32")
    with T.serial(0, spec.in_channels) as c:
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


def _zero_rows(buf, c, start: int, count: int, width: int) -> None:
    if count:
        with T.serial(start, start + count) as y:
            with T.vectorized(0, width) as i:
                T.buffer_store(buf, T.float32(0), [c, y, i])
