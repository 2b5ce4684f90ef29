"""Official CIFAR-10 python batches (``cifar-10-batches-py``), read with an unpickler that allows only
the few NumPy types those files contain: any other object in the file is refused, never executed."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .arrays import ArrayDataset
from .errors import DataError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            raw = _RestrictedUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise DataError(f"{path}: corrupt or unsafe CIFAR batch ({err})") from None
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (keys {sorted(batch)})")
    return batch


def _dataset(paths: list[Path]) -> ArrayDataset:
    batches = [_read_batch(p) for p in paths]
    data = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
    labels = np.concatenate([np.asarray(b["labels"]) for b in batches])
    return ArrayDataset(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels)


def find_cifar_folder(path: Path) -> Path | None:
    """``path`` itself or its ``cifar-10-batches-py`` child, if it holds the batches."""
    for candidate in (path, path / "cifar-10-batches-py"):
        if (candidate / "test_batch").is_file():
            return candidate
    return None


def load_cifar_pickle(folder: Path) -> tuple[ArrayDataset, ArrayDataset, list[str]]:
    """(train, test, classes) from an official CIFAR-10 python folder."""
    missing = [n for n in TRAIN_FILES if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{folder}: CIFAR-10 folder is missing {', '.join(missing)}")
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    meta = folder / "batches.meta"
    if meta.is_file():
        with open(meta, "rb") as f:
            names = _RestrictedUnpickler(f, encoding="bytes").load().get(b"label_names")
        classes = [n.decode() for n in names] if names else classes
    return _dataset([folder / n for n in TRAIN_FILES]), _dataset([folder / "test_batch"]), classes
