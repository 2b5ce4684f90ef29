"""Image-folder trees (``train/<class>/*``, ``test/<class>/*``) given as a folder or a ``.tar``/``.tar.gz``.

An archive is extracted once into the cache (tarfile's ``filter="data"``: nothing lands outside the target),
verified against a manifest, and the decoded images are cached as an ``.npz`` keyed on every image's path and
content hash.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..files import atomic_path, write_json
from ..progress import progress
from .arrays import ArrayDataset
from .errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".webp"}
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def default_cache_dir() -> Path:
    """``$AUTOCOMPRESS_CACHE`` or ``~/.cache/autocompress``."""
    return Path(os.environ.get("AUTOCOMPRESS_CACHE", Path.home() / ".cache" / "autocompress"))


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def find_tree_root(path: Path) -> Path | None:
    """The folder holding ``train/`` and ``test/``: ``path`` or one or two levels below it."""
    for candidate in [path, *sorted(path.glob("*")), *sorted(path.glob("*/*"))]:
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    return None


def extract_archive(archive: Path, cache_dir: Path) -> Path:
    """Extract ``archive`` once into ``cache_dir/<sha>/tree`` and return the tree folder (verified on reuse)."""
    sha = _sha256(archive)
    target = cache_dir / f"{archive.name}-{sha[:16]}"
    manifest = target / "manifest.json"
    if manifest.is_file():
        expected = json.loads(manifest.read_text())
        if expected.get("sha256") == sha and len(_image_files(target / "tree")) == expected.get("images"):
            return target / "tree"
    shutil.rmtree(target, ignore_errors=True)
    (target / "tree").mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target / "tree", filter="data")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        shutil.rmtree(target, ignore_errors=True)
        raise DataError(f"{archive}: corrupt or unreadable archive ({err})") from None
    write_json(manifest, {"sha256": sha, "images": len(_image_files(target / "tree"))})
    return target / "tree"


def _class_dirs(split: Path) -> list[str]:
    return sorted(d.name for d in split.iterdir() if d.is_dir())


def _decode(split: Path, classes: list[str], desc: str) -> ArrayDataset:
    files = [(f, i) for i, c in enumerate(classes) for f in _image_files(split / c)]
    if not files:
        raise DataError(f"{split}: no images found (expected {split}/<class>/*.jpg|png)")
    images, first_shape = [], None
    for path, _ in progress(files, desc=desc, unit="img", leave=False):
        try:
            with Image.open(path) as img:
                array = np.asarray(img.convert("RGB"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"{path}: unreadable image ({err})") from None
        first_shape = first_shape or array.shape
        if array.shape != first_shape:
            raise DataError(f"{path}: image shape {array.shape} differs from {first_shape} of the other images")
        images.append(array)
    return ArrayDataset(np.stack(images), np.array([label for _, label in files], dtype=np.int64))


def _tree_key(root: Path) -> str:
    """The decoded cache's key: each image's relative path and content hash, so trees that differ in any pixel
    never share an entry, whatever their names, sizes and modification times."""
    digest = hashlib.sha256()
    for path in _image_files(root):
        digest.update(f"{path.relative_to(root)}:{_sha256(path)}\n".encode())
    return digest.hexdigest()[:32]


def load_image_tree(path: Path, cache_dir: Path | None = None) -> tuple[ArrayDataset, ArrayDataset, list[str]]:
    """(train, test, classes) from an image-folder tree or an archive of one."""
    cache_dir = cache_dir or default_cache_dir()
    tree = extract_archive(path, cache_dir) if is_archive(path) else path
    root = find_tree_root(tree)
    if root is None:
        raise DataError(f"{path}: unknown layout; expected train/<class>/* and test/<class>/* folders")
    classes, test_classes = _class_dirs(root / "train"), _class_dirs(root / "test")
    if classes != test_classes:
        raise DataError(f"{path}: mismatched class folders: train has {len(classes)} ({', '.join(classes[:5])}...), "
                        f"test has {len(test_classes)} ({', '.join(test_classes[:5])}...)")
    cached = cache_dir / f"decoded-{_tree_key(root)}.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as f:
            return ArrayDataset(f["x_train"], f["y_train"]), ArrayDataset(f["x_test"], f["y_test"]), classes
    train, test = _decode(root / "train", classes, "decode train"), _decode(root / "test", classes, "decode test")
    with atomic_path(cached) as tmp:
        np.savez(tmp, x_train=train.x, y_train=train.y, x_test=test.x, y_test=test.y)
    return train, test, classes
