"""Devices on this machine: the host itself, and qemu-aarch64 user-mode emulation (correctness only)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .cpus import local_cache_sizes, local_max_frequencies
from .device import INPUT_FILE, OUTPUT_FILE, Device, RunOutput
from .errors import DeviceError

RUN_TIMEOUT_S = 1800


class LocalDevice(Device):
    """Runs the binary here, from an empty temporary directory holding only the input file."""

    def _command(self, binary: Path) -> list[str]:
        return [str(binary)]

    def execute(self, binary: Path, input_bytes: bytes, flags: list[str], pin: str | None) -> RunOutput:
        with tempfile.TemporaryDirectory(prefix="autocompress-run-") as tmp:
            work = Path(tmp)
            (work / INPUT_FILE).write_bytes(input_bytes)
            cmd = [*self._command(binary.resolve()), "--input", INPUT_FILE, "--output", OUTPUT_FILE, *flags]
            proc = self._run(cmd, work, binary)
            if proc.returncode != 0:
                raise DeviceError(f"{binary.name} failed on {self.name} (exit {proc.returncode}): "
                                  f"{proc.stderr.strip()[-500:]}")
            if not (work / OUTPUT_FILE).is_file():
                raise DeviceError(f"{binary} exited 0 on {self.name} but wrote no output; stdout was "
                                  f"{proc.stdout.strip()[:200]!r} (not a binary compiled by autocompress?)")
            return RunOutput(proc.stdout, (work / OUTPUT_FILE).read_bytes())

    def max_frequencies(self) -> dict[int, int]:
        return local_max_frequencies()

    def cache_sizes(self) -> dict[int, int]:
        return local_cache_sizes()

    def _run(self, cmd: list[str], work: Path, binary: Path) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        except PermissionError:
            raise DeviceError(f"{binary} is not executable; restore it with chmod +x {binary} "
                              "(or compile the model again)") from None
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{binary} ran longer than {RUN_TIMEOUT_S} s on {self.name} and was stopped; "
                              "bench with fewer --runs") from None


class HostDevice(LocalDevice):
    """This x86-64 machine; timings are real latencies."""

    name = "host"
    arch = "x86_64"


class QemuDevice(LocalDevice):
    """qemu-aarch64 user mode: checks ARM64 binaries for correctness; its times are never latencies."""

    name = "qemu"
    arch = "aarch64"
    emulated = True

    def __init__(self, qemu: str = "qemu-aarch64") -> None:
        self.qemu = shutil.which(qemu)
        if self.qemu is None:
            raise DeviceError(f"{qemu} not found on PATH; install qemu-user (Debian: apt-get install qemu-user)")

    def _command(self, binary: Path) -> list[str]:
        return [self.qemu, str(binary)]
