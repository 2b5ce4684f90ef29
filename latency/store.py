"""Where latency tables live: JSON files under ``$AUTOCOMPRESS_CACHE/latency`` (default
``~/.cache/autocompress/latency``), named by architecture, device kind and the table's key (the device
fingerprint, which includes the code generator's sources, the architecture, the input shape and the steps).
A phone's fingerprint is its model's, so a table filled from one phone or several of that model is the same file.

>>> table = load_or_build("resnet20", "host")
"""
from __future__ import annotations

import json
from pathlib import Path

from compress.files import write_json
from compress.models import get_spec
from runtime import get_devices
from runtime.cache import cache_dir

from .devices import common_fingerprint
from .grid import DEFAULT_STEPS, build_table
from .table import LatencyTable


def save_table(table: LatencyTable, path: str | Path) -> Path:
    """Write ``table`` as JSON (atomically)."""
    return write_json(path, table.to_dict(), indent=1)


def load_table(path: str | Path) -> LatencyTable:
    """The table saved at ``path``; refused (ValueError naming the file) if its format or key does not match."""
    try:
        return LatencyTable.from_dict(json.loads(Path(path).read_text()))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def table_path(arch: str, device_spec: str, steps=DEFAULT_STEPS, threads: int = 1,
               cache: str | Path | None = None) -> Path:
    """Where :func:`load_or_build` keeps the table of ``arch`` on ``device_spec`` (one device, or several phones
    of one model: refused if their fingerprints differ)."""
    fingerprint = common_fingerprint(get_devices(device_spec), threads)
    probe = LatencyTable(arch, device_spec, fingerprint, tuple(float(s) for s in steps),
                         (1, *get_spec(arch).input_shape), [])
    folder = Path(cache) if cache is not None else cache_dir("latency")
    return folder / f"{arch}-{fingerprint['kind']}-{probe.key}.json"


def load_or_build(arch: str, device_spec: str, steps=DEFAULT_STEPS, threads: int = 1, runs: int | None = None,
                  workdir: str | Path | None = None, progress: bool = True,
                  cache: str | Path | None = None) -> LatencyTable:
    """The cached table for this fingerprint, architecture, input shape and steps, else a new one (saved there).
    ``cache`` defaults to ``$AUTOCOMPRESS_CACHE/latency``."""
    path = table_path(arch, device_spec, steps, threads, cache)
    if path.is_file():
        return load_table(path)
    table = build_table(arch, device_spec, steps, threads, runs, workdir, progress)
    save_table(table, path)
    return table
