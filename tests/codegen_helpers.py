"""Helpers of the codegen/runtime tests: the (target, device) parameters, calibrated models (dense or pruned and
compacted), the cache behind the ``artifacts`` fixture (``conftest.py``) that compiles each model once per target,
and ELF header facts. Test files import what they use: ``from codegen_helpers import TARGETS, make_model``."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
from torch import nn

from codegen import CompiledModel, compile_model
from codegen.frontend import export_torch
from latency import variants

# (target, device) of the tests that run executables: this machine, and ARM64 under qemu-aarch64.
TARGETS = [pytest.param("host", "host", id="host"),
           pytest.param("linux-aarch64", "qemu", id="qemu", marks=pytest.mark.qemu)]


# variant -> (filter rate, column rate) of every conv
VARIANTS = {"dense": (0.0, 0.0), "pruned": (0.5, 0.4), "pruned-c30": (0.5, 0.3)}


def make_model(name: str, variant: str = "dense", seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """A registry model, dense or filter+column-pruned (``VARIANTS``: "pruned" removes 50% of filters and
    40% of the remaining columns of every conv) and compacted, calibrated; plus its input shape."""
    return variants.variant(name, *VARIANTS[variant], seed=seed)


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
