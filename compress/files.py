"""Atomic writes: a result file is either the old one or the whole new one, never half written.

Each write goes to a uniquely named temporary file in the same folder (two runs never share it), which is
fsynced and renamed over the target; a failed write leaves the target as it was and removes the temporary file.
In a data-parallel run (``compress.distributed``) only rank 0 writes: on the other ranks, which compute the same
results, the temporary file is removed instead.

>>> write_json(run_dir / "report.json", report)
>>> with atomic_path(run_dir / "model.onnx") as tmp:
...     torch.onnx.export(model, (x,), str(tmp))
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .distributed import is_main

FILE_MODE = 0o644  # what a plain open() gives under the usual umask (mkstemp's own is 0o600)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for the caller to write; it replaces ``path`` when the block succeeds
    (on rank 0 of a data-parallel run; the other ranks' files are discarded)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if not is_main():
            tmp.unlink()
            return
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, data: Any, indent: int = 2) -> Path:
    """Write ``data`` as JSON (values JSON does not know as their ``str``) to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=indent, default=str) + "\n")
