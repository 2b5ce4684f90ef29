"""What a latency table predicts from: the structure each conv/linear layer keeps once a pruned model is
compacted, read from its weights, and least-squares fits of measured costs over that structure.

A layer's kernel gathers its kept taps (columns) for every output tile and multiplies them by its kept
rows (filters) in register blocks of ``block`` filters, each block reading the gathered taps again. On a
fixed layer (fixed pixels), with r and t the kept fractions of rows and taps and n the number of filter
blocks: ``cost = a * r * t + b * t * n + c * t + d * r + e`` (multiply-adds, tap reloads, gather,
epilogue, fixed cost). Without the ``t * n`` term the fit misses the last, partly filled block: on
ResNet-20 (host) leaving each grid point out and predicting it from the others erred by up to 32%
instead of 9%. The other kernels (pooling, shortcut gathers) follow
the activation volume: ``e * sum(out channels * pixels) + f``.

>>> kept = kept_layers(model, trace_structure(model, (3, 32, 32)))
>>> kept[3].rows, kept[3].taps, kept[3].channels
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from compress.pruning import Structure, layer_weights


@dataclass(frozen=True)
class KeptLayer:
    """One conv/linear layer of a compacted model: kept rows, kept taps, and live output channels."""

    name: str
    rows: int  # nonzero filters with a nonzero weight on a kept column
    taps: int  # nonzero columns whose input channel stays
    channels: int  # output channels that stay (rows, plus channels kept alive by another writer)


def dead_channels(structure: Structure, zero_rows: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """Per space, the channels compaction removes: every layer writing them has an all-zero row there and no
    shortcut carries a live channel into them. Pinned spaces (model input, output) keep every channel."""
    dead = {}
    for sid, space in structure.spaces.items():
        if space.pinned or not space.producers:
            dead[sid] = np.zeros(space.size, dtype=bool)
        else:
            dead[sid] = np.logical_and.reduce([zero_rows[layer] for layer in space.producers])
    changed = True
    while changed:
        changed = False
        for edge in structure.maps:
            source = np.asarray(edge.src_of_dst)
            fed = (source >= 0) & ~dead[edge.src][np.maximum(source, 0)]
            if (dead[edge.dst] & fed).any():
                dead[edge.dst] = dead[edge.dst] & ~fed
                changed = True
    return dead


def kept_layers(model: nn.Module, structure: Structure) -> list[KeptLayer]:
    """The kept structure of every conv/linear layer of ``model`` (masked or compacted), in execution order.

    Columns of input channels that compaction removes do not count, even where their weights are nonzero.
    """
    nonzero = {name: w.detach().cpu().numpy().reshape(w.shape[0], -1) != 0
               for name, w in layer_weights(model).items()}  # numpy: several times faster than torch here
    dead = dead_channels(structure, {name: ~m.any(1) for name, m in nonzero.items()})
    layers = []
    for name in structure.layers():
        matrix = nonzero[name]
        live_in = ~dead[structure.space_of_input(name)]
        cols = matrix.any(0) & np.repeat(live_in, matrix.shape[1] // len(live_in))
        rows = matrix[:, cols].any(1) if not cols.all() else matrix.any(1)
        channels = int((~dead[structure.space_of_output(name)]).sum())
        layers.append(KeptLayer(name, int(rows.sum()), int(cols.sum()), channels))
    return layers


def layer_features(rows, taps, dense_rows: int, dense_taps: int, block: int) -> np.ndarray:
    """Design matrix ``[r * t, t * n, t, r, 1]`` of the layer model (r, t, n as fractions of the dense layer)."""
    rows = np.asarray(rows, dtype=float)
    r, t = rows / dense_rows, np.asarray(taps, dtype=float) / dense_taps
    n = np.ceil(rows / block) / np.ceil(dense_rows / block)
    return np.stack([r * t, t * n, t, r, np.ones_like(r)], axis=-1)


def nonlayer_features(volume) -> np.ndarray:
    """Design matrix ``[volume, 1]`` of the kernels that are not layers (volume in millions)."""
    v = np.asarray(volume, dtype=float) * 1e-6
    return np.stack([v, np.ones_like(v)], axis=-1)


def fit(features: np.ndarray, costs) -> np.ndarray:
    """Least-squares coefficients (minimum norm when the points do not pin all of them down)."""
    return np.linalg.lstsq(features, np.asarray(costs, dtype=float), rcond=None)[0]
