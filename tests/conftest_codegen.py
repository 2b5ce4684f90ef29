"""Shared fixtures of the codegen/runtime tests: calibrated models, pruned stand-ins, and a session cache
that exports each model once and compiles it once per target.

Test files import what they use: ``from conftest_codegen import artifacts, make_model``.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch
from torch import nn

from codegen import CompiledModel, compile_model
from codegen.frontend import export_torch
from compress.models import MODELS, build_model
from compress.models.vgg import VGG, VGG16_CONFIG


def calibrate(model: nn.Module, shape: tuple[int, ...], seed: int = 0) -> nn.Module:
    """Give BatchNorm realistic running statistics (one train-mode pass on random data), then eval()."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one batch sets the stats exactly
    model.train()
    with torch.no_grad():
        model(torch.randn(8, *shape[1:]))
    return model.eval()


def _narrow_blocks(model: nn.Module, keep: float) -> None:
    """Filter pruning, compacted: keep the first channels of every residual block's inner conv."""
    for block in model.modules():
        if not all(hasattr(block, n) for n in ("conv1", "bn1", "conv2")) or not isinstance(block.conv1, nn.Conv2d):
            continue
        if block.conv2.in_channels != block.conv1.out_channels:
            continue
        k = max(1, int(block.conv1.out_channels * keep))
        c1, c2 = block.conv1, block.conv2
        new1 = nn.Conv2d(c1.in_channels, k, 3, c1.stride, 1, bias=False)
        new2 = nn.Conv2d(k, c2.out_channels, 3, c2.stride, 1, bias=False)
        new1.weight.data = c1.weight.data[:k].clone()
        new2.weight.data = c2.weight.data[:, :k].clone()
        block.conv1, block.conv2, block.bn1 = new1, new2, nn.BatchNorm2d(k)


def _zero_columns(model: nn.Module, rate: float, seed: int) -> None:
    """Column pruning: zero a random set of (in-channel, kh, kw) columns of every conv's weight matrix."""
    gen = torch.Generator().manual_seed(seed)
    for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
        cols = conv.weight[0].numel()
        dead = torch.randperm(cols, generator=gen)[: int(cols * rate)]
        flat = conv.weight.data.view(conv.out_channels, cols)
        flat[:, dead] = 0.0


def make_model(name: str, variant: str = "dense", seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """A registry model (dense) or its filter+column-pruned, compacted stand-in, calibrated; plus its input shape."""
    torch.manual_seed(seed)
    shape = (1, *MODELS[name].input_shape)
    if variant == "dense":
        model = build_model(name)
    elif name == "vgg16":
        model = VGG(tuple(c if c == "M" else c // 2 for c in VGG16_CONFIG))
    else:
        model = build_model(name)
        _narrow_blocks(model, keep=0.5)
    if variant == "pruned":
        _zero_columns(model, rate=0.4, seed=seed)
    return calibrate(model, shape, seed), shape


class ArtifactCache:
    """Exports each (model, variant) once and compiles it once per target, under one session folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._onnx: dict = {}
        self._compiled: dict = {}

    def onnx(self, name: str, variant: str):
        key = (name, variant)
        if key not in self._onnx:
            self._onnx[key] = export_torch(*make_model(name, variant))
        return self._onnx[key]

    def get(self, name: str, variant: str = "dense", target: str = "host") -> CompiledModel:
        key = (name, variant, target)
        if key not in self._compiled:
            out = self.root / f"{name}-{variant}-{target}"
            self._compiled[key] = compile_model(self.onnx(name, variant), target=target, out_dir=out, name=name)
        return self._compiled[key]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> ArtifactCache:
    return ArtifactCache(tmp_path_factory.mktemp("compiled"))


def elf_facts(path: Path) -> dict:
    """Machine and whether the ELF file asks for a program interpreter (PT_INTERP), from its headers."""
    data = path.read_bytes()[:4096]
    assert data[:4] == b"\x7fELF" and data[4] == 2, f"{path} is not a 64-bit ELF file"
    machine = struct.unpack_from("<H", data, 18)[0]
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    return {"machine": {62: "x86_64", 183: "aarch64"}.get(machine, str(machine)), "interp": 3 in types,
            "dynamic": 2 in types}
