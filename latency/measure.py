"""Compiling a model for a device and measuring it: the whole inference and each kernel, after the binary's
output is checked against onnxruntime (the device's ``bench`` does that before any number is kept)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from runtime import Device
from runtime.insn_count import instructions_per_inference, kernel_instructions

TARGETS = {"host": "host", "qemu": "linux-aarch64", "adb": "android-arm64"}  # device kind -> compile target
REPEATS = 3  # benchmark processes per measurement on a real device
WARMUP_MS = 100.0  # least warm-up per process on a real device: the CPU governor raises the clock meanwhile


@dataclass(frozen=True)
class Measurement:
    """One compiled model on one device: the whole inference and each kernel (summed over its calls)."""

    whole: float
    kernels: dict[str, float]


def compile_for(model: nn.Module, kind: str, out_dir: Path, input_shape: tuple[int, ...], name: str):
    """``model`` compiled for the device kind ``kind`` (``host``, ``qemu``, ``adb``) into ``out_dir``."""
    from codegen import compile_model  # TVM: imported only where something is compiled

    return compile_model(model, TARGETS[kind], out_dir, input_shape=input_shape, name=name)


def measure(device: Device, compiled, threads: int, runs: int, profile: bool = True,
            repeats: int = REPEATS) -> Measurement:
    """Cost of ``compiled`` on ``device``, after checking its output against onnxruntime.

    On a real device: ``repeats`` benchmark processes of ``runs`` timed runs (with ``--profile`` when
    ``profile``) after at least ``WARMUP_MS`` of warm-up, pinned to the fastest cores (``pin="auto"``, which the
    table's fingerprint records; the binary is pushed to a phone once), and the :func:`fastest` of them: a process
    slowed down by other load on the machine does not count. Under qemu: instructions per inference (and per
    kernel), whatever ``repeats``.
    """
    if device.emulated:
        device.bench(compiled, runs=1, warmup=0)
        kernels = kernel_instructions(compiled, runs) if profile else {}
        return Measurement(float(instructions_per_inference(compiled.binary, runs).instructions), kernels)
    results = [device.bench(compiled, runs=runs, warmup=max(3, runs // 10), warmup_min_ms=WARMUP_MS,
                            threads=threads, profile=profile) for _ in range(repeats)]
    return fastest([Measurement(r.median_ms, _kernel_sums(r.kernel_ms or [])) for r in results])


def fastest(measurements: list[Measurement]) -> Measurement:
    """Of several measurements of one binary, the smallest whole cost and the smallest cost of each kernel."""
    kernels: dict[str, float] = {}
    for m in measurements:
        kernels = {name: min(cost, kernels.get(name, cost)) for name, cost in m.kernels.items()}
    return Measurement(min(m.whole for m in measurements), kernels)


def rounds(device: Device) -> int:
    """Measuring rounds of a set of binaries: ``REPEATS`` on a real device, one under qemu (counts repeat)."""
    return 1 if device.emulated else REPEATS


def _kernel_sums(kernel_ms: list[tuple[str, float]]) -> dict[str, float]:
    summed: dict[str, float] = {}
    for name, ms in kernel_ms:
        summed[name] = summed.get(name, 0.0) + ms
    return summed


def default_runs(device: Device) -> int:
    """Timed runs on a real device; counted inferences under qemu (counts repeat exactly)."""
    return 2 if device.emulated else 30
