"""Data sources: each layout loads, splits are deterministic, and each bad input gives a clear error."""
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from compress.data import DataError, load_data


def write_tree(root: Path, classes=("cat", "dog"), per_class=3, size=(8, 8)):
    """A tiny image-folder tree with PNGs whose pixel value encodes the class."""
    for split in ("train", "test"):
        for i, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for j in range(per_class):
                Image.new("RGB", size, (40 * i + j, 0, 0)).save(root / split / name / f"{j}.png")
    return root


def test_digits_default_splits_are_deterministic_and_disjoint():
    a, b = load_data(None), load_data("digits")
    assert (len(a.train), len(a.val), len(a.test)) == (1295, 143, 359)
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    assert np.array_equal(a.val.x, b.val.x)
    assert not a.augment
    other = load_data("digits", seed=1)
    assert not np.array_equal(a.val.x, other.val.x)


def test_held_out_is_the_rest_of_a_limited_split():
    splits = load_data("digits")
    seen = {tuple(x.flatten()) for x in splits.val.subset(splits.subset_index("val", 50)).x}
    rest = splits.held_out("val", 50)
    assert len(rest.val) == len(splits.val) - 50 and rest.train is splits.train
    assert not seen & {tuple(x.flatten()) for x in rest.val.x}
    loaded = torch.cat([x for x, _ in splits.loader("val", 16, limit=50)])
    assert len(loaded) == 50


def test_image_folder_and_tar_agree_and_tar_extracts_once(tmp_path):
    tree = write_tree(tmp_path / "data" / "tree")
    archive = tmp_path / "tree.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="tree")
    cache = tmp_path / "cache"
    from_dir = load_data(tree, val_fraction=0.0)
    from_tar = load_data(archive, val_fraction=0.0, cache_dir=cache)
    assert from_dir.classes == from_tar.classes == ["cat", "dog"]
    assert np.array_equal(from_dir.test.x, from_tar.test.x)
    assert from_tar.test.x[3, 0, 0, 0] == 40  # first "dog" image: red 40
    stamp = next(cache.glob("*/manifest.json")).stat().st_mtime_ns
    load_data(archive, cache_dir=cache)
    assert next(cache.glob("*/manifest.json")).stat().st_mtime_ns == stamp


def test_archives_alike_but_for_their_pixels_never_share_a_cache_entry(tmp_path):
    """Same member names, sizes and modification times, different pixels (BMP: size fixed by the shape)."""
    cache, loaded = tmp_path / "cache", []
    for red in (10, 200):
        archive = tmp_path / f"set-{red}" / "tree.tar"
        archive.parent.mkdir()
        with tarfile.open(archive, "w") as tar:
            for split in ("train", "test"):
                image = io.BytesIO()
                Image.new("RGB", (8, 8), (red, 0, 0)).save(image, format="BMP")
                info = tarfile.TarInfo(f"tree/{split}/cat/0.bmp")
                info.size, info.mtime = image.tell(), 1_600_000_000
                tar.addfile(info, io.BytesIO(image.getvalue()))
        loaded.append(load_data(archive, val_fraction=0.0, cache_dir=cache))
    assert [int(s.test.x[0, 0, 0, 0]) for s in loaded] == [10, 200]
    assert len(list(cache.glob("decoded-*.npz"))) == 2


def test_tar_member_escaping_the_target_is_refused(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(DataError, match="evil.tar"):
        load_data(archive, cache_dir=tmp_path / "cache")
    assert not list(tmp_path.rglob("escaped.txt"))


def test_corrupt_archive_is_named(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 100)
    with pytest.raises(DataError, match="broken.tar.gz: corrupt"):
        load_data(archive, cache_dir=tmp_path / "cache")


def test_missing_path_and_unknown_layout(tmp_path):
    with pytest.raises(DataError, match="data not found"):
        load_data(tmp_path / "nope")
    (tmp_path / "random").mkdir()
    (tmp_path / "random" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="unknown data layout"):
        load_data(tmp_path / "random")


def test_mismatched_class_folders(tmp_path):
    tree = write_tree(tmp_path / "tree")
    (tmp_path / "tree" / "train" / "bird").mkdir()
    with pytest.raises(DataError, match="mismatched class folders: train has 3"):
        load_data(tree)


def test_npz_layouts_and_errors(tmp_path):
    x = np.zeros((6, 4, 4, 3), np.uint8)
    np.savez(tmp_path / "test_only.npz", x=x, y=np.arange(6) % 3)
    splits = load_data(tmp_path / "test_only.npz")
    assert splits.train is None and len(splits.test) == 6 and splits.num_classes == 3
    with pytest.raises(DataError, match="has no train split"):
        splits.loader("train")
    np.savez(tmp_path / "full.npz", x_train=np.zeros((20, 4, 4, 3), np.uint8), y_train=np.arange(20) % 2,
             x_test=x, y_test=np.arange(6) % 2)
    full = load_data(tmp_path / "full.npz")
    assert len(full.train) + len(full.val) == 20
    np.savez(tmp_path / "float.npz", x=x.astype(np.float32), y=np.arange(6))
    with pytest.raises(DataError, match="must be uint8"):
        load_data(tmp_path / "float.npz")
    np.savez(tmp_path / "keys.npz", images=x)
    with pytest.raises(DataError, match="unknown .npz layout"):
        load_data(tmp_path / "keys.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match="corrupt"):
        load_data(tmp_path / "corrupt.npz")


def write_cifar_batches(folder: Path, per_batch=4):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), b"labels": list(range(per_batch))}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))


def test_official_cifar_python_batches(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py")
    splits = load_data(tmp_path, val_fraction=0.0)
    assert len(splits.train) == 20 and len(splits.test) == 4
    assert splits.input_shape == (3, 32, 32) and splits.classes[0] == "c0" and splits.augment


def test_cifar_batch_with_foreign_objects_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(folder)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        load_data(tmp_path)


def test_augmentation_keeps_shape_and_is_seeded(tmp_path):
    tree = write_tree(tmp_path / "tree", per_class=8, size=(16, 16))
    splits = load_data(tree, val_fraction=0.0)
    a = next(iter(splits.loader("train", 16, shuffle=True, augment=True)))[0]
    b = next(iter(splits.loader("train", 16, shuffle=True, augment=True)))[0]
    plain = next(iter(splits.loader("train", 16, shuffle=True)))[0]
    assert a.shape == plain.shape == (16, 3, 16, 16)
    assert torch.equal(a, b) and not torch.equal(a, plain)
