"""The user's cache folder: ``$AUTOCOMPRESS_CACHE`` or ``~/.cache/autocompress``."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$AUTOCOMPRESS_CACHE/parts...``, defaulting to ``~/.cache/autocompress/parts...`` (not created)."""
    return Path(os.environ.get("AUTOCOMPRESS_CACHE", Path.home() / ".cache" / "autocompress"), *parts)
