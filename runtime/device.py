"""The device interface: put a compiled binary and its input somewhere, run it, get stdout and the output.

``Device.bench`` is the same for every device kind: make a seeded input, run the binary, compare its output
with onnxruntime, and only then turn the binary's timings into a :class:`BenchResult`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cpus import AUTO, Pinning, choose_pinning
from .errors import AccuracyError, DeviceError
from .reference import make_input, onnxruntime_output, output_errors, within_tolerance
from .result import BenchResult

INPUT_FILE = "input.bin"
OUTPUT_FILE = "output.bin"


@dataclass(frozen=True)
class RunOutput:
    """What one execution returned: the binary's stdout and the bytes of its output file."""

    stdout: str
    output: bytes


class Device:
    """Base class; subclasses implement :meth:`execute` (and :meth:`max_frequencies`, :meth:`cache_sizes` where
    the device tells them)
    and set ``name``, ``arch`` and ``emulated``."""

    name = "device"
    arch = "x86_64"
    emulated = False

    def execute(self, binary: Path, input_bytes: bytes, flags: list[str], pin: str | None) -> RunOutput:
        """Run ``binary --input INPUT --output OUTPUT *flags`` and return its stdout and output bytes."""
        raise NotImplementedError(f"{type(self).__name__} does not implement execute()")

    def max_frequencies(self) -> dict[int, int]:
        """Maximum frequency (kHz) per online CPU; empty when the device does not say."""
        return {}

    def cache_sizes(self) -> dict[int, int]:
        """Bytes of the largest data/unified cache per level; empty when the device does not say."""
        return {}

    def pinning(self, pin: str, threads: int) -> Pinning:
        """Where ``bench`` with ``pin`` (``auto``, ``none`` or a CPU list) and ``threads`` runs, and why."""
        return choose_pinning(pin, threads, self.emulated, self.max_frequencies)

    def bench(self, compiled, runs: int = 10, warmup: int = 3, threads: int = 1, pin: str = AUTO,
              seed: int = 0, tolerance: float = 1e-4, rtol: float = 1e-5, profile: bool = False,
              warmup_min_ms: float = 0.0, runs_min_ms: float = 0.0, delay_ms: float = 0.0) -> BenchResult:
        """Run ``compiled`` on this device, check it against onnxruntime, and report its latency.

        Parameters
        ----------
        compiled : codegen.CompiledModel
            A compiled model directory for a target this device runs.
        runs, warmup : int
            At least this many timed and untimed runs inside one process.
        threads : int
            Threads for parallel kernels.
        pin : str
            ``auto``: the fastest cores by each CPU's maximum frequency (not pinned where the device does not
            say, where no CPU would be left out, or on an emulator); ``none``; or a CPU list such as ``4-7``,
            thread i pinned to its i-th CPU. The result records the choice and why (``pin``, ``pin_reason``).
        seed : int
            Seed of the standard-normal input.
        tolerance, rtol : float
            Allowed difference from onnxruntime per element: ``tolerance + rtol * |onnxruntime's value|`` (the rule
            of numpy's ``allclose``), so large outputs are compared on their own scale.
        profile : bool
            Also time every kernel call (``--profile``) and fill ``kernel_ms``; emulated devices leave it
            None (use ``runtime.insn_count.kernel_instructions`` there).
        warmup_min_ms, runs_min_ms : float
            Go on warming up, and timing, until this much wall time has passed as well (at most 100000 runs each).
        delay_ms : float
            Sleep before every inference but the first, against thermal throttling; not timed, but counted in
            ``warmup_min_ms`` and ``runs_min_ms``.

        Returns
        -------
        result : BenchResult
            Raises ``AccuracyError`` instead when an output element is off by more than its tolerance.
        """
        self._check_arch(compiled)
        times = (warmup_min_ms, runs_min_ms, delay_ms)
        if runs < 1 or warmup < 0 or threads < 1 or not all(0.0 <= ms < math.inf for ms in times):
            raise ValueError(f"need runs >= 1, warmup >= 0, threads >= 1 and finite times >= 0 ms (got {runs}, "
                             f"{warmup}, {threads}, {', '.join(map(str, times))})")
        pinning = self.pinning(pin, threads)
        x = make_input(compiled.input_shape, seed)
        flags = ["--runs", str(runs), "--warmup", str(warmup), "--threads", str(threads), "--warmup-ms",
                 str(float(warmup_min_ms)), "--min-ms", str(float(runs_min_ms)), "--delay-ms", str(float(delay_ms))]
        if pinning.cpus:
            flags += ["--pin", pinning.cpus]
        if profile:
            flags.append("--profile")
        run = self.execute(compiled.binary, x.tobytes(), flags, pinning.cpus or None)
        stats = _parse_stats(run.stdout, compiled.info["name"])
        if stats.get("model_hash") != compiled.info["model_hash"]:
            raise DeviceError(f"the device ran a binary with hash {stats.get('model_hash')}, expected "
                              f"{compiled.info['model_hash']} (stale copy?)")
        output = np.frombuffer(run.output, dtype=np.float32)
        reference = onnxruntime_output(compiled.onnx_path, x)
        errors = output_errors(reference, output)
        if not within_tolerance(reference, output, tolerance, rtol):
            raise AccuracyError(f"{compiled.info['name']} on {self.name}: differs from onnxruntime by up to "
                                f"{errors[0]:.3g} ({errors[1]:.2g} of the output's scale), beyond {tolerance:g} + "
                                f"{rtol:g} x |value|; refusing to report latency")
        return self._result(compiled, stats, pinning, errors, (tolerance, rtol))

    def _check_arch(self, compiled) -> None:
        arch = "x86_64" if compiled.target == "host" else "aarch64"
        if arch != self.arch:
            raise DeviceError(f"{compiled.info['name']} was compiled for {compiled.target} ({arch}); device "
                              f"{self.name} runs {self.arch} binaries")

    def _result(self, compiled, stats: dict, pinning: Pinning, errors: tuple[float, float],
                tolerance: tuple[float, float]) -> BenchResult:
        timed = None if self.emulated else stats
        pick = (lambda key: None) if timed is None else stats.get
        return BenchResult(
            device=self.name, target=compiled.target, model=compiled.info["name"],
            model_hash=stats["model_hash"], emulated=self.emulated, threads=stats["threads"], pin=pinning.cpus,
            pin_reason=pinning.reason, runs=stats["runs"], warmup=stats["warmup"],
            warmup_min_ms=stats["warmup_min_ms"], runs_min_ms=stats["runs_min_ms"], delay_ms=stats["delay_ms"],
            max_abs_error=errors[0], max_rel_error=errors[1], tolerance=tolerance[0], rtol=tolerance[1],
            times_ms=pick("times_ms"), first_ms=pick("first_ms"), min_ms=pick("min_ms"), median_ms=pick("median_ms"),
            mean_ms=pick("mean_ms"), std_ms=pick("std_ms"), p90_ms=pick("p90_ms"),
            emulated_times_ms=stats["times_ms"] if self.emulated else None,
            kernel_ms=None if timed is None or "kernels" not in stats else kernel_times(stats),
        )


def kernel_times(stats: dict) -> list[tuple[str, float]]:
    """``(name, median_ms)`` per kernel call, in call order, from a ``--profile`` JSON line."""
    return [(k["name"], float(k["median_ms"])) for k in stats["kernels"]]


def _parse_stats(stdout: str, binary: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise DeviceError(f"{binary} printed no JSON result line; stdout was: {stdout.strip()[:200]!r}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as err:
        raise DeviceError(f"{binary} printed a malformed JSON line ({err})") from None
