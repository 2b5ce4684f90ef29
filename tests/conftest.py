"""Shared fixtures: the shared data folder (present on developer machines and in CI), a temp cache, one torch
thread, a small CNN trained on the embedded digits, and the session's compiled models."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from compress.data import load_data
from compress.models import build_model
from compress.train import TrainConfig, train

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(items) -> None:
    """Tests that read ``../shared/data`` carry the ``data`` marker (``-m "not data"`` runs without it)."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)


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


@pytest.fixture
def one_thread():
    """One torch thread: the search tests run many tiny forwards, where a second thread only adds overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained():
    """A small CNN trained for 3 epochs on the embedded digits data, and the splits."""
    splits = load_data("digits")
    torch.manual_seed(0)
    model = build_model("small_cnn")
    train(model, splits, TrainConfig(epochs=3, batch_size=64, threads=1, progress=False))
    return model.eval(), splits


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """Registry models exported once and compiled once per target for the whole session
    (``codegen_helpers.ArtifactCache``: ``artifacts.get("resnet20", "pruned", "host")``)."""
    from codegen_helpers import ArtifactCache  # TVM: imported only by the tests that compile

    return ArtifactCache(tmp_path_factory.mktemp("compiled"))
