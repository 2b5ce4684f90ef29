"""Devices on this machine: the host itself, and qemu-aarch64 user-mode emulation (correctness only)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

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
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            if proc.returncode != 0:
                raise DeviceError(f"{binary.name} failed on {self.name} (exit {proc.returncode}): "
                                  f"{proc.stderr.strip()[-500:]}")
            return RunOutput(proc.stdout, (work / OUTPUT_FILE).read_bytes())


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
