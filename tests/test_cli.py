"""The CLI: info/train/eval end to end on the embedded data, JSON output, one-line errors for bad input."""
import json

import pytest

from autocompress.cli import build_parser, main


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_info_json(capsys):
    info = run_json(capsys, ["info", "resnet20", "--json"])
    assert info["params"] == 269_722 and round(info["macs"] / 1e6) == 41
    assert len(info["layers"]) == 20


def test_train_then_eval_on_digits(tmp_path, capsys):
    out = tmp_path / "run"
    report = run_json(capsys, ["train", "--epochs", "2", "--threads", "1", "--out", str(out), "--no-progress",
                               "--json"])
    assert report["arch"] == "small_cnn" and report["test_n"] == 359
    assert (out / "model.pt").is_file() and (out / "last.pt").is_file()
    result = run_json(capsys, ["eval", "--weights", str(out / "model.pt"), "--json"])
    assert result["n"] == 359 and result["accuracy"] == pytest.approx(report["test_accuracy"])
    assert result["accuracy"] > 0.5


@pytest.mark.parametrize("argv, message", [
    (["eval", "--data", "/nonexistent/cifar"], "data not found: /nonexistent/cifar"),
    (["eval", "--weights", "/nonexistent.pt"], "checkpoint not found"),
])
def test_bad_input_gives_one_error_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_corrupt_checkpoint_and_wrong_weights(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["eval", "--weights", str(bad)]) == 2
    assert "corrupt or not a torch file" in capsys.readouterr().err
    import torch

    from compress.models import build_model

    torch.save(build_model("resnet20").state_dict(), tmp_path / "r20.pt")
    assert main(["eval", "--model", "small_cnn", "--weights", str(tmp_path / "r20.pt")]) == 2
    assert "do not fit the model" in capsys.readouterr().err


def test_every_command_has_help(capsys):
    """Every command explains itself; defaults are shown where there is one."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        assert "usage: autocompress" in text and "(default: None)" not in text and "(default: False)" not in text


def test_pruning_flags_reach_the_config():
    from autocompress.commands.prune import config_from_args

    args = build_parser().parse_args(["prune", "--target", "4", "--no-distill", "--precision", "fp32",
                                      "--admm-pull", "2", "--rho-growth", "3", "--admm-tolerance", "0.02",
                                      "--train-limit", "500"])
    budget = config_from_args(args).budget
    assert budget.distill_weight == 0.0 and budget.train.precision == "fp32" and budget.train.train_limit == 500
    assert (budget.admm.pull, budget.admm.rho_growth, budget.admm.tolerance, budget.admm.rho) == (2.0, 3.0, 0.02, 0.0)
    defaults = config_from_args(build_parser().parse_args(["prune", "--target", "4"])).budget
    assert defaults.distill_weight == 0.5 and defaults.admm_epochs == defaults.retrain_epochs == 10
    assert main(["prune", "--target", "4", "--rho-growth", "0.5"]) == 2


def test_torch_device_flag_and_its_old_spelling(capsys):
    """--device names where binaries run; in train/eval/prune it was the torch device: still read, with a notice."""
    args = build_parser().parse_args(["train", "--device", "cpu"])
    assert args.torch_device == "cpu" and "note: --device is now --torch-device" in capsys.readouterr().err
    assert build_parser().parse_args(["prune", "--target", "4", "--torch-device", "cpu"]).torch_device == "cpu"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--torch-device" in capsys.readouterr().out
