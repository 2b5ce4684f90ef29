"""One PrimFunc per fused convolution: gather the kept taps, multiply by the packed kept weights, apply the
epilogue; plus the compile-time packing of weights and bias that the PrimFunc expects.

>>> spec = ConvSpec(16, 32, 32, 16, (3, 3), (1, 1), (1, 1, 1, 1), taps, rows, activation=RELU)
>>> packed = pack(spec, tile, weight, bias)
>>> func = conv_kernel(spec, tile, "conv03", packed.zero_bias, x_shape=(1, 16, 32, 32))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tvm
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder import tirx as T

from .epilogue import activate
from .gather import make_gather
from .gemm import emit_tiles, tile_shape
from .spec import ConvSpec
from .tile import Tile


@dataclass(frozen=True)
class Packed:
    """Compile-time constants of one kernel: ``weight[blocks, taps, block]``, ``bias[blocks * block]`` (both
    over kept filters), the bias of each pruned filter (its output is that constant) and, for layers past the
    straight-line budget, the input channel of each kept tap."""

    weight: np.ndarray
    bias: np.ndarray
    zero_bias: tuple[float, ...]
    channels: np.ndarray | None = None

    @property
    def arrays(self) -> list[np.ndarray]:
        """The kernel's constant arguments, in order."""
        return [self.weight, self.bias] + ([self.channels] if self.channels is not None else [])


def pack(spec: ConvSpec, tile: Tile, weight: np.ndarray, bias: np.ndarray) -> Packed:
    """Pack an ``[F, C, KH, KW]`` weight (or ``[F, K]``) and ``[F]`` bias for ``spec`` and ``tile``."""
    weight = weight.reshape(spec.filters, spec.in_channels, *spec.kernel)
    rows = list(spec.rows)
    blocks = -(-len(rows) // tile.block)
    c, kh, kw = (np.array([t[i] for t in spec.taps], dtype=np.int64) for i in range(3))
    kept = weight[rows][:, c, kh, kw] if rows and spec.taps else np.zeros((len(rows), len(spec.taps)))
    packed = np.zeros((blocks * tile.block, len(spec.taps)), np.float32)
    packed[:len(rows)] = kept
    packed = packed.reshape(blocks, tile.block, len(spec.taps)).transpose(0, 2, 1)
    packed_bias = np.zeros(blocks * tile.block, np.float32)
    packed_bias[:len(rows)] = bias[rows]
    zero_bias = tuple(float(bias[f]) for f in zero_rows(spec))
    channels = None if spec.straight_line or spec.identity_gather else np.array([t[0] for t in spec.taps], np.int32)
    return Packed(np.ascontiguousarray(packed), packed_bias, zero_bias, channels)


def zero_rows(spec: ConvSpec) -> list[int]:
    """Filters with no kept weight: their output is the epilogue of their bias."""
    kept = set(spec.rows)
    return [f for f in range(spec.filters) if f not in kept]


def conv_kernel(spec: ConvSpec, tile: Tile, name: str, zero_bias: tuple[float, ...], x_shape: tuple[int, ...],
                out_shape: tuple[int, ...] | None = None) -> tvm.tirx.PrimFunc:
    """The PrimFunc ``name(x, weight, bias[, channels][, residual], out)`` for ``spec``.

    Parameters
    ----------
    spec : ConvSpec
        Layer shape, kept taps and filters, epilogue.
    tile : Tile
        Register tile (see :func:`choose_tile`); the packed weight must use the same.
    name : str
        Symbol name of the kernel.
    zero_bias : tuple of float
        Bias of each filter in :func:`zero_rows` (``Packed.zero_bias``).
    x_shape, out_shape : tuple of int
        Shapes of the input and output tensors as the graph has them (NCHW or ``[1, features]``).
    """
    out_shape = out_shape or (1, spec.filters, spec.out_height, spec.out_width)
    blocks = -(-len(spec.rows) // tile.block)
    with IRBuilder() as builder:
        with T.prim_func():
            T.func_name(name)
            T.func_attr({"tir.noalias": True})
            x = T.arg("x", T.buffer(x_shape, "float32"))
            w = T.arg("weight", T.buffer((blocks, len(spec.taps), tile.block), "float32"))
            bias = T.arg("bias", T.buffer((blocks * tile.block,), "float32"))
            table = not (spec.straight_line or spec.identity_gather)
            channels = T.arg("channels", T.buffer((len(spec.taps),), "int32")) if table else None
            res = T.arg("residual", T.buffer(out_shape, "float32")) if spec.residual else None
            out = T.arg("out", T.buffer(out_shape, "float32"))
            _body(spec, tile, zero_bias, x, (w, bias, channels), res, out)
    return builder.get()


def _body(spec: ConvSpec, tile: Tile, zero_bias, x, consts, res, out) -> None:
    w, bias, channels = consts
    flat = (spec.filters, spec.pixels)
    out2 = T.decl_buffer(flat, "float32", data=out.data)
    res2 = T.decl_buffer(flat, "float32", data=res.data) if res is not None else None

    def epilogue(f, p, value):
        if res2 is not None:
            value = value + res2[f, p]
        return activate(spec.activation, value)

    if spec.rows:
        gather = _gather(spec, tile, x, channels)
        direct = spec.rows == tuple(range(spec.filters))
        if direct:
            emit_tiles(spec, tile, w, bias, gather, lambda r, p, v: T.buffer_store(out2, epilogue(r, p, v), [r, p]))
        else:
            tmp = T.alloc_buffer((len(spec.rows), spec.pixels), "float32")
            emit_tiles(spec, tile, w, bias, gather, lambda r, p, v: T.buffer_store(tmp, v, [r, p]))
            for r, f in enumerate(spec.rows):
                _copy_row(spec.pixels, lambda p: T.buffer_store(out2, epilogue(f, p, tmp[r, p]), [f, p]))
    for f, value in zip(zero_rows(spec), zero_bias):
        _copy_row(spec.pixels, lambda p: T.buffer_store(out2, epilogue(f, p, T.float32(value)), [f, p]))


def _gather(spec: ConvSpec, tile: Tile, x, channels):
    """The per-tile gather factory; a 1x1 stride-1 layer that keeps every channel reads the input in place."""
    if spec.identity_gather:
        flat = T.decl_buffer((spec.in_channels, spec.pixels), "float32", data=x.data)
        return lambda: lambda oy0, rows, ox0, seg: (flat, oy0 * spec.out_width + ox0)
    x3 = T.decl_buffer((spec.in_channels, spec.height, spec.width), "float32", data=x.data)
    return make_gather(spec, x3, *tile_shape(spec, tile), channels)


def _copy_row(pixels: int, store) -> None:
    with T.vectorized(0, pixels) as p:
        store(p)
