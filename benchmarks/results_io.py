"""What every benchmark script writes: the command that reproduces it, the git revision it ran at, and OUT.json +
OUT.md side by side. Results live in ``RESULTS/<question>/`` (see ``benchmarks/results/README.md``).

    from results_io import RESULTS, command, write_report
    write_report(RESULTS / "kernels" / "kernels", {"command": command(), "rows": rows}, markdown)
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


def command() -> str:
    """This script's command line, as it is rerun from the repository root (no interpreter path)."""
    return "PYTHONPATH=. python " + shlex.join(sys.argv)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


def provenance() -> dict:
    """The git revision of the checkout and whether tracked files had uncommitted changes (untracked files such
    as new result files do not count). Both are None outside a git checkout or without git."""
    try:
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        return {"revision": _git("rev-parse", "HEAD"), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}


# Taken once, when a script imports this module (before its work starts): the code that runs is the code on disk
# then, even if someone commits during a long benchmark.
STARTED_AT = provenance()


def provenance_line(p: dict) -> str:
    """One Markdown line naming the revision, e.g. "Revision: `620019b` (with uncommitted changes)"."""
    if p["revision"] is None:
        return "Revision: unknown (not run from a git checkout)"
    return f"Revision: `{p['revision'][:7]}`" + (" (with uncommitted changes)" if p["dirty"] else "")


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` plus ``"provenance": STARTED_AT`` to PATH (folders made as needed); returns PATH."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**data, "provenance": STARTED_AT}, indent=2, default=str) + "\n")
    return path


def write_report(out: str | Path, report: dict, markdown: str) -> Path:
    """Write ``report`` to OUT.json and ``markdown`` to OUT.md, both stamped with :data:`STARTED_AT` (in the
    Markdown, one line after its title); returns OUT.md."""
    out = Path(out)
    write_json(out.with_suffix(".json"), report)
    title, _, rest = markdown.partition("\n")
    out.with_suffix(".md").write_text(f"{title}\n\n{provenance_line(STARTED_AT)}\n{rest}")
    return out.with_suffix(".md")
