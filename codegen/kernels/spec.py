"""What one fused convolution kernel computes: shapes, the kept taps and filters, and the fused epilogue.

A conv weight is viewed as a matrix with one row per filter and one column per tap ``(c, kh, kw)``. A kernel
is specialised to the columns and rows that hold a nonzero weight: pruned columns are never gathered and
pruned rows are never multiplied. A dense layer is the case where every tap and every filter is kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .epilogue import Activation

RUN_BUDGET = 64  # runs emitted as straight-line code; LLVM time grows faster than linearly beyond this


@dataclass(frozen=True)
class Run:
    """Consecutive input channels ``c0 .. c0+count-1`` read at the same kernel offset ``(kh, kw)``; they fill
    rows ``t0 .. t0+count-1`` of the gathered matrix."""

    kh: int
    kw: int
    c0: int
    count: int
    t0: int


@dataclass(frozen=True)
class ConvSpec:
    """A batch-1 NCHW float32 convolution (a linear layer is a 1x1 one on a 1x1 image) with its epilogue:
    ``out = activation(W * x + bias + residual?)``. A depthwise one (``groups == in_channels == filters``)
    has one tap column per kernel offset, ``(0, kh, kw)``: filter ``f`` reads input channel ``f`` there."""

    in_channels: int
    height: int
    width: int
    filters: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    taps: tuple[tuple[int, int, int], ...] = ()  # kept (c, kh, kw), in gathered-row order
    rows: tuple[int, ...] = ()  # kept filters, ascending
    residual: bool = False
    activation: Activation = ()  # steps after bias and residual, see epilogue.py
    groups: int = 1  # 1, or in_channels for a depthwise convolution

    @property
    def out_height(self) -> int:
        return (self.height + self.padding[0] + self.padding[2] - self.kernel[0]) // self.stride[0] + 1

    @property
    def out_width(self) -> int:
        return (self.width + self.padding[1] + self.padding[3] - self.kernel[1]) // self.stride[1] + 1

    @property
    def pixels(self) -> int:
        return self.out_height * self.out_width

    @property
    def depthwise(self) -> bool:
        return self.groups > 1

    @property
    def total_taps(self) -> int:
        return self.in_channels // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def useful_macs(self) -> int:
        """Multiply-adds on kept weights only (what the kernel executes, tile padding aside)."""
        return len(self.rows) * len(self.taps) * self.pixels

    @property
    def dense_macs(self) -> int:
        return self.filters * self.total_taps * self.pixels

    @property
    def identity_gather(self) -> bool:
        """True when the gathered matrix is the input itself (1x1, stride 1, no padding, every channel kept)."""
        return (self.kernel == (1, 1) and self.stride == (1, 1) and not any(self.padding)
                and self.taps == tuple((c, 0, 0) for c in range(self.in_channels)))

    @cached_property
    def runs(self) -> tuple[Run, ...]:
        """The kept taps grouped into runs of consecutive channels at one kernel offset."""
        runs: list[Run] = []
        for t, (c, kh, kw) in enumerate(self.taps):
            last = runs[-1] if runs else None
            if last and (last.kh, last.kw) == (kh, kw) and last.c0 + last.count == c:
                runs[-1] = Run(kh, kw, last.c0, last.count + 1, last.t0)
            else:
                runs.append(Run(kh, kw, c, 1, t))
        return tuple(runs)

    @property
    def straight_line(self) -> bool:
        """True when every run becomes its own loop nest with constant offsets (no channel table)."""
        return len(self.runs) <= RUN_BUDGET

    @cached_property
    def offset_groups(self) -> tuple[Run, ...]:
        """The kept taps grouped by kernel offset only (``c0`` unused): the loops of the channel-table gather."""
        groups: list[Run] = []
        for t, (_, kh, kw) in enumerate(self.taps):
            if groups and (groups[-1].kh, groups[-1].kw) == (kh, kw):
                last = groups[-1]
                groups[-1] = Run(kh, kw, 0, last.count + 1, last.t0)
            else:
                groups.append(Run(kh, kw, 0, 1, t))
        return tuple(groups)


def order_taps(taps) -> tuple[tuple[int, int, int], ...]:
    """Gathered-row order: by kernel offset, then channel, so consecutive channels form runs."""
    return tuple(sorted(((int(c), int(kh), int(kw)) for c, kh, kw in taps), key=lambda t: (t[1], t[2], t[0])))
