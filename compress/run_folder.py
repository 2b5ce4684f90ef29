"""A run folder's configuration record, ``config.json``: written when a run starts, compared when it resumes.

>>> record_config(out, config.to_dict())
>>> config_changes(recorded_config(out), other.to_dict())    # ['train.lr: 0.01 -> 0.1']
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .files import write_json

CONFIG_FILE = "config.json"
INPUTS_FILE = "inputs.json"  # what the CLI fed the run (model, data, weights), beside the library's config
NOT_RESULTS = frozenset({"progress", "threads"})  # settings that do not change what a run computes
# what --resume reads back (anywhere under a run folder): epoch checkpoints, finished rounds, search logs and
# device checks, the finished run's report
RESUME_STATE = ("last.pt", "result.pt", "round.json", "search*.jsonl", "latency-checks.json", "report.json")


def record_config(folder: str | Path, config: dict[str, Any], name: str = CONFIG_FILE) -> Path:
    """Write ``config`` as ``folder/name`` (atomically; the folder is created)."""
    return write_json(Path(folder) / name, config)


def recorded_config(folder: str | Path, name: str = CONFIG_FILE) -> dict[str, Any] | None:
    """The configuration recorded in ``folder/name``, or None when it has none."""
    path = Path(folder) / name
    return json.loads(path.read_text()) if path.is_file() else None


def resume_state(folder: str | Path) -> list[Path]:
    """The files under ``folder`` that ``--resume`` would read back."""
    folder = Path(folder)
    return sorted(p for pattern in RESUME_STATE for p in folder.rglob(pattern)) if folder.is_dir() else []


def clear_resume_state(folder: str | Path) -> int:
    """Delete what ``--resume`` would read back, so a replaced run never continues from the old one's state;
    returns how many files went."""
    state = resume_state(folder)
    for path in state:
        path.unlink()
    return len(state)


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    leaves: dict[str, Any] = {}
    for key, value in data.items():
        if key not in NOT_RESULTS:
            leaves |= _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    return leaves


def config_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``"key: old -> new"`` for every setting (nested keys dotted) that differs, those in NOT_RESULTS aside."""
    old, new = _leaves(recorded), _leaves(json.loads(json.dumps(current, default=str)))
    return [f"{key}: {old.get(key, '(unset)')} -> {new.get(key, '(unset)')}"
            for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]
