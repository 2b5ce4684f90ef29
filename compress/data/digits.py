"""The embedded default: scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside scikit-learn)."""
from __future__ import annotations

import numpy as np

from .arrays import ArrayDataset, split_off


def load_digits_splits() -> tuple[ArrayDataset, ArrayDataset, list[str]]:
    """(train, test, classes); a fixed stratified 20% test split (seed 0)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (N, 8, 8, 1)
    train, test = split_off(ArrayDataset(images, bunch.target), 0.2, seed=0)
    return train, test, [str(c) for c in bunch.target_names]
