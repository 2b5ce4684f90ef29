"""In-memory image datasets: uint8 NHWC images and int64 labels, plus a deterministic split."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError


@dataclass
class ArrayDataset:
    """Images ``x`` (N, H, W, C) uint8 and labels ``y`` (N,) int64."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.x.dtype != np.uint8:
            raise DataError(f"images must be uint8 (N, H, W, C), got {self.x.dtype} {self.x.shape}")
        if self.y.shape != (len(self.x),):
            raise DataError(f"labels must have shape ({len(self.x)},), got {self.y.shape}")
        self.y = self.y.astype(np.int64)
        if len(self.y) and self.y.min() < 0:
            raise DataError(f"labels must be class indices >= 0, got {self.y.min()}")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> "ArrayDataset":
        return ArrayDataset(self.x[index], self.y[index])


def split_off(data: ArrayDataset, fraction: float, seed: int) -> tuple[ArrayDataset, ArrayDataset]:
    """Carve a seeded, class-stratified ``fraction`` out of ``data``: returns (rest, carved)."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"split fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    carved = []
    for label in np.unique(data.y):
        members = np.flatnonzero(data.y == label)
        carved.append(rng.permutation(members)[: int(round(fraction * len(members)))])
    carved_idx = np.sort(np.concatenate(carved)) if carved else np.zeros(0, dtype=np.int64)
    keep = np.ones(len(data), dtype=bool)
    keep[carved_idx] = False
    return data.subset(np.flatnonzero(keep)), data.subset(carved_idx)
