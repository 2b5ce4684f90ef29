"""Fixtures shared by the search tests (imported by name; this module has no tests of its own)."""
import pytest
import torch

from compress.data import load_data
from compress.models import build_model
from compress.train import TrainConfig, train


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
