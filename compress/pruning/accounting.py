"""Compression accounting as the paper does it, and uniform rates that reach a compression target.

compression rate = dense conv+fc weights / remaining nonzero conv+fc weights (BN and biases excluded).
Params and MACs of the compacted model come from ``compress.counting``.

>>> stats = compression_stats(dense, small, (3, 32, 32))
>>> stats["compression_rate"], stats["params"], stats["structured_macs"]
>>> rate, achieved = rates_for_target(model, structure, "filter+column", target=4.0)
"""
from __future__ import annotations

import torch
from torch import nn

from ..counting import count_model
from .plan import LayerRate, layer_weights, project_masks, uniform_rates
from .projection import check_scheme
from .structure import Structure


def compression_stats(dense: nn.Module, model: nn.Module, input_shape: tuple[int, ...]) -> dict:
    """Weights, params and MACs of ``model`` against the ``dense`` original."""
    before, after = count_model(dense, input_shape), count_model(model, input_shape)
    return {
        "dense_weights": before.weights, "nonzero_weights": after.nonzero_weights,
        "compression_rate": before.weights / max(after.nonzero_weights, 1),
        "dense_params": before.params, "params": after.params, "nonzero_params": after.nonzero_params,
        "dense_macs": before.macs, "macs": after.macs, "structured_macs": after.structured_macs,
        "nonzero_macs": after.nonzero_macs, "mac_reduction": before.macs / max(after.structured_macs, 1),
    }


def _rate(scheme: str, t: float) -> LayerRate:
    return {"filter": LayerRate(filter=t), "column": LayerRate(column=t),
            "filter+column": LayerRate(filter=t, column=t), "unstructured": LayerRate(weight=t)}[check_scheme(scheme)]


def projected_compression(structure: Structure, weights: dict[str, torch.Tensor], scheme: str,
                          rates: dict[str, LayerRate]) -> float:
    """Dense conv+fc weights / nonzero ones after projecting ``weights`` at ``rates``."""
    masks = project_masks(structure, weights, scheme, rates).layers
    total = sum(w.numel() for w in weights.values())
    nonzero = sum(int(((w != 0) & masks[n]["weight"].to(w.device)).sum()) if n in masks else int((w != 0).sum())
                  for n, w in weights.items())
    return total / max(nonzero, 1)


def rates_for_target(model: nn.Module, structure: Structure, scheme: str, target: float,
                     include_linear: bool = False, iterations: int = 20) -> tuple[LayerRate, float]:
    """The smallest uniform rate ``t`` (filter = column = t for 'filter+column') reaching ``target``x.

    Bisection on the projected compression; returns the rate and the compression it gives.
    """
    if target < 1.0:
        raise ValueError(f"compression target {target!r} must be >= 1")
    weights = layer_weights(model)

    def compression(t: float) -> float:
        return projected_compression(structure, weights, scheme,
                                     uniform_rates(structure, _rate(scheme, t), include_linear))

    lo, hi = 0.0, 0.99
    best = compression(hi)
    if best < target:
        raise ValueError(f"target {target}x is out of reach for scheme {scheme!r} with uniform rates "
                         f"(at most {best:.2f}x at rate {hi})")
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if compression(mid) >= target:
            hi = mid
        else:
            lo = mid
    return _rate(scheme, hi), compression(hi)
