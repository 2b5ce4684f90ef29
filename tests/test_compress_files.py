"""Atomic writes: the target is the old file or the whole new one; a failed write leaves no temporary file."""
import json
import os

import pytest
import torch

from compress.checkpoint import load_checkpoint, save_checkpoint
from compress.files import atomic_path, write_json


def test_write_json_replaces_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "sub" / "report.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(path.parent) == ["report.json"] and path.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "report.json"
    write_json(path, {"old": True})
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(path) as tmp:
            tmp.write_text('{"half": ')
            raise KeyboardInterrupt  # killed mid-write
    assert json.loads(path.read_text()) == {"old": True} and os.listdir(tmp_path) == ["report.json"]


def test_temporary_names_are_unique_per_write(tmp_path):
    path = tmp_path / "last.pt"
    with atomic_path(path) as first, atomic_path(path) as second:
        assert first != second and first.parent == second.parent == tmp_path
        first.write_bytes(b"1")
        second.write_bytes(b"2")
    assert path.read_bytes() == b"1" and os.listdir(tmp_path) == ["last.pt"]


def test_checkpoint_write_that_fails_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})
    monkeypatch.setattr(torch, "save", lambda obj, f: (open(f, "wb").write(b"PK\x03"), 1 / 0))
    with pytest.raises(ZeroDivisionError):
        save_checkpoint(path, {"epoch": 2})
    assert load_checkpoint(path) == {"epoch": 1} and os.listdir(tmp_path) == ["last.pt"]
