"""Synthetic models for compiler tests, benchmarks and latency tables: registry models with realistic
BatchNorm statistics, dense or with whole filters and whole columns of every conv zeroed by magnitude, purified
and compacted. Accuracy is meaningless; shapes, sparsity structure and numerics are real.

>>> model, shape = variant("resnet20", filter_rate=0.5, column_rate=0.4, seed=0)
>>> base, shape = calibrated_model("resnet20")
>>> small = compacted(base, shape, grid_rates(base, shape, filter_keep=0.5, column_keep=0.75))
>>> other = compacted(base, shape, random_rates(base, shape, np.random.default_rng(0)))
>>> builds = design_rates(base, shape, (1.0, 0.5), np.random.default_rng(0))   # 4 builds, first dense
"""
from __future__ import annotations

import copy
import itertools

import numpy as np
import torch
from torch import nn

from compress import pruning
from compress.models import build_model, get_spec

SCHEME = "filter+column"


def calibrate(model: nn.Module, shape: tuple[int, ...], seed: int = 0) -> nn.Module:
    """Give BatchNorm running statistics from one train-mode pass on a random batch, then ``eval()``."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one batch sets the stats exactly
    model.train()
    with torch.no_grad():
        model(torch.randn(8, *shape[1:]))
    return model.eval()


def calibrated_model(arch: str, seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """The registry model ``arch`` with seeded weights and calibrated BatchNorm, and its input shape."""
    torch.manual_seed(seed)
    shape = (1, *get_spec(arch).input_shape)
    return calibrate(build_model(arch), shape, seed), shape


def grid_rates(model: nn.Module, shape: tuple[int, ...], filter_keep: float,
               column_keep: float) -> dict[str, pruning.LayerRate]:
    """The same kept fractions of filters and of (live) columns on every conv."""
    return pruning.uniform_rates(pruning.trace_structure(model, shape[1:]), _keep_rate(filter_keep, column_keep))


def design_rates(model: nn.Module, shape: tuple[int, ...], steps: tuple[float, ...],
                 rng: np.random.Generator) -> list[dict[str, pruning.LayerRate]]:
    """Per-conv rates of ``len(steps) ** 2`` builds: the first keeps the most of every conv (``max(steps)``
    filters and columns); in the others each conv takes every other (filter keep, column keep) pair of
    ``steps`` once, in its own random order. A layer's kept structure and the size of the rest of the model
    then vary independently, where a uniform grid ties the model's weight bytes (and the cache misses they
    cause) to each layer's own kept fraction."""
    pairs = sorted(itertools.product(steps, steps), reverse=True)
    convs = _convs(model, shape)
    orders = {name: rng.permutation(len(pairs) - 1) + 1 for name in convs}
    return [{name: _keep_rate(*pairs[0 if b == 0 else orders[name][b - 1]]) for name in convs}
            for b in range(len(pairs))]


def _keep_rate(filter_keep: float, column_keep: float) -> pruning.LayerRate:
    return pruning.LayerRate(filter=1.0 - filter_keep, column=1.0 - column_keep)


def random_rates(model: nn.Module, shape: tuple[int, ...], rng: np.random.Generator,
                 low: float = 0.0, high: float = 0.75) -> dict[str, pruning.LayerRate]:
    """Per conv, filter and column rates drawn uniformly from ``[low, high)``."""
    return {name: pruning.LayerRate(*(float(r) for r in rng.uniform(low, high, 2))) for name in _convs(model, shape)}


def _convs(model: nn.Module, shape: tuple[int, ...]) -> list[str]:
    """The pruned convs of ``model``, in execution order."""
    structure = pruning.trace_structure(model, shape[1:])
    return [name for name in structure.layers() if structure.nodes[structure.layer_node[name]].kind == "conv"]


def masked(model: nn.Module, shape: tuple[int, ...], rates: dict[str, pruning.LayerRate]) -> nn.Module:
    """A copy of ``model`` with the pruned filters and columns zeroed in place (same shapes)."""
    structure = pruning.trace_structure(model, shape[1:])
    masks = pruning.project_masks(structure, pruning.layer_weights(model), SCHEME, rates)
    return masks.apply(copy.deepcopy(model)).eval()


def compacted(model: nn.Module, shape: tuple[int, ...], rates: dict[str, pruning.LayerRate]) -> nn.Module:
    """:func:`masked`, then purification and compaction: the physically smaller model."""
    structure = pruning.trace_structure(model, shape[1:])
    purified, purification = pruning.purify(masked(model, shape, rates), structure)
    return pruning.compact(purified, structure, purification)[0]


def variant(name: str, filter_rate: float = 0.0, column_rate: float = 0.0,
            seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """Registry model ``name`` with seeded weights, pruned (``rate`` = fraction removed, the same on every conv)
    when a rate is nonzero, and calibrated; plus its input shape (batch 1)."""
    torch.manual_seed(seed)
    shape = (1, *get_spec(name).input_shape)
    model = build_model(name)
    if filter_rate or column_rate:
        calibrate(model, shape, seed)
        model = compacted(model, shape, grid_rates(model, shape, 1.0 - filter_rate, 1.0 - column_rate))
    return calibrate(model, shape, seed), shape
