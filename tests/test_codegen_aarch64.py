"""ARM64 executables (zig, static musl) under qemu-aarch64: correct, static, and self-contained."""
from __future__ import annotations

import shutil
import subprocess
import json

import numpy as np
import pytest

from conftest_codegen import artifacts, elf_facts  # noqa: F401  (fixture)
from runtime import get_device

pytestmark = pytest.mark.qemu
MODELS = ("resnet20", "resnet56", "resnet18", "vgg16")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["dense", "pruned"])
@pytest.mark.parametrize("name", MODELS)
def test_qemu_binary_matches_onnxruntime(artifacts, name, variant):
    compiled = artifacts.get(name, variant, "linux-aarch64")
    result = get_device("qemu").bench(compiled, runs=1, warmup=0, seed=2)
    assert result.max_abs_error <= 1e-4
    assert result.emulated and result.median_ms is None and result.times_ms is None
    assert len(result.emulated_times_ms) == 1


@pytest.mark.parametrize("target", ["linux-aarch64", "android-arm64"])
def test_arm64_binary_is_static_and_runs_alone(artifacts, tmp_path, target):
    compiled = artifacts.get("resnet20", "dense", target)
    facts = elf_facts(compiled.binary)
    assert facts == {"machine": "aarch64", "interp": False, "dynamic": False}
    lonely = tmp_path / "empty"
    lonely.mkdir()
    shutil.copy(compiled.binary, lonely / "bench")
    proc = subprocess.run(["qemu-aarch64", "./bench", "--runs", "1", "--warmup", "0", "--seed", "3",
                           "--output", "out.bin"], cwd=lonely, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout)
    assert line["input"] == "random" and line["target"] == target
    assert line["model_hash"] == compiled.info["model_hash"]
    assert np.isfinite(np.fromfile(lonely / "out.bin", dtype=np.float32)).all()
    assert sorted(p.name for p in lonely.iterdir()) == ["bench", "out.bin"]
