"""The CLI's error policy: a user error is one line and exit 2, a bug one line and exit 1 (traceback with --debug);
numbers are checked when the flags are parsed; nothing is written when the input is refused."""
import numpy as np
import pytest
import torch

from autocompress.cli import main
from compress.models import build_model


def fails(capsys, argv: list[str], code: int = 2) -> str:
    """Run the CLI expecting exit ``code`` (argparse's own exit included); returns its one stderr line."""
    try:
        rc = main(argv)
    except SystemExit as exit_:
        rc = exit_.code
    assert rc == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("argv, message", [
    (["prune", "--target", "nan"], "argument --target: nan is not a finite number in (1, 100]"),
    (["prune", "--target", "inf"], "argument --target: inf is not a finite number in (1, 100]"),
    (["prune", "--target", "1"], "argument --target: 1 is not a finite number in (1, 100]"),
    (["prune", "--target", "1000"], "argument --target: 1000 is not a finite number in (1, 100]"),
    (["compress", "--target-rate", "nan"], "argument --target-rate: nan is not"),
    (["train", "--epochs", "-1"], "argument --epochs: -1 is not an integer >= 0"),
    (["train", "--batch-size", "0"], "argument --batch-size: 0 is not an integer >= 1"),
    (["train", "--lr", "x"], "argument --lr: 'x' is not a finite number > 0"),
    (["prune", "--rate", "1.5"], "argument --rate: 1.5 is not a finite number in [0, 1)"),
    (["eval", "--val-fraction", "1"], "argument --val-fraction: 1 is not a finite number in [0, 1)"),
    (["bench", "DIR", "--runs", "0"], "argument --runs: 0 is not an integer >= 1"),
    (["bench", "DIR", "--min-ms", "-1"], "argument --min-ms: -1 is not a finite number >= 0"),
    (["bench", "DIR", "--warmup-ms", "inf"], "argument --warmup-ms: inf is not a finite number >= 0"),
    (["bench", "DIR", "--delay-ms", "x"], "argument --delay-ms: 'x' is not a finite number >= 0"),
    (["bench", "DIR", "--pin", "4-x"], "argument --pin: '4-x' is not auto, none or a CPU list such as 4-7 or 0,2"),
])
def test_bad_numbers_are_refused_when_parsed(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    line = fails(capsys, argv)
    assert message in line and "--help" in line
    assert not any(tmp_path.iterdir())  # no run folder started


def test_truncated_checkpoint(tmp_path, capsys):
    path = tmp_path / "model.pt"
    torch.save({"arch": "small_cnn", "state_dict": build_model("small_cnn").state_dict()}, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "cannot read checkpoint" in fails(capsys, ["eval", "--weights", str(path)])


def test_checkpoint_whose_state_dict_is_a_list(tmp_path, capsys):
    path = tmp_path / "model.pt"
    torch.save({"arch": "small_cnn", "state_dict": [1, 2]}, path)
    assert "not a plain state_dict of tensors" in fails(capsys, ["eval", "--weights", str(path)])


def test_npz_with_a_negative_label(tmp_path, capsys):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros((4, 8, 8, 1), np.uint8), y=np.array([0, 1, -1, 0]))
    line = fails(capsys, ["eval", "--data", str(path)])
    assert str(path) in line and "labels must be class indices >= 0, got -1" in line


@pytest.mark.parametrize("argv", [["train", "--epochs", "1", "--no-progress", "--out"],
                                  ["prune", "--rate", "0.5", "--out"],
                                  ["compile", "small_cnn", "-o"]])
def test_out_naming_an_existing_file(tmp_path, capsys, argv):
    path = tmp_path / "taken"
    path.write_text("keep me")
    assert "is an existing file, not a folder" in fails(capsys, [*argv, str(path)])
    assert path.read_text() == "keep me"


def test_compile_takes_an_onnx_path_where_a_model_goes(tmp_path, capsys):
    line = fails(capsys, ["compile", str(tmp_path / "net.onnx"), "-o", str(tmp_path / "out")])
    assert "ONNX file not found" in line and "unknown model" not in line
    assert not (tmp_path / "out").exists()


def test_a_bug_is_one_line_and_exit_1(capsys, monkeypatch):
    import autocompress.commands.info as info

    monkeypatch.setattr(info, "count_model", lambda *a: {}["boom"])
    line = fails(capsys, ["info", "small_cnn"], code=1)
    assert "internal error (a bug" in line and "KeyError" in line and "rerun with --debug" in line
    assert main(["info", "small_cnn", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "internal error (a bug" in err.splitlines()[-1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_cuda_device_is_refused_when_parsed(capsys):
    assert "no CUDA device on this machine; use cpu" in fails(capsys, ["train", "--torch-device", "cuda"])
