"""``BenchResult``: what one benchmark run of a compiled model measured, and how far off its output was."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class BenchResult:
    """Latency statistics (milliseconds) and accuracy of one run.

    Emulated runs (qemu) carry their wall times in ``emulated_times_ms`` and no latency statistics:
    emulator time says nothing about device latency. ``kernel_ms`` (a profiled run on a real device) lists
    ``(kernel name, median ms over the timed runs)`` per kernel call, in call order.
    ``instructions_per_inference`` (qemu, filled by ``autocompress bench``) is the deterministic ARM64 cost.
    """

    device: str
    target: str
    model: str
    model_hash: str
    emulated: bool
    threads: int
    pin: str  # the CPU list the binary ran pinned to; "" when not pinned
    pin_reason: str  # why: the fastest cores by maximum frequency, as given, or why not pinned
    runs: int  # timed runs done: at least the runs asked for, more where runs_min_ms asked for more
    warmup: int  # untimed runs done, likewise
    warmup_min_ms: float  # the least wall time asked of the warm-up
    runs_min_ms: float  # the least wall time asked of the timed runs
    delay_ms: float  # sleep before every inference but the first
    max_abs_error: float
    max_rel_error: float  # max abs error over the largest |reference value|
    tolerance: float  # absolute part of the allowed difference per element
    rtol: float  # relative part: tolerance + rtol * |reference value|
    times_ms: list[float] | None
    first_ms: float | None  # the very first inference of the process, cold (a warm-up run when there is one)
    min_ms: float | None
    median_ms: float | None
    mean_ms: float | None
    std_ms: float | None  # population standard deviation of times_ms
    p90_ms: float | None
    emulated_times_ms: list[float] | None = None
    kernel_ms: list[tuple[str, float]] | None = None
    instructions_per_inference: int | None = None  # executed AArch64 instructions under qemu, one thread

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)

    def summary(self) -> str:
        """One line for humans."""
        head = f"{self.model} on {self.device} ({self.target}, {self.threads} thread(s))"
        err = (f"max abs error {self.max_abs_error:.2e}, {self.max_rel_error:.1e} of the output's scale "
               f"(tol {self.tolerance:g} + {self.rtol:g} x |value|)")
        if self.emulated:
            count = "" if self.instructions_per_inference is None else \
                f"; {self.instructions_per_inference / 1e6:.3f}M AArch64 instructions per inference"
            return f"{head}: {err}; emulated, no latency reported{count}"
        pinned = f"pinned to {self.pin}" if self.pin else self.pin_reason
        return (f"{head}: median {self.median_ms:.3f} ms, min {self.min_ms:.3f}, mean {self.mean_ms:.3f}, "
                f"std {self.std_ms:.3f}, p90 {self.p90_ms:.3f} over {self.runs} runs, first {self.first_ms:.3f}; "
                f"{pinned}; {err}")
