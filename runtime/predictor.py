"""What a latency table predicts from: the structure each conv/linear layer keeps once a pruned model is
compacted, read from its weights, and non-negative least-squares fits of measured costs over it.

A layer's kernel gathers its kept taps (columns) for every output tile and multiplies them by its kept
rows (filters) in register blocks of ``block`` filters, each block reading the gathered taps again. On a
fixed layer (fixed pixels), with r and t the kept fractions of rows and taps and n the number of filter
blocks: ``cost = a * r * t + b * t * n + c * t + d * r + e`` (multiply-adds, tap reloads, gather,
epilogue, fixed cost). The ``t * n`` term follows the last, partly filled block; without it, off-grid
ResNet-20 models on the host erred by 1.4% on average instead of 1.1% (refitting the measurements of one
run of ``benchmarks/bench_latency_table.py``).

One effect is not per layer: when the whole model's weights no longer stay in the cache from one
inference to the next, every layer also streams its weights from memory (VGG-16 on the host: the deep
layers' time per multiply-add doubles above about 10M kept weights). A ``spilled`` flag (the model's kept
weights above a threshold chosen per table) adds ``f * r * t * spilled``. The other kernels (pooling,
shortcut gathers) follow the activation volume: ``g * sum(out channels * pixels) + h``.

>>> kept = kept_layers(model, trace_structure(model, (3, 32, 32)))
>>> kept[3].rows, kept[3].taps, kept[3].channels
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls
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


def layer_features(rows, taps, dense_rows: int, dense_taps: int, block: int, spilled) -> np.ndarray:
    """Design matrix ``[r * t, t * n, t, r, 1, r * t * spilled]`` of the layer model (r, t, n as fractions of
    the dense layer; ``spilled`` 1 where the model's weights do not stay in the cache, else 0)."""
    rows = np.asarray(rows, dtype=float)
    r, t = rows / dense_rows, np.asarray(taps, dtype=float) / dense_taps
    n = np.ceil(rows / block) / np.ceil(dense_rows / block)
    return np.stack([r * t, t * n, t, r, np.ones_like(r), r * t * np.asarray(spilled, dtype=float)], axis=-1)


def kept_weights(kept: list[KeptLayer]) -> int:
    """Weights the compacted model multiplies with: kept rows x kept taps, summed over layers."""
    return sum(k.rows * k.taps for k in kept)


def nonlayer_features(volume) -> np.ndarray:
    """Design matrix ``[volume, 1]`` of the kernels that are not layers (volume in millions)."""
    v = np.asarray(volume, dtype=float) * 1e-6
    return np.stack([v, np.ones_like(v)], axis=-1)


def fit(features: np.ndarray, costs) -> np.ndarray:
    """Non-negative least-squares coefficients: every term is an amount of work, so none may be negative.

    Plain least squares let nearly collinear terms cancel (on the grid, ``rows * taps`` and ``taps * blocks``
    coincide when the block divides every kept row count) and fit the noise: a VGG-16 layer between grid
    points was then predicted below zero, and off-grid VGG-16 models erred by 8.6% on average instead of 4%
    (same measurements refitted).
    """
    return nnls(np.asarray(features, dtype=float), np.asarray(costs, dtype=float))[0]
