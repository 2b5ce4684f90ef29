"""Structure detection: which taps (weight-matrix columns) and filters (rows) of a layer hold a nonzero weight.

It reads the weights alone, so a model pruned by any tool gets the pruned kernels.
"""
from __future__ import annotations

import numpy as np

from .kernels import Activation, ConvSpec, order_taps


def kept_structure(weight: np.ndarray) -> tuple[tuple[tuple[int, int, int], ...], tuple[int, ...]]:
    """Kept taps ``(c, kh, kw)`` in gathered order and kept filters of an ``[F, C, KH, KW]`` weight."""
    nonzero = weight != 0
    taps = order_taps(zip(*np.nonzero(nonzero.any(axis=0))))
    rows = tuple(int(f) for f in np.nonzero(nonzero.reshape(len(weight), -1).any(axis=1))[0]) if taps else ()
    return taps, rows


def conv_spec(weight: np.ndarray, in_shape: tuple[int, int, int], stride, padding, residual: bool,
              activation: Activation = (), groups: int = 1) -> ConvSpec:
    """The :class:`ConvSpec` of a layer with ``weight`` applied to a ``(C, H, W)`` input; a depthwise weight
    ``[C, 1, KH, KW]`` (``groups=C``) keeps the kernel offsets where some channel has a nonzero tap."""
    taps, rows = kept_structure(weight)
    return ConvSpec(*in_shape, filters=weight.shape[0], kernel=tuple(weight.shape[2:]), stride=tuple(stride),
                    padding=tuple(padding), taps=taps, rows=rows, residual=residual, activation=activation,
                    groups=groups)
