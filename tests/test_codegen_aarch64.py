"""ARM64 executables (zig, static musl) under qemu-aarch64: static, and self-contained (accuracy: test_codegen_models)."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from codegen_helpers import elf_facts

pytestmark = pytest.mark.qemu


@pytest.mark.parametrize("target", ["linux-aarch64", "android-arm64"])
def test_arm64_binary_is_static_and_runs_alone(artifacts, tmp_path, target):
    compiled = artifacts.get("small_cnn", "dense", target)
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
