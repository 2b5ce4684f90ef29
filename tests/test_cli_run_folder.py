"""Run folders: a finished run is never overwritten without --overwrite, --resume refuses other settings than the
recorded ones (unless --allow-config-change), --resume with nothing to resume says so, bad inputs leave no folder."""
import pytest

from autocompress.cli import main
from compress.run_folder import config_changes, record_config
from compress.search import CompressConfig

TRAIN = ["train", "--epochs", "1", "--threads", "1", "--no-progress"]
PRUNE = ["prune", "--method", "magnitude", "--admm-epochs", "0", "--retrain-epochs", "0", "--threads", "1",
         "--no-export", "--no-progress"]


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished one-epoch training run."""
    out = tmp_path_factory.mktemp("train") / "run"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


def test_finished_train_run_is_not_overwritten(trained, capsys):
    before = (trained / "model.pt").read_bytes()
    assert main([*TRAIN, "--epochs", "0", "--out", str(trained)]) == 2
    assert "holds a finished run; pass --resume to continue it, --overwrite to replace it" in error_line(capsys)
    assert (trained / "model.pt").read_bytes() == before


def test_train_resume_with_other_settings_is_refused(trained, capsys):
    before = (trained / "config.json").read_text()
    assert main([*TRAIN, "--lr", "0.1", "--batch-size", "64", "--out", str(trained), "--resume"]) == 2
    line = error_line(capsys)
    assert "--resume with other settings than" in line and "batch_size: 128 -> 64" in line and "lr: 0.05 -> 0.1" in line
    assert "--allow-config-change" in line and (trained / "config.json").read_text() == before


def test_train_resume_with_the_same_settings_and_overwrite(trained, capsys):
    assert main([*TRAIN, "--out", str(trained), "--resume", "--threads", "1"]) == 0  # threads: not a result setting
    assert main([*TRAIN, "--epochs", "2", "--out", str(trained), "--overwrite"]) == 0
    assert '"epochs": 2' in (trained / "config.json").read_text()


def test_a_killed_run_is_neither_restarted_over_nor_mixed_into_a_new_one(tmp_path, capsys):
    """A fresh start in a folder that holds a killed run's checkpoints is refused; --overwrite removes every file
    --resume would read back, so a later --resume of the new run can never pick up the old run's state."""
    out = tmp_path / "killed"
    stale = [out / "round-1" / "retrain" / "last.pt", out / "round-1" / "search.jsonl"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old run")
    assert main([*TRAIN, "--out", str(out)]) == 2
    assert "holds a run's checkpoints; pass --resume to continue it, --overwrite" in error_line(capsys)
    assert all(path.read_text() == "old run" for path in stale)
    assert main([*TRAIN, "--out", str(out), "--overwrite"]) == 0
    assert "removed 2 checkpoint and result file(s) of the old run" in capsys.readouterr().err
    assert not any(path.exists() for path in stale) and (out / "model.pt").is_file()


def test_resume_with_nothing_to_resume_says_so_once(tmp_path, capsys):
    out = tmp_path / "new"
    assert main([*TRAIN, "--out", str(out), "--resume"]) == 0
    err = capsys.readouterr().err
    assert err.count("nothing to resume in") == 1 and (out / "model.pt").is_file()


def test_prune_resume_with_another_rate_is_refused(tmp_path, capsys):
    out = tmp_path / "prune"
    assert main([*PRUNE, "--rate", "0.5", "--out", str(out)]) == 0
    capsys.readouterr()
    report = (out / "report.json").read_text()
    assert main([*PRUNE, "--rate", "0.25", "--out", str(out), "--resume"]) == 2
    assert "rate.filter: 0.5 -> 0.25" in error_line(capsys)
    assert (out / "report.json").read_text() == report
    assert main([*PRUNE, "--rate", "0.25", "--out", str(out), "--resume", "--allow-config-change"]) == 0
    assert '"filter": 0.25' in (out / "config.json").read_text()


def test_prune_resume_with_other_data_settings_is_refused(tmp_path, capsys):
    """What the run was fed (model, data, weights, validation share, seed) is recorded in inputs.json too."""
    out = tmp_path / "prune"
    assert main([*PRUNE, "--rate", "0.5", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([*PRUNE, "--rate", "0.5", "--val-fraction", "0.2", "--out", str(out), "--resume"]) == 2
    assert "val_fraction: 0.1 -> 0.2" in error_line(capsys)
    assert '"val_fraction": 0.1' in (out / "inputs.json").read_text()


def test_compress_resume_with_another_target_is_refused(tmp_path, capsys):
    out = tmp_path / "compress"
    record_config(out, CompressConfig(target_rate=2.0, rounds=1).to_dict())  # as a killed run leaves it
    assert main(["compress", "--target-rate", "3", "--rounds", "1", "--out", str(out), "--resume"]) == 2
    assert "target_rate: 2.0 -> 3.0" in error_line(capsys)
    assert [p.name for p in out.iterdir()] == ["config.json"]


def test_run_with_missing_weights_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--weights", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2
    assert "checkpoint not found" in error_line(capsys) and not out.exists()


def test_config_changes_names_nested_keys_and_ignores_progress():
    old = {"train": {"lr": 0.1, "progress": True}, "rounds": 2}
    assert config_changes(old, {"train": {"lr": 0.2, "progress": False}, "rounds": 2, "seed": 1}) == [
        "seed: (unset) -> 1", "train.lr: 0.1 -> 0.2"]
