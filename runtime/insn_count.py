"""Executed AArch64 instruction counts under qemu-aarch64: a repeatable ARM64 cost when no phone is at hand.

The project builds its own small qemu TCG plugin (``insn_plugin.c``) with the host C compiler and loads it
with ``-plugin``. Counts repeat to about 0.01%; wall time under qemu does not even rank schedules, so it is
never used. A count is a proxy for latency, not a latency: it ignores caches and the core's parallelism.

>>> plugin = build_plugin()
>>> count_instructions(["./model_bench", "--runs", "10"]).instructions
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_SOURCE = Path(__file__).with_name("insn_plugin.c")
CLASSES = ("load", "store", "branch", "simd_fp", "other")


@dataclass(frozen=True)
class InstructionCount:
    """Executed guest instructions of one process run, optionally split by class."""

    instructions: int
    classes: dict[str, int] = field(default_factory=dict)

    def __sub__(self, other: "InstructionCount") -> "InstructionCount":
        classes = {k: v - other.classes.get(k, 0) for k, v in self.classes.items()}
        return InstructionCount(self.instructions - other.instructions, classes)

    def weighted(self, weights: dict[str, float]) -> float:
        """Sum of class counts times per-class weights (classes not given weigh 1)."""
        if not self.classes:
            raise ValueError("this count has no classes; count with classes=True to weight them")
        unknown = set(weights) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown instruction classes {sorted(unknown)}; expected: {', '.join(CLASSES)}")
        return float(sum(n * weights.get(k, 1.0) for k, n in self.classes.items()))


def _cache_dir() -> Path:
    return Path(os.environ.get("AUTOCOMPRESS_CACHE", Path.home() / ".cache" / "autocompress"))


def build_plugin(cc: str | None = None) -> Path:
    """Compile the plugin once per source version into the cache; returns the shared library path."""
    cc = cc or os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise RuntimeError(f"C compiler {cc!r} not found; the qemu instruction-count plugin is built with it")
    digest = hashlib.sha256(PLUGIN_SOURCE.read_bytes()).hexdigest()[:16]
    target = _cache_dir() / "qemu-plugin" / digest / "libinsn.so"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp.so")
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(PLUGIN_SOURCE)], check=True,
                       capture_output=True, text=True)
        os.replace(tmp, target)
    return target


def find_qemu(qemu: str = "qemu-aarch64") -> str:
    """The qemu-aarch64 executable, or a clear error saying how to get it."""
    path = shutil.which(qemu)
    if path is None:
        raise RuntimeError(f"{qemu} not found; install Debian's qemu-user (apt-get install qemu-user)")
    return path


def count_instructions(argv: list[str], classes: bool = False, qemu: str = "qemu-aarch64",
                       cwd: str | Path | None = None, timeout: float = 600.0) -> InstructionCount:
    """Run ``argv`` (an AArch64 program and its arguments) under qemu with the counting plugin."""
    plugin = build_plugin()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        options = f"{plugin},out={out}" + (",classes=on" if classes else "")
        proc = subprocess.run([find_qemu(qemu), "-plugin", options, *map(str, argv)], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed under qemu (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        if not out.is_file():
            raise RuntimeError(f"the instruction-count plugin wrote nothing for {argv[0]}: {proc.stderr.strip()[-300:]}")
        data = json.loads(out.read_text())
    return InstructionCount(int(data["instructions"]), {k: int(v) for k, v in data["classes"].items()})


def instructions_per_inference(binary: str | Path, runs: int = 4, classes: bool = False) -> InstructionCount:
    """Executed instructions of one inference of a compiled AArch64 bench binary: the count of ``runs + 1``
    inferences minus the count of one (start-up, weight loading and input generation cancel out), over ``runs``."""
    base = [str(binary), "--warmup", "0", "--runs"]
    one = count_instructions(base + ["1"], classes)
    more = count_instructions(base + [str(runs + 1)], classes)
    delta = more - one
    return InstructionCount(delta.instructions // runs, {k: v // runs for k, v in delta.classes.items()})
