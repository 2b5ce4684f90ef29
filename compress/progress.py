"""Progress bars that draw only on a terminal: written to a file or a CI log, a run prints its one-line
summaries (``tqdm.write``) and no carriage-return frames.

>>> for x, y in progress(loader, desc="epoch 1/10", leave=False):
...     ...
"""
from __future__ import annotations

import sys
from typing import Any, Iterable

from tqdm import tqdm


def progress(iterable: Iterable | None = None, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr, updated at most once a second; disabled unless ``enabled`` and stderr is a terminal."""
    return tqdm(iterable, disable=not (enabled and sys.stderr.isatty()), mininterval=1.0, **kwargs)
