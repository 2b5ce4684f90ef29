"""Data sources behind one call: ``load_data(source)`` returns train/val/test splits.

Sources: ``None``/``"digits"`` (scikit-learn's digits, embedded), an official CIFAR-10 python folder,
an image-folder tree (folder or ``.tar``/``.tar.gz``), or an ``.npz``. The validation split is carved
deterministically out of train (the search uses it; test is for final numbers only).

>>> splits = load_data("digits")
>>> x, y = next(iter(splits.loader("train", batch_size=32, shuffle=True)))
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .arrays import ArrayDataset, split_off
from .cifar_pickle import find_cifar_folder, load_cifar_pickle
from .digits import load_digits_splits
from .errors import DataError
from .image_folder import find_tree_root, is_archive, load_image_tree
from .loader import BatchLoader
from .npz_source import load_npz

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # what the shared pretrained CIFAR ResNets expect
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Splits:
    """Train/val/test datasets with the normalisation and augmentation that go with them."""

    train: ArrayDataset | None
    val: ArrayDataset | None
    test: ArrayDataset
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool  # crop+flip suits natural images, not digits
    source: str = ""
    seed: int = 0
    _loaders: dict = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        _, h, w, c = self.test.x.shape
        return (c, h, w)

    def dataset(self, name: str) -> ArrayDataset:
        """The split called ``name`` (train, val or test); a clear error if the source has none."""
        if name not in ("train", "val", "test"):
            raise DataError(f"unknown split {name!r}; expected one of: train, val, test")
        data = getattr(self, name)
        if data is None or len(data) == 0:
            raise DataError(f"{self.source}: has no {name} split")
        return data

    def subset_index(self, name: str, limit: int) -> np.ndarray:
        """Sorted indices of the fixed seeded subset of ``limit`` images that ``loader(name, limit=...)`` reads;
        ``held_out`` gives the rest."""
        return np.sort(np.random.default_rng(self.seed).permutation(len(self.dataset(name)))[:limit])

    def held_out(self, name: str, limit: int) -> "Splits":
        """These splits with split ``name`` reduced to the images ``loader(name, limit=limit)`` leaves out."""
        data = self.dataset(name)
        rest = np.setdiff1d(np.arange(len(data)), self.subset_index(name, limit))
        return replace(self, **{name: data.subset(rest)})

    def loader(self, name: str, batch_size: int = 128, shuffle: bool = False, augment: bool = False,
               limit: int | None = None, device: str | torch.device = "cpu", per_epoch: int | None = None,
               seed: int | None = None, shard: tuple[int, int] = (0, 1)) -> BatchLoader:
        """Batches of split ``name``; ``limit`` keeps a fixed seeded subset of that many images, ``per_epoch``
        (with ``shuffle``) a new sample of that many per epoch; ``seed`` (default: the splits' seed) orders them;
        ``shard`` = (rank, processes) yields that rank's share of each batch."""
        data = self.dataset(name)
        if limit is not None and limit < len(data):
            data = data.subset(self.subset_index(name, limit))
        return BatchLoader(data, self.mean, self.std, batch_size, shuffle, augment and self.augment,
                           seed=self.seed if seed is None else seed, device=device, per_epoch=per_epoch, shard=shard)


def _channel_stats(data: ArrayDataset) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = data.x.reshape(-1, data.x.shape[-1]).astype(np.float64) / 255.0
    return tuple(x.mean(0).tolist()), tuple(np.maximum(x.std(0), 1e-3).tolist())


def _read_source(source: str | Path | None, cache_dir: Path | None):
    if source is None or str(source) == "digits":
        return (*load_digits_splits(), False, "digits")
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"data not found: {path} (expected a CIFAR-10 python folder, an image-folder tree or "
                        ".tar/.tar.gz of one, an .npz, or 'digits')")
    if path.suffix == ".npz":
        train, test = load_npz(path)
        classes = [str(i) for i in range(int(max(test.y.max(), -1 if train is None else train.y.max())) + 1)]
        return train, test, classes, False, str(path)
    cifar = find_cifar_folder(path) if path.is_dir() else None
    if cifar is not None:
        return (*load_cifar_pickle(cifar), True, str(path))
    if is_archive(path) or (path.is_dir() and find_tree_root(path) is not None):
        return (*load_image_tree(path, cache_dir), True, str(path))
    raise DataError(f"{path}: unknown data layout; expected a CIFAR-10 python folder (cifar-10-batches-py), "
                    "train/<class>/ + test/<class>/ image folders (or a .tar/.tar.gz of them), or an .npz")


def load_data(source: str | Path | None = None, val_fraction: float = 0.1, seed: int = 0,
              cache_dir: Path | None = None) -> Splits:
    """Load a data source and carve a seeded validation split out of its train split."""
    train, test, classes, augment, name = _read_source(source, cache_dir)
    for label, data in (("train", train), ("test", test)):
        if data is not None and len(data) and data.y.max() >= len(classes):
            raise DataError(f"{name}: {label} labels go up to {data.y.max()} but there are {len(classes)} classes")
    val = None
    if train is not None:
        train, val = split_off(train, val_fraction, seed)
    channels = test.x.shape[-1]
    if channels == 3:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = _channel_stats(train if train is not None else test)
    return Splits(train, val, test, classes, mean, std, augment, name, seed)


__all__ = ["ArrayDataset", "BatchLoader", "DataError", "Splits", "load_data"]
