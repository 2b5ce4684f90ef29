"""Shared fixtures of the codegen/runtime tests: calibrated models, pruned-and-compacted ones, and a session cache
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
from compress import pruning
from runtime.variants import calibrate


def prune_and_compact(model: nn.Module, shape: tuple[int, ...], seed: int) -> nn.Module:
    """Filter+column pruning (50% of filters, 40% of the remaining columns of every conv), purification and
    compaction with the project's own pruning code: a physically smaller model whose convs carry zero columns."""
    torch.manual_seed(seed)
    calibrate(model, shape, seed)
    structure = pruning.trace_structure(model, shape[1:])
    rates = pruning.uniform_rates(structure, pruning.LayerRate(filter=0.5, column=0.4))
    masks = pruning.project_masks(structure, pruning.layer_weights(model), "filter+column", rates)
    purified, record = pruning.purify(masks.apply(model).eval(), structure)
    return pruning.compact(purified, structure, record)[0]


def make_model(name: str, variant: str = "dense", seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """A registry model, dense or filter+column-pruned and compacted, calibrated; plus its input shape."""
    torch.manual_seed(seed)
    shape = (1, *MODELS[name].input_shape)
    model = build_model(name)
    if variant == "pruned":
        model = prune_and_compact(model, shape, seed)
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
