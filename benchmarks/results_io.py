"""What every benchmark script writes: the command that reproduces it, and OUT.json + OUT.md side by side."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path


def command() -> str:
    """This script's command line, as it is rerun from the repository root."""
    return "PYTHONPATH=. python " + shlex.join(sys.argv)


def write_report(out: str | Path, report: dict, markdown: str) -> Path:
    """Write ``report`` to OUT.json and ``markdown`` to OUT.md (folders made as needed); returns OUT.md."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown)
    return out.with_suffix(".md")
