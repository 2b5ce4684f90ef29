"""Synthetic models for compiler tests, benchmarks and latency tables: registry models with realistic
BatchNorm statistics, dense or with whole filters and whole columns of every conv zeroed by magnitude, purified
and compacted. Accuracy is meaningless; shapes, sparsity structure and numerics are real.

>>> model, shape = variant("resnet20", filter_rate=0.5, column_rate=0.4, seed=0)
>>> base, shape = calibrated_model("resnet20")
>>> small = compacted(base, shape, grid_rates(base, shape, filter_keep=0.5, column_keep=0.75))
>>> other = compacted(base, shape, random_rates(base, shape, np.random.default_rng(0)))
"""
from __future__ import annotations

import copy

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
    rate = pruning.LayerRate(filter=1.0 - filter_keep, column=1.0 - column_keep)
    return pruning.uniform_rates(pruning.trace_structure(model, shape[1:]), rate)


def random_rates(model: nn.Module, shape: tuple[int, ...], rng: np.random.Generator,
                 low: float = 0.0, high: float = 0.75) -> dict[str, pruning.LayerRate]:
    """Per conv, filter and column rates drawn uniformly from ``[low, high)``."""
    structure = pruning.trace_structure(model, shape[1:])
    return {name: pruning.LayerRate(*(float(r) for r in rng.uniform(low, high, 2)))
            for name in structure.layers() if structure.nodes[structure.layer_node[name]].kind == "conv"}


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
