"""One PrimFunc per fused depthwise convolution: every output pixel is a short fixed sum over the kept kernel
offsets of its own channel, so the kernel computes it directly, vectorised along output rows, with the taps'
weights as loop-invariant scalars and the epilogue (bias, residual, activation) in the same expression.

A padded or strided layer first copies each channel into a zero-bordered buffer split into ``stride`` column
phases (``phase[p, y, i] = padded[y, i * stride + p]``), so every tap reads consecutive floats. Channels that
keep no tap are their epilogue of the bias.

>>> spec = conv_spec(weight, (96, 32, 32), (2, 2), (1, 1, 1, 1), False, RELU6, groups=96)
>>> func = depthwise_kernel(spec, "dw03", x_shape=(1, 96, 32, 32))
>>> args = [x, *pack_depthwise(spec, weight, bias), out]
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder import tirx as T

from .epilogue import activate
from .gather import valid_range
from .spec import RUN_BUDGET, ConvSpec


def pack_depthwise(spec: ConvSpec, weight: np.ndarray, bias: np.ndarray) -> list[np.ndarray]:
    """The kernel's constant arguments: ``weight[F, kept offsets]`` and ``bias[F]``."""
    kh, kw = (np.array([t[i] for t in spec.taps], dtype=np.int64) for i in (1, 2))
    flat = weight.reshape(spec.filters, *spec.kernel)[:, kh, kw]
    return [np.ascontiguousarray(flat, dtype=np.float32), np.ascontiguousarray(bias, dtype=np.float32)]


def channel_runs(spec: ConvSpec) -> list[tuple[int, int, bool]]:
    """``(first, count, kept)`` runs of consecutive channels that do or do not keep a tap; one run of all
    channels (computed alike; a channel without taps sums to its bias) past ``RUN_BUDGET``."""
    kept = set(spec.rows)
    runs: list[tuple[int, int, bool]] = []
    for c in range(spec.filters):
        if runs and runs[-1][2] == (c in kept):
            runs[-1] = (runs[-1][0], runs[-1][1] + 1, runs[-1][2])
        else:
            runs.append((c, 1, c in kept))
    return runs if len(runs) <= RUN_BUDGET else [(0, spec.filters, True)]


def depthwise_kernel(spec: ConvSpec, name: str, x_shape: tuple[int, ...],
                     out_shape: tuple[int, ...] | None = None) -> tvm.tirx.PrimFunc:
    """The PrimFunc ``name(x, weight, bias[, residual], out)`` for a depthwise ``spec``.

    Parameters
    ----------
    spec : ConvSpec
        Layer shape (``groups == in_channels == filters``), kept kernel offsets and channels, epilogue.
    name : str
        Symbol name of the kernel.
    x_shape, out_shape : tuple of int
        Shapes of the input and output tensors as the graph has them (NCHW).
    """
    out_shape = out_shape or (1, spec.filters, spec.out_height, spec.out_width)
    with IRBuilder() as builder:
        with T.prim_func():
            T.func_name(name)
            T.func_attr({"tir.noalias": True})
            x = T.arg("x", T.buffer(x_shape, "float32"))
            w = T.arg("weight", T.buffer((spec.filters, len(spec.taps)), "float32"))
            bias = T.arg("bias", T.buffer((spec.filters,), "float32"))
            res = T.arg("residual", T.buffer(out_shape, "float32")) if spec.residual else None
            out = T.arg("out", T.buffer(out_shape, "float32"))
            _body(spec, x, w, bias, res, out)
    return builder.get()


def _body(spec: ConvSpec, x, w, bias, res, out) -> None:
    planes = (spec.filters, spec.out_height, spec.out_width)
    out3 = T.decl_buffer(planes, "float32", data=out.data)
    res3 = T.decl_buffer(planes, "float32", data=res.data) if res is not None else None
    read = _reader(spec, T.decl_buffer((spec.in_channels, spec.height, spec.width), "float32", data=x.data))

    def store(c, oy, ox, value):
        if res3 is not None:
            value = value + res3[c, oy, ox]
        T.buffer_store(out3, activate(spec.activation, value), [c, oy, ox])

    for first, count, kept in channel_runs(spec):
        with T.serial(first, first + count) as c:
            load = read(c) if kept and spec.taps else None
            with T.serial(0, spec.out_height) as oy:
                with T.vectorized(0, spec.out_width) as ox:
                    total = bias[c]
                    for t, (_, kh, kw) in enumerate(spec.taps if load else ()):
                        total = total + w[c, t] * load(oy, ox, kh, kw)
                    store(c, oy, ox, total)


def _reader(spec: ConvSpec, x3):
    """``read(c)`` prepares channel ``c`` and returns ``load(oy, ox, kh, kw)``, the input under that tap."""
    (sh, sw), (top, left, bottom, right) = spec.stride, spec.padding
    if sw == 1 and not any(spec.padding):
        return lambda c: (lambda oy, ox, kh, kw: x3[c, oy * sh + kh, ox + kw])
    height, width = spec.height + top + bottom, -(-(spec.width + left + right) // sw)
    phases = T.alloc_buffer((sw, height, width), "float32")
    with T.serial(0, sw * height) as r:  # borders stay zero: the copies below write only the interior
        with T.vectorized(0, width) as i:
            T.buffer_store(phases, T.float32(0), [r // height, r % height, i])

    def read(c):
        for p in range(sw):
            lo, hi = valid_range(p - left, sw, spec.width, width)
            if hi > lo:
                with T.serial(0, spec.height) as y:
                    with T.vectorized(lo, hi) as i:
                        T.buffer_store(phases, x3[c, y, i * sw + p - left], [p, y + top, i])
        return lambda oy, ox, kh, kw: phases[kw % sw, oy * sh + kh, ox + kw // sw]

    return read
