"""The top-level CMakeLists.txt builds the same benchmark from a compiled model's generated sources."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codegen.toolchain import zig_env


ROOT = Path(__file__).resolve().parents[1]


def _cmake_build(src: Path, build: Path, *extra: str, env: dict[str, str] | None = None) -> Path:
    for cmd in (["cmake", "-S", str(ROOT), "-B", str(build), f"-DMODEL_DIR={src}", "-DMODEL_NAME=bench", *extra],
                ["cmake", "--build", str(build), "-j", "2"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return build / "bench"


def _run(cmd: list[str], cwd: Path) -> dict:
    proc = subprocess.run([*cmd, "--seed", "5", "--runs", "1", "--warmup", "0", "--output", "out.bin"], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_cmake_host_build_matches_python_build(artifacts, tmp_path):
    compiled = artifacts.get("small_cnn", "dense", "host")
    exe = _cmake_build(compiled.out_dir / "src", tmp_path / "build")
    ours, theirs = tmp_path / "a", tmp_path / "b"
    ours.mkdir(), theirs.mkdir()
    assert _run([str(exe)], ours)["model_hash"] == _run([str(compiled.binary)], theirs)["model_hash"]
    np.testing.assert_array_equal(np.fromfile(ours / "out.bin", np.float32), np.fromfile(theirs / "out.bin", np.float32))


@pytest.mark.qemu
@pytest.mark.slow
def test_cmake_zig_toolchain_builds_static_arm64(artifacts, tmp_path):
    compiled = artifacts.get("small_cnn", "dense", "linux-aarch64")
    exe = _cmake_build(compiled.out_dir / "src", tmp_path / "build",
                       f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'cmake' / 'zig-aarch64.cmake'}",
                       f"-DZIG_PYTHON={sys.executable}", env=zig_env())
    from codegen_helpers import elf_facts

    assert elf_facts(exe) == {"machine": "aarch64", "interp": False, "dynamic": False}
    assert _run(["qemu-aarch64", str(exe)], tmp_path)["target"] == "linux-aarch64"
