"""What a latency table predicts from: the structure each conv, linear or depthwise layer keeps once a pruned
model is compacted, read from its weights, and non-negative least-squares fits of measured costs over it.

A layer's kernel gathers its kept taps (columns) for every output tile and multiplies them by its kept
rows (filters) in register blocks of ``block`` filters, each block reading the gathered taps again. On a
fixed layer (fixed pixels), with r and t the kept fractions of rows and taps and n the number of filter
blocks: ``cost = a * r * t + b * t * n + c * t + d * r + e`` (multiply-adds, tap reloads, gather,
epilogue, fixed cost). The ``t * n`` term follows the last, partly filled block; without it, off-grid
ResNet-20 models on the host erred by 1.4% on average instead of 1.1% (refitting the measurements of one
run of ``benchmarks/bench_latency_table.py``).

One effect is not per layer: a model whose weights do not fit in the cache streams part of them from memory at
every inference, and each layer pays for the bytes it reads (the deep layers of VGG-16, whose weights are
used on few pixels, spend most of their time reading weights). With ``S`` the model's kept weight bytes and
``C`` the cache they compete for, the streamed fraction is ``max(0, 1 - C / S)``, so a layer adds
``f * r * t * miss``. ``C`` starts from the device's last-level cache and is fitted per table (other programs and
the code share that cache). The other kernels (pooling, shortcut gathers) follow the activation volume:
``g * sum(out channels * pixels) + h``.

A depthwise conv (MobileNet) is a layer too, with its direct kernel: per kept channel, a padded copy of its
input and taps x pixels multiply-adds. Its rows are the live channels of the space it reads and writes (it is
never pruned on its own: it follows its expansion's filters and its projection's columns), its taps the kernel
offsets, its block 1, so the same terms fit it as a line in kept channels. Folding it into the other kernels
instead (fitted on activation volume, where its cost is one of many) predicted worse: three off-grid
MobileNetV2 models under qemu from a 2 x 2 grid erred by 5.0% on average (11.8% at most) instead of 3.6% (7.1%);
refitting one host run of ``benchmarks/bench_latency_table.py`` (4 x 4 grid, 8 off-grid models), 6.3% instead
of 5.3% on average for MobileNetV2 and 9.8% instead of 7.9% for MobileNetV3-Small.

>>> kept = kept_layers(model, trace_structure(model, (3, 32, 32)))
>>> kept[3].rows, kept[3].taps, kept[3].channels
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy.optimize import nnls
from torch import nn

from compress.pruning import Structure, layer_weights
from compress.pruning.structure import Space

WEIGHT_BYTES = 4  # fp32


@dataclass(frozen=True)
class KeptLayer:
    """One conv/linear layer of a compacted model: kept rows, kept taps, and live output channels."""

    name: str
    rows: int  # kept filters with a nonzero weight on a kept column
    taps: int  # nonzero columns of kept filters and kept input channels
    channels: int  # output channels that stay (rows, plus channels kept alive by another writer)


def dead_channels(structure: Structure, reads: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """Per space, the channels compaction removes, to a fixpoint, as purification finds them in a masked model:
    channels nothing writes (every writer's row is zero on its live inputs and no shortcut carries a live
    channel in) and channels nothing reads (no kept row of a reader has a nonzero tap on them and no shortcut
    carries them into a live channel). Pinned spaces keep every channel; the last channel of a space stays.

    ``reads[layer]`` is a layer's (rows, input channels) incidence: row f has a nonzero tap on channel c.
    Unlike purification, a zero row counts as removable whatever constant (bias, BatchNorm shift) it leaves.
    """
    dead = {sid: np.zeros(space.size, dtype=bool) for sid, space in structure.spaces.items()}
    changed = True
    while changed:
        changed = False
        for sid, space in structure.spaces.items():
            if space.pinned:
                continue
            new = (_unwritten(structure, sid, reads, dead) | _unread(structure, sid, reads, dead)) & ~dead[sid]
            if (dead[sid] | new).all():
                new[np.flatnonzero(~dead[sid])[0]] = False
            if new.any():
                dead[sid] |= new
                changed = True
    return dead


def _unwritten(structure: Structure, sid: int, reads: dict, dead: dict) -> np.ndarray:
    space = structure.spaces[sid]
    written = np.zeros(space.size, dtype=bool) if space.producers else np.ones(space.size, dtype=bool)
    for layer in space.producers:
        written |= reads[layer][:, ~dead[structure.space_of_input(layer)]].any(1)
    for i in space.maps_in:
        source = np.asarray(structure.maps[i].src_of_dst)
        written |= (source >= 0) & ~dead[structure.maps[i].src][np.maximum(source, 0)]
    return ~written


def _unread(structure: Structure, sid: int, reads: dict, dead: dict) -> np.ndarray:
    read = np.zeros(structure.spaces[sid].size, dtype=bool)
    for r in structure.spaces[sid].reads:
        read |= reads[r.layer][~dead[structure.space_of_output(r.layer)]].any(0)
    for i in structure.spaces[sid].maps_out:
        source = np.asarray(structure.maps[i].src_of_dst)
        read[source[(source >= 0) & ~dead[structure.maps[i].dst]]] = True
    return ~read


def kernel_layers(structure: Structure) -> list[str]:
    """The layers that get a kernel of their own, in execution order: conv/linear and depthwise convs."""
    return [n.target for n in structure.nodes.values() if n.kind in ("conv", "linear", "dwconv")]


def kept_layers(model: nn.Module, structure: Structure) -> list[KeptLayer]:
    """The kept structure of every layer of ``kernel_layers`` of ``model`` (masked or compacted): the nonzero
    rows and columns of its weight once the channels compaction removes are gone. A depthwise conv is never
    pruned on its own: it keeps the live channels of the space it reads and writes (its rows, those with a
    nonzero tap) and the kernel offsets they use (its taps), as its compiled kernel does."""
    weights = layer_weights(model)
    nonzero = {name: weights[name].detach().cpu().numpy().reshape(len(weights[name]), -1) != 0
               for name in kernel_layers(structure)}  # numpy: several times faster than torch here
    reads = {name: _incidence(nonzero[name], structure.spaces[structure.space_of_input(name)].size)
             for name in structure.layers()}
    dead = dead_channels(structure, reads)
    layers = []
    for name, matrix in nonzero.items():
        live_out = ~dead[structure.space_of_output(name)]
        if name in reads:
            live_in = ~dead[structure.space_of_input(name)]
            live_cols, row_any = np.repeat(live_in, matrix.shape[1] // len(live_in)), reads[name].any(1)
        else:  # depthwise: one row per channel, one column per kernel offset
            live_cols, row_any = np.ones(matrix.shape[1], dtype=bool), matrix.any(1)
        col_any = matrix.any(0)
        if (row_any & ~live_out).any() or (col_any & ~live_cols).any():  # removed channels still hold weights
            matrix = matrix[live_out][:, live_cols]
            row_any, col_any = matrix.any(1), matrix.any(0)
        taps = int(col_any.sum())
        layers.append(KeptLayer(name, int(row_any.sum()) if taps else 0, taps, int(live_out.sum())))
    return layers


def counted_layers(structure: Structure, counts: Mapping[str, tuple[int, int]]) -> list[KeptLayer]:
    """The kept structure of every layer of ``kernel_layers`` from kept (rows, taps) counts alone, as the search
    counts them (no weights; a depthwise conv counted dense). Output channels are the kept rows, bounded by the
    channels their space keeps (``_space_bound``): the rows and depthwise channels compaction removes because
    no kept column reads them are not counted."""
    bound = {sid: _space_bound(space, counts) for sid, space in structure.spaces.items()}
    layers = []
    for name in kernel_layers(structure):
        rows, taps = counts[name]
        rows = min(rows, bound[structure.space_of_output(name)]) if taps else 0
        layers.append(KeptLayer(name, rows, taps, rows))
    return layers


def _space_bound(space: Space, counts: Mapping[str, tuple[int, int]]) -> int:
    """Channels a space keeps at most: no more than its writers' kept rows, unless a shortcut map writes it too;
    no more than its readers' kept taps (a reader keeping t taps reads at most t channels, exactly t for a 1x1
    conv such as a MobileNet projection), unless a map reads it too. A pinned space keeps every channel."""
    bound = space.size
    if space.pinned:
        return bound
    if space.producers and not space.maps_in:
        bound = min(bound, max(counts[layer][0] for layer in space.producers))
    if space.reads and not space.maps_out:
        bound = min(bound, sum(min(counts[r.layer][1], space.size) for r in space.reads))
    return bound


def _incidence(matrix: np.ndarray, channels: int) -> np.ndarray:
    """(rows, channels): whether a row has a nonzero among the columns of a channel (columns channel-major)."""
    per = matrix.shape[1] // channels
    strided = matrix.reshape(len(matrix), channels, per)
    return np.logical_or.reduce([strided[:, :, j] for j in range(per)])  # faster than any(2) on short axes


def layer_features(rows, taps, dense_rows: int, dense_taps: int, block: int, miss) -> np.ndarray:
    """Design matrix ``[r * t, t * n, t, r, 1, r * t * miss]`` of the layer model (r, t, n as fractions of
    the dense layer; ``miss`` the fraction of the model's weights streamed from memory, :func:`miss_fraction`)."""
    rows = np.asarray(rows, dtype=float)
    r, t = rows / dense_rows, np.asarray(taps, dtype=float) / dense_taps
    n = np.ceil(rows / block) / np.ceil(dense_rows / block)
    return np.stack([r * t, t * n, t, r, np.ones_like(r), r * t * np.asarray(miss, dtype=float)], axis=-1)


def kept_weights(kept: list[KeptLayer]) -> int:
    """Weights the compacted model multiplies with: kept rows x kept taps, summed over layers."""
    return sum(k.rows * k.taps for k in kept)


def miss_fraction(weights, cache_bytes: float) -> np.ndarray:
    """The fraction of a model's fp32 weights (``weights`` kept weights) that does not fit in ``cache_bytes``
    and streams from memory at each inference: ``max(0, 1 - cache / bytes)``, 0 for an infinite cache."""
    size = np.maximum(np.asarray(weights, dtype=float) * WEIGHT_BYTES, 1.0)
    return np.clip(1.0 - cache_bytes / size, 0.0, 1.0)


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
