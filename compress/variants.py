"""Synthetic models for compiler tests and latency tables: registry models with realistic BatchNorm statistics,
dense or pruned by magnitude at given filter/column rates and physically compacted. Accuracy is meaningless;
shapes, sparsity structure and numerics are real.

>>> model, shape = variant("resnet20", filter_rate=0.5, column_rate=0.4, seed=0)
"""
from __future__ import annotations

import torch
from torch import nn

from .models import MODELS, build_model
from . import pruning


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


def prune_compact(model: nn.Module, shape: tuple[int, ...], rates, seed: int = 0) -> nn.Module:
    """Filter+column magnitude pruning at ``rates`` (one :class:`LayerRate` for every layer, or a dict by layer
    name), then purification and compaction: a physically smaller model whose convs carry zero columns."""
    calibrate(model, shape, seed)
    structure = pruning.trace_structure(model, shape[1:])
    if isinstance(rates, pruning.LayerRate):
        rates = pruning.uniform_rates(structure, rates)
    masks = pruning.project_masks(structure, pruning.layer_weights(model), "filter+column", rates)
    purified, record = pruning.purify(masks.apply(model).eval(), structure)
    return pruning.compact(purified, structure, record)[0]


def variant(name: str, filter_rate: float = 0.0, column_rate: float = 0.0,
            seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """Registry model ``name`` with seeded weights, calibrated, pruned when a rate is nonzero; plus its input
    shape (batch 1)."""
    torch.manual_seed(seed)
    shape = (1, *MODELS[name].input_shape)
    model = build_model(name)
    if filter_rate or column_rate:
        model = prune_compact(model, shape, pruning.LayerRate(filter=filter_rate, column=column_rate), seed)
    return calibrate(model, shape, seed), shape
