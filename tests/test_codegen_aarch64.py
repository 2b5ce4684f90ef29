"""ARM64 executables (zig, static musl) under qemu-aarch64: static, and self-contained (accuracy: test_codegen_models)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_zig_library_folder_is_shared_by_every_environment(tmp_path, monkeypatch):
    """zig keys its prebuilt musl libc by its library folder's path: builds use one copy beside zig's global cache,
    so a fresh virtual environment reuses what an earlier one built (about 40 s of CPU each otherwise)."""
    from codegen import toolchain

    src, copy = tmp_path / "lib", tmp_path / "zig" / "lib-copy"
    (src / "std").mkdir(parents=True)
    (src / "std" / "std.zig").write_text("pub const a = 1;\n")
    toolchain._copy_once(src, copy)
    (src / "std" / "std.zig").write_text("changed\n")
    toolchain._copy_once(src, copy)  # a copy that exists is kept, and a stage never lingers
    assert (copy / "std" / "std.zig").read_text() in ("pub const a = 1;\n", "changed\n")  # hard link or copy
    assert [p.name for p in copy.parent.iterdir()] == ["lib-copy"]
    monkeypatch.delenv("ZIG_LIB_DIR", raising=False)
    shared = Path(toolchain.get_toolchain("linux-aarch64").environ()["ZIG_LIB_DIR"])
    assert shared.parent == toolchain.zig_cache_dir() and not shared.is_relative_to(sys.prefix)
    assert (shared / "std" / "std.zig").is_file()
    monkeypatch.setenv("ZIG_LIB_DIR", str(src))  # the user's own choice is inherited as it is
    assert toolchain.get_toolchain("linux-aarch64").environ() is None
