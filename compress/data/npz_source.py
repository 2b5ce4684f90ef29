"""A NumPy ``.npz`` holding ``x`` (N,H,W,C uint8) and ``y``, or ``x_train/y_train/x_test/y_test``.

Loaded with ``allow_pickle=False``: object arrays (pickles) are refused.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .arrays import ArrayDataset
from .errors import DataError


def _dataset(arrays: dict, xkey: str, ykey: str, path: Path) -> ArrayDataset:
    x = arrays[xkey]
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8:
        raise DataError(f"{path}: '{xkey}' must be uint8 (N, H, W, C), got {x.dtype} {x.shape}")
    try:
        return ArrayDataset(x, np.asarray(arrays[ykey]))
    except DataError as err:
        raise DataError(f"{path}: {err}") from None


def load_npz(path: Path) -> tuple[ArrayDataset | None, ArrayDataset]:
    """(train or None, test). A file with only ``x``/``y`` is a test-only set."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: corrupt or unreadable .npz ({err})") from None
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        return (_dataset(arrays, "x_train", "y_train", path), _dataset(arrays, "x_test", "y_test", path))
    if {"x", "y"} <= arrays.keys():
        return None, _dataset(arrays, "x", "y", path)
    raise DataError(f"{path}: unknown .npz layout, keys {sorted(arrays)}; "
                    "expected 'x' and 'y', or 'x_train', 'y_train', 'x_test', 'y_test'")
