"""Kernels identical but for their name (a dense network's repeated layers: the weights are arguments) are compiled
once and shared; every call keeps its own name in profiles and in per-kernel instruction counts."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from codegen import compile_model
from runtime import get_device
from runtime.insn_count import instructions_per_inference, kernel_instructions

SHAPE = (1, 3, 8, 8)


def repeated_net(head: bool = True) -> nn.Module:
    """A stem conv, three convs of one shape (8 -> 8 channels, 3x3, ReLU) with different weights, and (``head``)
    a max-pool and a linear layer."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()]
    for _ in range(3):
        layers += [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()]
    if head:
        layers += [nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 10)]
    return nn.Sequential(*layers).eval()


def test_repeated_layers_run_one_compiled_kernel_under_their_own_names(tmp_path):
    compiled = compile_model(repeated_net(), "host", tmp_path / "net", input_shape=SHAPE)
    stem, *repeated, linear = [layer["kernel"] for layer in compiled.info["layers"]]
    assert compiled.info["shared_kernels"] == {repeated[1]: repeated[0], repeated[2]: repeated[0]}
    assert compiled.info["kernels"] == 5  # the stem, one conv for three layers, max-pool, linear, a reshape
    result = get_device("host").bench(compiled, runs=2, warmup=0, profile=True)
    assert result.max_abs_error <= 1e-4  # one code, each layer's own weights
    names = [name for name, _ in result.kernel_ms]
    assert names == compiled.info["calls"] and [n for n in names if n in repeated] == repeated


@pytest.mark.qemu
def test_a_shared_kernels_instructions_are_split_over_its_calls(tmp_path):
    compiled = compile_model(repeated_net(), "linux-aarch64", tmp_path / "net", input_shape=SHAPE)
    repeated = [layer["kernel"] for layer in compiled.info["layers"]][1:4]
    counts = kernel_instructions(compiled, runs=2)
    assert counts.keys() == set(compiled.info["calls"])  # every kernel called, each under its own name
    assert counts[repeated[0]] == counts[repeated[1]] == counts[repeated[2]] > 0
    whole = instructions_per_inference(compiled.binary, runs=2).instructions
    assert 0.9 * whole <= sum(counts.values()) <= whole


@pytest.mark.qemu
def test_kernels_whose_code_cannot_be_located_are_refused_not_miscounted(tmp_path):
    """Without a pool or linear layer LLVM inlines every kernel into its entry and lays the parallel bodies out
    after a function of no kernel: the counts would miss almost all of the work."""
    compiled = compile_model(repeated_net(head=False), "linux-aarch64", tmp_path / "net", input_shape=SHAPE)
    with pytest.raises(RuntimeError, match="per-kernel counts cannot be told apart"):
        kernel_instructions(compiled, runs=2)
