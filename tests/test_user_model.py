"""A model outside the registry, end to end: defined here, pruned through the Python API, its exported ONNX
(dynamic batch) compiled by the CLI and checked against onnxruntime by bench."""
from __future__ import annotations

import json

import torch
from torch import nn

from autocompress.cli import main
from compress import PruneBudget, PruneConfig, load_data, prune
from compress.pruning import LayerRate
from compress.train import TrainConfig, train


class UserNet(nn.Module):
    """Not in compress.models: two convs (one strided), BatchNorm, a residual add, global pooling, a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
        self.down = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.body(x))
        return self.head(self.down(x).mean((2, 3)))


def test_user_model_prunes_compiles_and_matches_onnxruntime(tmp_path, capsys):
    splits = load_data("digits")
    torch.manual_seed(0)
    model = UserNet()
    fast = TrainConfig(epochs=3, batch_size=64, threads=1, progress=False)
    train(model, splits, fast)
    budget = PruneBudget(admm_epochs=1, retrain_epochs=1, train=fast)
    result = prune(model, splits, PruneConfig(rate=LayerRate(filter=0.5, column=0.3), budget=budget),
                   run_dir=tmp_path / "pruned")
    assert result.stats.compression_rate > 2.0 and result.accuracy["compacted"] > 0.5
    out = tmp_path / "binary"
    assert main(["compile", "--onnx", str(tmp_path / "pruned" / "model.onnx"), "-o", str(out)]) == 0
    assert main(["bench", str(out), "--runs", "2", "--warmup", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["max_abs_error"] <= 1e-4 and result["runs"] == 2
