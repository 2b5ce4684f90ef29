"""Executed AArch64 instruction counts under qemu-aarch64: a repeatable ARM64 cost when no phone is at hand.

The project builds its own small qemu TCG plugin (``insn_plugin.c``) with the host C compiler and loads it
with ``-plugin``. Counts repeat to about 0.01%; wall time under qemu does not even rank schedules, so it is
never used. A count is a proxy for latency, not a latency: it ignores caches and the core's parallelism.

Per kernel, the plugin counts the instructions executed inside each kernel's functions and their parallel
lambdas (address ranges from the symbol table of a relink of the same program): ``kernel_instructions(compiled)``. Work a kernel
hands to functions outside its object (workspace allocation, ``memcpy``) is not attributed to it.

>>> plugin = build_plugin()
>>> count_instructions(["./model_bench", "--runs", "10"]).instructions
>>> kernel_instructions(compiled)   # {"conv00_k27of27_f16of16": 1.2e6, ...} per inference
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .cache import cache_dir
from .elf import read_elf

PLUGIN_SOURCE = Path(__file__).with_name("insn_plugin.c")
CLASSES = ("load", "store", "branch", "simd_fp", "other")
FFI_PREFIX = "__tvm_ffi_"  # the exported entry of kernel K is __tvm_ffi_K; its other functions are K_*
MIN_KERNEL_SHARE = 0.5  # of an inference's instructions in kernel code; the models measured here: 0.93 and more


@dataclass(frozen=True)
class AddressRanges:
    """Sorted, disjoint half-open ``[start, end)`` link-time code ranges counted separately, and the program's
    link-time entry point (from which the plugin finds the load bias of a position-independent binary)."""

    entry: int
    spans: tuple[tuple[int, int], ...]

    def write(self, path: Path) -> None:
        path.write_text("".join(f"{start:x} {end:x}\n" for start, end in self.spans))


@dataclass(frozen=True)
class InstructionCount:
    """Executed guest instructions of one process run, optionally split by class."""

    instructions: int
    classes: dict[str, int] = field(default_factory=dict)
    ranges: tuple[int, ...] = ()  # per span of the AddressRanges counted, if any

    def __sub__(self, other: "InstructionCount") -> "InstructionCount":
        classes = {k: v - other.classes.get(k, 0) for k, v in self.classes.items()}
        ranges = tuple(a - b for a, b in zip(self.ranges, other.ranges))
        return InstructionCount(self.instructions - other.instructions, classes, ranges)

    def weighted(self, weights: dict[str, float]) -> float:
        """Sum of class counts times per-class weights (classes not given weigh 1)."""
        if not self.classes:
            raise ValueError("this count has no classes; count with classes=True to weight them")
        unknown = set(weights) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown instruction classes {sorted(unknown)}; expected: {', '.join(CLASSES)}")
        return float(sum(n * weights.get(k, 1.0) for k, n in self.classes.items()))


def build_plugin(cc: str | None = None) -> Path:
    """Compile the plugin once per source version into the cache; returns the shared library path."""
    cc = cc or os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise RuntimeError(f"C compiler {cc!r} not found; the qemu instruction-count plugin is built with it")
    digest = hashlib.sha256(PLUGIN_SOURCE.read_bytes()).hexdigest()[:16]
    target = cache_dir("qemu-plugin", digest) / "libinsn.so"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp.so")  # builders may race
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
                       cwd: str | Path | None = None, timeout: float = 600.0,
                       ranges: AddressRanges | None = None) -> InstructionCount:
    """Run ``argv`` (an AArch64 program and its arguments) under qemu with the counting plugin; with
    ``ranges``, also count the instructions executed inside each of its spans."""
    plugin = build_plugin()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        options = f"{plugin},out={out}" + (",classes=on" if classes else "")
        if ranges is not None:
            ranges.write(Path(tmp) / "ranges.txt")
            options += f",ranges={Path(tmp) / 'ranges.txt'},entry={ranges.entry:x}"
        proc = subprocess.run([find_qemu(qemu), "-plugin", options, *map(str, argv)], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed under qemu (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        if not out.is_file():
            raise RuntimeError(f"the instruction-count plugin wrote nothing for {argv[0]}: {proc.stderr.strip()[-300:]}")
        data = json.loads(out.read_text())
    return InstructionCount(int(data["instructions"]), {k: int(v) for k, v in data["classes"].items()},
                            tuple(int(n) for n in data["ranges"]))


def _inference_delta(binary: str | Path, runs: int, classes: bool = False,
                     ranges: AddressRanges | None = None) -> InstructionCount:
    """Counts of a bench run with ``runs`` untimed warm-up inferences minus those of one without: start-up,
    weight loading, input generation and the one timed run cancel out, ``runs`` inferences remain. Only the
    formatting of the printed (emulated) time varies, by up to about 1,000 instructions per process; extra
    *timed* runs would print one time each and add that noise per run. Kernel ranges do not see it."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    base = [str(binary), "--runs", "1", "--warmup"]
    none = count_instructions(base + ["0"], classes, ranges=ranges)
    return count_instructions(base + [str(runs)], classes, ranges=ranges) - none


def instructions_per_inference(binary: str | Path, runs: int = 4, classes: bool = False) -> InstructionCount:
    """Executed instructions of one inference of a compiled AArch64 bench binary: the count with ``runs``
    extra (warm-up) inferences minus the count without, over ``runs`` (see ``_inference_delta``)."""
    delta = _inference_delta(binary, runs, classes)
    return InstructionCount(delta.instructions // runs, {k: v // runs for k, v in delta.classes.items()})


def kernel_ranges(binary: str | Path, kernels_object: str | Path) -> tuple[AddressRanges, list[str]]:
    """The code ranges of every kernel in a static ``binary`` linked with symbols, and the kernel each range
    belongs to: the functions of ``kernels_object`` (``__tvm_ffi_K`` and ``K_*``), found by name and size."""
    program, obj = read_elf(binary), read_elf(kernels_object)
    if program.interpreter:
        raise RuntimeError(f"{binary} is dynamically linked; per-kernel counting needs a static executable")
    if not program.functions:
        raise RuntimeError(f"{binary} has no symbol table; link it with codegen.compile.link_with_symbols")
    kernels = [f.name[len(FFI_PREFIX):] for f in obj.functions if f.name.startswith(FFI_PREFIX)]
    located = {(f.name, f.size): [] for f in obj.functions}
    for f in program.functions:
        located.get((f.name, f.size), []).append(f.address)
    spans = []
    for f, extent in zip(obj.functions, _extents(obj.functions)):
        owner = _owner(f.name, kernels)
        if owner is None or f.size == 0:
            continue
        addresses = located[(f.name, f.size)]
        if len(addresses) != 1:
            raise RuntimeError(f"kernel function {f.name} ({f.size} bytes) appears {len(addresses)} times in "
                               f"{binary}; expected once")
        spans.append((addresses[0], addresses[0] + extent, owner))
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        raise RuntimeError(f"kernel functions overlap in {binary}")
    return AddressRanges(program.entry, tuple((a, b) for a, b, _ in spans)), [k for _, _, k in spans]


def _extents(functions) -> list[int]:
    """Per function of an object, its size plus the unnamed code up to the next function: TVM's parallel
    lambdas have no symbol and follow the function that launches them (the object's text is one section, laid
    out unchanged in the program)."""
    starts = sorted({f.address for f in functions})
    following = {a: b for a, b in zip(starts, starts[1:])}
    return [max(f.size, following.get(f.address, f.address) - f.address) for f in functions]


def _owner(function: str, kernels: list[str]) -> str | None:
    """The kernel a function of the kernel object belongs to (the longest kernel name it extends), if any."""
    if function.startswith(FFI_PREFIX):
        return function[len(FFI_PREFIX):]
    matches = [k for k in kernels if function.startswith(k + "_")]
    return max(matches, key=len) if matches else None


def kernel_instructions(compiled, runs: int = 4) -> dict[str, float]:
    """Executed AArch64 instructions per inference of each kernel of ``compiled`` (a ``CompiledModel`` for an
    AArch64 target), summed over its calls; kernels that never run are left out. A kernel compiled once for
    several layers (``compile.json``'s ``shared_kernels``) has its count split over their calls.

    The model's sources are linked again with their symbol table (same code, same addresses) and that
    binary is counted twice under qemu, with and without ``runs`` extra inferences; the difference over
    ``runs``.
    """
    from codegen.compile import link_with_symbols  # codegen imports TVM; only this function needs it

    with tempfile.TemporaryDirectory(prefix="autocompress-insn-") as tmp:
        binary = link_with_symbols(compiled, Path(tmp) / compiled.binary.name)
        ranges, owners = kernel_ranges(binary, compiled.out_dir / "src" / "kernels.o")
        delta = _inference_delta(binary, runs, ranges=ranges)
    if sum(delta.ranges) < MIN_KERNEL_SHARE * delta.instructions:
        raise RuntimeError(f"only {sum(delta.ranges) / max(delta.instructions, 1):.0%} of {compiled.binary}'s "
                           "instructions fell in the kernels' code: their parallel bodies lie after a function "
                           "of no kernel, so per-kernel counts cannot be told apart; count the whole inference "
                           "(instructions_per_inference)")
    per_symbol: dict[str, float] = {}
    for owner, count in zip(owners, delta.ranges):
        per_symbol[owner] = per_symbol.get(owner, 0.0) + count / runs
    per_kernel: dict[str, float] = {}
    for symbol, count in per_symbol.items():
        for name, share in _call_shares(compiled.info, symbol).items():
            per_kernel[name] = count * share
    return {k: v for k, v in per_kernel.items() if v > 0}


def _call_shares(info: dict, symbol: str) -> dict[str, float]:
    """The kernels a compiled ``symbol`` runs for (``compile.json``: ``shared_kernels``, ``calls``), each with its
    share of the calls: identical code on identical shapes executes the same instructions per call."""
    shared = info.get("shared_kernels", {})
    calls = Counter(name for name in info.get("calls", []) if shared.get(name, name) == symbol)
    total = sum(calls.values())
    return {name: n / total for name, n in calls.items()} if total else {symbol: 1.0}
