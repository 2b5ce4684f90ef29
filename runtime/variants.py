"""Pruned variants of a registry model, for latency tables and their checks: calibrated BatchNorm, whole
filters and whole columns of every conv zeroed by magnitude (``compress.pruning``), purified and compacted.

>>> model, shape = calibrated_model("resnet20")
>>> small = prune(model, shape, grid_rates(model, shape, filter_keep=0.5, column_keep=0.75))
>>> other = prune(model, shape, random_rates(model, shape, np.random.default_rng(0)))
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
    """Give BatchNorm realistic running statistics (one train-mode pass on random data), then eval()."""
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


def mask(model: nn.Module, shape: tuple[int, ...], rates: dict[str, pruning.LayerRate]) -> nn.Module:
    """A copy of ``model`` with the pruned filters and columns zeroed in place (same shapes)."""
    structure = pruning.trace_structure(model, shape[1:])
    masks = pruning.project_masks(structure, pruning.layer_weights(model), SCHEME, rates)
    return masks.apply(copy.deepcopy(model)).eval()


def prune(model: nn.Module, shape: tuple[int, ...], rates: dict[str, pruning.LayerRate]) -> nn.Module:
    """:func:`mask`, then purification and compaction: the physically smaller model."""
    structure = pruning.trace_structure(model, shape[1:])
    purified, record = pruning.purify(mask(model, shape, rates), structure)
    return pruning.compact(purified, structure, record)[0]
