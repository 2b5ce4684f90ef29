"""Progress bars draw on a terminal only; to a file or a CI log a run prints its one-line summaries."""
import sys

from compress.data import load_data
from compress.models import build_model
from compress.progress import progress
from compress.train import TrainConfig, train


def test_bars_draw_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert not progress(range(3)).disable and progress(range(3), enabled=False).disable
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress(range(3)).disable


def test_training_to_a_log_prints_one_line_per_epoch(capsys):
    train(build_model("small_cnn"), load_data("digits"), TrainConfig(epochs=2, train_limit=256, threads=1))
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [line.split()[:2] for line in err.splitlines()] == [["epoch", "1"], ["epoch", "2"]]
