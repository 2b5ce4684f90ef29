"""Euclidean projections onto the sparsity sets, one layer at a time: ``(weight, rate) -> mask``.

A conv weight is viewed as the F x (C*kh*kw) matrix of ``compress.counting.weight_matrix``; a linear
weight is already that matrix. Every projection keeps the top-k rows, columns or single weights by L2
norm (magnitude) and returns a boolean mask of the weight's own shape; ``weight * mask`` is the projection.

A rate ``r`` in [0, 1) is the fraction removed: ``kept(n, r) = max(1, round((1 - r) * n))``, so at least one
row/column/weight always survives (a layer is never emptied by a rate; use purification for that).

>>> w = torch.randn(8, 4, 3, 3)
>>> int(filter_mask(w, 0.5).reshape(8, -1).any(1).sum())
4
>>> project(w, "filter+column", (0.5, 0.25)).shape
torch.Size([8, 4, 3, 3])
"""
from __future__ import annotations

from typing import Callable

import torch

ProjectionRate = float | tuple[float, float]


def kept(n: int, rate: float) -> int:
    """How many of ``n`` rows/columns/weights survive rate ``rate`` (at least one)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"pruning rate {rate!r} out of range; expected 0 <= rate < 1")
    return max(1, min(n, round((1.0 - rate) * n)))


def _top(scores: torch.Tensor, k: int, live: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of the ``k`` largest scores (ties broken by index), restricted to ``live`` entries."""
    if live is not None:
        live = live.to(scores.device)
        scores = torch.where(live, scores, torch.full_like(scores, -1.0))
        k = min(k, int(live.sum()))
    keep = torch.zeros_like(scores, dtype=torch.bool)
    if k > 0:
        keep[torch.topk(scores, k, sorted=False).indices] = True
    return keep


def _matrix(weight: torch.Tensor) -> torch.Tensor:
    return weight.detach().reshape(weight.shape[0], -1).float()


def row_scores(weight: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of each row (filter / output unit)."""
    return _matrix(weight).pow(2).sum(1)


def col_scores(weight: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of each column ((input channel, kh, kw) tap)."""
    return _matrix(weight).pow(2).sum(0)


def filter_mask(weight: torch.Tensor, rate: float) -> torch.Tensor:
    """Keep the ``kept(F, rate)`` rows with the largest L2 norm."""
    rows = _top(row_scores(weight), kept(weight.shape[0], rate))
    return rows.reshape(-1, *([1] * (weight.dim() - 1))).expand_as(weight).clone()


def column_mask(weight: torch.Tensor, rate: float, live: torch.Tensor | None = None) -> torch.Tensor:
    """Keep the largest-norm columns: ``kept(n, rate)`` of the ``n`` live ones (all columns when ``live`` is None).

    ``live`` (bool, one per column) excludes columns that are already dead, e.g. input channels that
    filter pruning upstream removed, so the rate counts only what is left.
    """
    matrix = _matrix(weight)
    n_live = matrix.shape[1] if live is None else int(live.sum())
    cols = _top(col_scores(weight), kept(max(n_live, 1), rate), live)
    return cols.expand(matrix.shape[0], -1).reshape(weight.shape).clone()


def hybrid_mask(weight: torch.Tensor, rate: tuple[float, float]) -> torch.Tensor:
    """Filter rate then column rate on one layer: rows by norm, then columns by norm over the kept rows.

    The exact projection onto the intersection has no closed form; this greedy order is the usual one.
    """
    filter_rate, column_rate = _pair(rate)
    rows = filter_mask(weight, filter_rate)
    return rows & column_mask(weight * rows, column_rate)


def unstructured_mask(weight: torch.Tensor, rate: float) -> torch.Tensor:
    """Keep the ``kept(numel, rate)`` single weights with the largest magnitude."""
    flat = weight.detach().reshape(-1).float().abs()
    return _top(flat, kept(flat.numel(), rate)).reshape(weight.shape)


def _pair(rate: ProjectionRate) -> tuple[float, float]:
    if isinstance(rate, (int, float)):
        raise ValueError(f"scheme 'filter+column' needs a (filter_rate, column_rate) pair, got {rate!r}")
    filter_rate, column_rate = rate
    return float(filter_rate), float(column_rate)


SCHEMES: dict[str, Callable[..., torch.Tensor]] = {
    "filter": filter_mask,
    "column": column_mask,
    "filter+column": hybrid_mask,
    "unstructured": unstructured_mask,
}


def check_scheme(scheme: str) -> str:
    """Return ``scheme`` if known; the error lists the allowed set."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; expected one of: {', '.join(SCHEMES)}")
    return scheme


def project(weight: torch.Tensor, scheme: str, rate: ProjectionRate) -> torch.Tensor:
    """The mask of ``weight`` projected onto ``scheme`` at ``rate`` (a pair for 'filter+column')."""
    return SCHEMES[check_scheme(scheme)](weight, rate)
