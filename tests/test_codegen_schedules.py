"""Whole executables with the specialised kernels (``schedule="auto"``) against the same model under TVM's
default lowering (``schedule="none"``) and onnxruntime, on the host and under qemu-aarch64, for a model made of
odd layers: channel counts off the vector width, a single kept column, every column kept, pruned filters, a
residual 1x1, the channel-table gather, 2x2 images and a linear layer."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from codegen import compile_model
from codegen_helpers import TARGETS
from runtime import get_device
from runtime.reference import make_input


class OddNet(nn.Module):
    """Layers chosen to hit every kernel path; input ``(1, 5, 9, 11)``."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(5, 7, 3, padding=1)
        self.c2 = nn.Conv2d(7, 17, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(17, 17, 1)
        self.c4 = nn.Conv2d(17, 40, 3, padding=1)
        self.c5 = nn.Conv2d(40, 24, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.c6 = nn.Conv2d(24, 37, 3, padding=1)
        self.fc = nn.Linear(37 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        y = torch.relu(self.c2(x))
        x = torch.relu(self.c3(y) + y)
        x = torch.relu(self.c5(torch.relu(self.c4(x))))
        x = torch.relu(self.c6(self.pool(x)))
        return self.fc(x.flatten(1))


def odd_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = OddNet().eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.c1.weight *= (torch.rand(net.c1.weight.shape[1:], generator=gen) < 0.6)
        keep = torch.zeros(net.c2.weight.shape[1:])
        keep[3, 1, 2] = 1  # a single kept column
        net.c2.weight *= keep
        for conv in (net.c4, net.c5):
            conv.weight *= (torch.rand(conv.weight.shape[1:], generator=gen) < 0.5)
        net.c6.weight[[0, 5, 36]] = 0  # pruned filters: outputs are relu(bias)
    return net


@pytest.fixture(scope="module")
def odd_onnx():
    from codegen.frontend import export_torch
    return export_torch(odd_net(), (1, 5, 9, 11))


@pytest.mark.slow
@pytest.mark.parametrize("target, device", TARGETS)
def test_scheduled_matches_unscheduled_and_onnxruntime(odd_onnx, tmp_path, target, device):
    runner = get_device(device)
    outputs = {}
    for schedule in ("auto", "none"):
        compiled = compile_model(odd_onnx, target, tmp_path / schedule, name="odd", schedule=schedule)
        assert runner.bench(compiled, runs=1, warmup=0, seed=2).max_abs_error <= 1e-4
        x = make_input(compiled.input_shape, 2)
        run = runner.execute(compiled.binary, x.tobytes(), ["--runs", "1", "--warmup", "0"], None)
        outputs[schedule] = np.frombuffer(run.output, np.float32)
        if schedule == "auto":
            layers = {layer["kernel"].split("_")[0]: layer for layer in compiled.info["layers"]}
    assert np.abs(outputs["auto"] - outputs["none"]).max() <= 1e-4
    assert len(layers) == 7  # six convs and the linear layer, each one specialised kernel
    assert layers["conv01"]["taps"] == 1 and layers["conv01"]["total_taps"] == 63
    assert layers["conv02"]["residual"] and layers["conv02"]["taps"] == 17
    assert not layers["conv04"]["straight_line"]
    assert layers["conv05"]["rows"] == 34  # 2x2 image: filter-vectorised tiles where a vector holds > 4 floats
    assert layers["conv05"]["tile"][0] == ("filters" if target == "host" else "pixels")
    assert layers["linear06"]["kind"] == "linear"
