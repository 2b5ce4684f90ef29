"""The search log: one JSON line per annealing step, so a search can be replayed, audited and resumed.

The first line is a header (config, target, knobs); then a ``sensitivity`` line (the per-knob curves, when the
search computed them); then one ``step`` line per candidate; a ``final`` line closes a finished search.
Resuming re-runs the seeded search from the start and takes the curves and every logged step's score from the
log instead of evaluating again, so a killed search continues exactly where it stopped.
A half-written last line (the process died mid-write) is dropped.

>>> log = SearchLog("run/search.jsonl", {"config": {...}}, resume=True)
>>> log.replayed(3)       # the logged record of step 3, or None past the end
>>> log.write({"kind": "step", "step": 4, ...})
"""
from __future__ import annotations

import json
from pathlib import Path

from ..distributed import is_main
from ..files import write_text


def read_records(path: Path) -> list[dict]:
    """The complete JSON lines of ``path`` (a torn last line is skipped)."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # only the last line can be torn; nothing after it is trusted
    return records


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


class SearchLog:
    """Append-only JSONL log of one search, optionally resumed from an existing file."""

    def __init__(self, path: str | Path | None, header: dict, resume: bool = False) -> None:
        self.path = Path(path) if path else None
        self.steps: list[dict] = []
        self.sensitivity: list[list[float]] | None = None  # the curves, once computed or read back
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        records = read_records(self.path) if resume and self.path.is_file() else []
        header = {"kind": "header", **header}
        if records:
            logged = json.loads(json.dumps(header))  # compare as JSON (tuples become lists)
            diffs = _differences({k: v for k, v in records[0].items()}, logged)
            if diffs:
                raise ValueError(f"cannot resume {self.path}: it was written by a different search "
                                 f"({'; '.join(diffs[:5])}); start afresh without resume")
            self.steps = [r for r in records if r.get("kind") == "step"]
            self.sensitivity = next((r["curves"] for r in records if r.get("kind") == "sensitivity"), None)
        # rewrite what is trusted: the header, the curves and the complete step lines (drops a torn line, old finals)
        curves = [] if self.sensitivity is None else [{"kind": "sensitivity", "curves": self.sensitivity}]
        lines = [header] + curves + self.steps
        write_text(self.path, "".join(json.dumps(r) + "\n" for r in lines))

    def replayed(self, step: int) -> dict | None:
        """The logged record of ``step`` when resuming, else None."""
        return self.steps[step] if step < len(self.steps) else None

    def write_sensitivity(self, curves: list[list[float]]) -> None:
        """Keep the sensitivity curves (logged, so a resumed search reads them back instead of re-scoring)."""
        self.sensitivity = curves
        self.write({"kind": "sensitivity", "curves": curves})

    def write(self, record: dict) -> None:
        """Append one record (flushed at once: a kill loses at most the line being written); rank 0 only."""
        if self.path is None or not is_main():
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
