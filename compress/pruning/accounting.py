"""Compression accounting as the paper does it, and uniform rates that reach a compression target.

compression rate = dense conv+fc weights / remaining nonzero conv+fc weights (BN and biases excluded).
Params and MACs of the compacted model come from ``compress.counting``.

>>> stats = compression_stats(dense, small, (3, 32, 32))
>>> stats.compression_rate, stats.params, stats.structured_macs
>>> rate, achieved = rates_for_target(model, structure, "filter+column", target=4.0)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from ..counting import ModelCount, count_model
from .plan import LayerRate, layer_weights, project_masks, uniform_rates
from .projection import check_scheme
from .structure import Structure


@dataclass(frozen=True)
class CompressionStats:
    """Weights, params and MACs of a compressed model against its dense original; every prune result and
    compression round reports these."""

    dense_weights: int  # conv+fc weights of the dense model (BN and biases excluded)
    nonzero_weights: int
    dense_params: int  # every parameter, BN and biases included
    params: int  # of the compacted model
    nonzero_params: int  # params once zero conv+fc weights are not stored
    dense_macs: int
    macs: int  # of the compacted model, zeros included
    structured_macs: int  # all-zero filters and columns skipped
    nonzero_macs: int  # every zero weight skipped

    @property
    def compression_rate(self) -> float:
        """Dense conv+fc weights / nonzero ones."""
        return self.dense_weights / max(self.nonzero_weights, 1)

    @property
    def mac_reduction(self) -> float:
        """Dense MACs / MACs over kept filters x columns."""
        return self.dense_macs / max(self.structured_macs, 1)

    @classmethod
    def of(cls, dense: ModelCount, model: ModelCount) -> CompressionStats:
        """The statistics of ``model``'s counts against ``dense``'s."""
        return cls(dense.weights, model.nonzero_weights, dense.params, model.params, model.nonzero_params,
                   dense.macs, model.macs, model.structured_macs, model.nonzero_macs)

    def to_json(self) -> dict:
        return asdict(self) | {"compression_rate": self.compression_rate, "mac_reduction": self.mac_reduction}

    @classmethod
    def from_json(cls, data: dict) -> CompressionStats:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def compression_stats(dense: nn.Module, model: nn.Module, input_shape: tuple[int, ...]) -> CompressionStats:
    """Weights, params and MACs of ``model`` against the ``dense`` original."""
    return CompressionStats.of(count_model(dense, input_shape), count_model(model, input_shape))


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
