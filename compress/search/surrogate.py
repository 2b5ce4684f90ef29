"""A cheap score model learnt from the candidates evaluated so far: ridge regression of score on knob values.

Annealing uses it to screen its proposals: of several neighbours (each free to build), only the one the model
ranks highest is evaluated. The penalty is picked by cross-validation over the evaluated candidates, so nothing
is tuned per model: with few or noisy samples it shrinks towards "every proposal is equal", which
leaves the choice to the first proposal, as plain annealing would make.

>>> model = fit_ridge(values, scores)
>>> model.predict(np.array([a.values for a in proposals])).argmax()
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PENALTIES = np.logspace(-2, 3, 11)  # ridge penalties tried, in units of the sample count (features standardised)


@dataclass(frozen=True)
class Ridge:
    """score ~ intercept + ((values - mean) / scale) @ coef."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    penalty: float  # the chosen ridge penalty (per sample)

    def predict(self, values: np.ndarray) -> np.ndarray:
        """Predicted scores of a (n, knobs) array of knob values."""
        return self.intercept + ((np.atleast_2d(values) - self.mean) / self.scale) @ self.coef


def _coef(z: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """Ridge coefficients of centred ``y`` on ``z`` (via the SVD; fine with more knobs than samples)."""
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    return vt.T @ (s / (s ** 2 + penalty) * (u.T @ y))


def _cv_error(z: np.ndarray, y: np.ndarray, penalty: float, folds: int) -> float:
    """Mean squared error of ``folds``-fold cross-validation (sample i in fold i mod folds)."""
    fold = np.arange(len(y)) % folds
    error = 0.0
    for k in range(folds):
        train, test = fold != k, fold == k
        mean = y[train].mean()
        coef = _coef(z[train], y[train] - mean, penalty * train.sum())
        error += float(np.sum((y[test] - mean - z[test] @ coef) ** 2))
    return error / len(y)


def fit_ridge(values: np.ndarray, scores: np.ndarray, folds: int = 5) -> Ridge:
    """Ridge fit of ``scores`` on standardised ``values`` (constant knobs ignored), penalty chosen by
    cross-validation (the largest of the equally good ones); fewer than 3 samples give a constant."""
    x, y = np.atleast_2d(np.asarray(values, dtype=float)), np.asarray(scores, dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, np.inf)  # a constant knob gets a zero column
    z, intercept = (x - mean) / scale, float(y.mean())
    if len(y) < 3:
        return Ridge(mean, scale, np.zeros(x.shape[1]), intercept, float("inf"))
    k = min(folds, len(y))
    penalty = min(PENALTIES[::-1], key=lambda p: _cv_error(z, y, p, k))
    return Ridge(mean, scale, _coef(z, y - intercept, penalty * len(y)), intercept, float(penalty))
