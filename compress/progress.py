"""Progress bars that draw only on a terminal: written to a file or a CI log, a run prints its one-line
summaries (``note``) and no carriage-return frames. In a data-parallel run only rank 0 draws and prints.

>>> for x, y in progress(loader, desc="epoch 1/10", leave=False):
...     ...
"""
from __future__ import annotations

import sys
from typing import Any, Iterable

from tqdm import tqdm

from .distributed import is_main


def progress(iterable: Iterable | None = None, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr, updated at most once a second; disabled unless ``enabled``, stderr is a terminal and
    this is the main process."""
    return tqdm(iterable, disable=not (enabled and sys.stderr.isatty() and is_main()), mininterval=1.0, **kwargs)


def note(line: str) -> None:
    """One summary line on stderr (above any bar), from the main process only."""
    if is_main():
        tqdm.write(line, file=sys.stderr)
