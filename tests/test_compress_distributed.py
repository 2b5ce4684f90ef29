"""Data-parallel runs under torchrun (2 CPU processes, gloo) against single-process runs with the same global batch.

Tolerance: with DDP each rank's BatchNorm normalises its half of the batch with that half's statistics
(SyncBatchNorm is CUDA-only), so losses differ a little from one process on the whole batch. On these runs the
per-epoch mean training loss differs by about 0.2%; the tests allow 2% (``LOSS_TOLERANCE``). Everything not fed
by batch statistics is exact: the search's chosen rates, and the ranks among themselves (weights, ADMM Z and U,
masks, bit for bit).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import distributed_worker
from autocompress.cli import main
from compress import distributed
from compress.data import load_data
from compress.files import write_json
from compress.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
LOSS_TOLERANCE = 0.02  # relative, per epoch: per-rank BatchNorm statistics (see the module docstring)
TRAIN_FLAGS = ["--epochs", "2", "--schedule", "constant", "--train-limit", "384", "--batch-size", "64",
               "--threads", "1", "--no-progress"]


def torchrun(*args: str, processes: int = 2) -> str:
    """Run ``torchrun --nproc-per-node N`` on ``args`` in the repository; returns stdout (rank 0's)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
                           "--standalone", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def cli(*args: str) -> None:
    assert main(list(args)) == 0


def history(run: Path) -> list[dict]:
    return json.loads((run / "report.json").read_text())["history"]


def losses(records: list[dict]) -> list[float]:
    return [r["train_loss"] for r in records]


def assert_losses_close(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert y["train_loss"] == pytest.approx(x["train_loss"], rel=LOSS_TOLERANCE), (x, y)


def test_shards_make_up_the_batch():
    splits = load_data("digits")
    whole = splits.loader("train", 64, shuffle=True, augment=True, per_epoch=200, seed=3)
    parts = [splits.loader("train", 64, shuffle=True, augment=True, per_epoch=200, seed=3, shard=(r, 2))
             for r in range(2)]
    for (x, y), (x0, y0), (x1, y1) in zip(whole, *parts):
        assert torch.equal(x, torch.cat([x0, x1])) and torch.equal(y, torch.cat([y0, y1]))
    assert [len(y) for _, y in parts[1]] == [32, 32, 32, 4]  # the ragged last batch of 8 is shared too


def test_refuses_what_processes_cannot_share(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    with pytest.raises(ValueError, match="batch size 63 is not divisible by the 2 processes"):
        TrainConfig(batch_size=63)
    with pytest.raises(ValueError, match="last batch of each epoch has 1 images, fewer than the 2 processes"):
        load_data("digits").loader("train", 64, shuffle=True, per_epoch=129, shard=(0, 2))


def test_only_rank_0_writes(tmp_path, monkeypatch):
    monkeypatch.setattr("compress.files.is_main", lambda: False)
    write_json(tmp_path / "report.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_spread_in_one_process_is_a_map():
    assert distributed.spread(lambda x: x * x, [1, 2, 3]) == [1, 4, 9]


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    """A single-process training run (global batch 64) that the data-parallel ones are compared with."""
    out = tmp_path_factory.mktemp("single")
    cli("train", *TRAIN_FLAGS, "--out", str(out))
    return out


@pytest.mark.slow
def test_resume_with_another_process_count(single, tmp_path):
    """One process trains epoch 1, two processes resume it to epoch 2 (the checkpoint is the unwrapped model)."""
    cli("train", *TRAIN_FLAGS, "--epochs", "1", "--out", str(tmp_path))
    torchrun("-m", "autocompress", "train", *TRAIN_FLAGS, "--out", str(tmp_path), "--resume",
             "--allow-config-change")
    resumed, whole = history(tmp_path), history(single)
    assert losses(resumed[:1]) == losses(whole[:1])  # read back from the checkpoint
    assert_losses_close(whole[1:], resumed[1:])


@pytest.mark.slow
def test_training_and_admm_ranks_identical_and_close_to_one_process(tmp_path):
    one = distributed_worker.run(tmp_path / "one")  # in-process: no process group
    torchrun(str(ROOT / "tests" / "distributed_worker.py"), str(tmp_path / "two"))
    ranks = [json.loads((tmp_path / "two" / f"rank-{r}.json").read_text()) for r in range(2)]
    assert [r["world"] for r in ranks] == [2, 2]
    for key in ("model", "Z", "U", "masks", "admm"):
        assert ranks[0][key] == ranks[1][key], key
    for phase in ("train", "history"):
        assert losses(ranks[0][phase]) == losses(ranks[1][phase])
        assert_losses_close(one[phase], ranks[0][phase])
    assert [u["residual"] for u in ranks[0]["admm"]] == pytest.approx([u["residual"] for u in one["admm"]],
                                                                       rel=LOSS_TOLERANCE)
    assert (tmp_path / "two" / "run-0" / "admm" / "last.pt").is_file()  # checkpoints come from rank 0 only
    assert not list((tmp_path / "two").glob("run-1/*/*"))


@pytest.mark.slow
def test_search_chooses_what_one_process_chooses(single, capsys):
    flags = ["search", "--weights", str(single / "model.pt"), "--target-rate", "3", "--candidates", "12",
             "--threads", "1", "--no-progress", "--json"]
    capsys.readouterr()
    cli(*flags)
    alone = json.loads(capsys.readouterr().out)
    spread = json.loads(torchrun("-m", "autocompress", *flags))
    assert spread["rates"] == alone["rates"] and spread["quick_accuracy"] == alone["quick_accuracy"]
