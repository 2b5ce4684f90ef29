"""Plain training, then ADMM training, of a small CNN on digits, run once in-process and once under torchrun by
``test_compress_distributed.py``; each rank records what it computed in ``OUT/rank-R.json``.

Each rank trains with its own run folder ``OUT/run-R`` (only rank 0 may write there), and the record holds the
histories, the ADMM log and digests of the model, Z, U and the final masks (identical on every rank, or a bug).

    python -m torch.distributed.run --nproc-per-node 2 tests/distributed_worker.py OUT
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

from compress import distributed
from compress.data import load_data
from compress.models import build_model
from compress.pruning.admm import AdmmConfig, AdmmHooks
from compress.pruning.plan import LayerRate, uniform_rates
from compress.pruning.structure import trace_structure
from compress.train import TrainConfig, steps_per_epoch, train

CONFIG = TrainConfig(epochs=2, lr=0.05, schedule="constant", batch_size=64, train_limit=384, threads=1, progress=False)


def digest(tensors: dict[str, torch.Tensor]) -> str:
    """One hash of named tensors, bit for bit."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode() + tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run(out: Path) -> dict:
    """Train, then train with ADMM; write and return this rank's record."""
    distributed.init("cpu")
    splits = load_data("digits")
    torch.manual_seed(0)
    model = build_model("small_cnn")
    rank = distributed.rank()
    plain = train(model, splits, CONFIG, run_dir=out / f"run-{rank}" / "train")
    structure = trace_structure(model, splits.input_shape)
    rates = uniform_rates(structure, LayerRate(filter=0.5, column=0.5))
    hooks = AdmmHooks(model, structure, "filter+column", rates, AdmmConfig(), CONFIG, steps_per_epoch(splits, CONFIG))
    history = train(model, splits, CONFIG, run_dir=out / f"run-{rank}" / "admm", hooks=hooks, stream="admm")
    masks = hooks.final_masks(model)
    record = {"rank": rank, "world": distributed.world_size(), "train": plain, "history": history, "admm": hooks.log,
              "model": digest(model.state_dict()), "Z": digest(hooks.Z), "U": digest(hooks.U),
              "masks": digest({f"{k}.{p}": m for k, params in masks.layers.items() for p, m in params.items()})}
    (out / f"rank-{rank}.json").write_text(json.dumps(record))  # plain write: every rank keeps its own record
    distributed.close()
    return record


if __name__ == "__main__":
    run(Path(sys.argv[1]))
