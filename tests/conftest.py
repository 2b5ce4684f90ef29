"""Shared fixtures: the shared data folder (present on developer machines and in CI) and a temp cache."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it fail loudly in CI if it is missing, and skip elsewhere."""
    import os

    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI expects the shared data at {SHARED_DATA}")
        pytest.skip(f"no shared data at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session extracts archives into its own cache, never the user's."""
    monkeypatch.setenv("AUTOCOMPRESS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
