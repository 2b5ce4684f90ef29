"""An Android phone through the ``adb`` client: push to /data/local/tmp (only when the phone lacks that exact
binary, by sha256), run pinned with taskset, pull.

>>> device = AdbDevice("R58M123ABC")
>>> device.bench(compiled, runs=20, threads=4).pin      # the fastest cores by cpuinfo_max_freq, e.g. "4-7"
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from .cpus import CACHE_GLOBS, CPU_DIR, MAX_FREQ_GLOB, ONLINE, cache_sizes, cpu_mask, max_frequencies
from .device import INPUT_FILE, OUTPUT_FILE, Device, RunOutput
from .errors import DeviceError
from .local import RUN_TIMEOUT_S

REMOTE_DIR = "/data/local/tmp/autocompress"
STATE_TIMEOUT_S = 20.0  # adb devices, getprop, mkdir, rm, chmod, grep, sha256sum: answered in under a second (the
# first call may start the adb server); a device that does not answer within this is hung
TRANSFER_TIMEOUT_S = 30.0  # a push or pull: this plus a second per MiB (USB 2 moves 20 MiB/s and more)
_STATE_HINTS = {
    "unauthorized": "accept the 'Allow USB debugging' prompt on the phone, then retry",
    "offline": "reconnect the cable or restart the adb server (adb kill-server)",
    "no permissions": "fix the USB permissions (udev rules) for this device",
}


def transfer_timeout(size: int) -> float:
    """Seconds allowed to push or pull ``size`` bytes."""
    return TRANSFER_TIMEOUT_S + size / (1 << 20)


class AdbDevice(Device):
    """One device by serial (or the only one connected); a phone's timings are real device latencies, an
    Android emulator's (``ro.kernel.qemu=1``) are emulated and never reported as latency."""

    arch = "aarch64"

    def __init__(self, serial: str | None = None, adb: str = "adb") -> None:
        self.adb = shutil.which(adb)
        if self.adb is None:
            raise DeviceError(f"{adb!r} not found on PATH; install Android platform-tools")
        self.serial = self._pick(serial)
        self.name = f"adb:{self.serial}"
        self.emulated = self._adb("shell", "getprop", "ro.kernel.qemu").stdout.strip() == "1"

    def _adb(self, *args: str, serial: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        """``adb [-s SERIAL] ARGS`` within ``timeout`` seconds (default: STATE_TIMEOUT_S), else one-line DeviceError."""
        cmd = [self.adb, *(["-s", self.serial] if serial else []), *args]
        timeout = timeout or STATE_TIMEOUT_S
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            where = f" on {self.serial}" if serial else ""
            raise DeviceError(f"'adb {' '.join(args[:2])}'{where} did not finish within {timeout:g} s; reconnect "
                              "the device or restart the adb server (adb kill-server)") from None

    def _pick(self, serial: str | None) -> str:
        proc = self._adb("devices", serial=False)
        if proc.returncode != 0:
            raise DeviceError(f"'adb devices' failed: {proc.stderr.strip()[-300:]}")
        states = dict(line.split("\t", 1) for line in proc.stdout.splitlines()[1:] if "\t" in line)
        if not states:
            raise DeviceError("no Android device connected ('adb devices' lists none); plug one in and enable "
                              "USB debugging")
        if serial is None:
            if len(states) > 1:
                raise DeviceError(f"{len(states)} devices connected ({', '.join(states)}); pick one with adb:SERIAL")
            serial = next(iter(states))
        if serial not in states:
            raise DeviceError(f"device {serial} not found; connected: {', '.join(states)}")
        state = states[serial].strip()
        if state != "device":
            hint = next((h for name, h in _STATE_HINTS.items() if state.startswith(name)), "check the device")
            raise DeviceError(f"device {serial} is {state}: {hint}")
        return serial

    def _checked(self, what: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        proc = self._adb(*args, timeout=timeout)
        text = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0 or "error:" in proc.stderr:
            if "No space left on device" in text:
                raise DeviceError(f"no space left on {self.name} while trying to {what}; free space under "
                                  f"{REMOTE_DIR}")
            raise DeviceError(f"adb failed to {what} on {self.name} (exit {proc.returncode}): {text[-400:]}")
        return proc

    def shell(self, *command: str) -> str:
        """stdout of ``adb shell COMMAND...`` on this device."""
        return self._checked(f"run {' '.join(command)}", "shell", *command).stdout

    def max_frequencies(self) -> dict[int, int]:
        return max_frequencies(self._sysfs(ONLINE, f"{CPU_DIR}/{MAX_FREQ_GLOB}"))

    def cache_sizes(self) -> dict[int, int]:
        return cache_sizes(self._sysfs(*(f"{CPU_DIR}/{pattern}" for pattern in CACHE_GLOBS)))

    def _sysfs(self, *patterns: str) -> dict[str, str]:
        """The texts of the device's files matching ``patterns``, by path (unreadable ones left out)."""
        proc = self._adb("shell", "grep", "-H", ".", *patterns)
        return dict(line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line)

    def install(self, binary: Path) -> str:
        """The path of ``binary`` on the device, pushed (and made executable) unless the device holds the same
        file already: one push per binary for all the processes of a measurement."""
        remote = f"{REMOTE_DIR}/{binary.name}"
        held = self._adb("shell", "sha256sum", remote)
        if held.returncode == 0 and held.stdout.split()[:1] == [hashlib.sha256(binary.read_bytes()).hexdigest()]:
            return remote
        self._checked(f"push {binary.name}", "push", str(binary), remote,
                      timeout=transfer_timeout(binary.stat().st_size))
        self._checked(f"make {binary.name} executable", "shell", "chmod", "755", remote)
        return remote

    def execute(self, binary: Path, input_bytes: bytes, flags: list[str], pin: str | None) -> RunOutput:
        remote_in, remote_out = f"{REMOTE_DIR}/{INPUT_FILE}", f"{REMOTE_DIR}/{OUTPUT_FILE}"
        with tempfile.TemporaryDirectory(prefix="autocompress-adb-") as tmp:
            local_in = Path(tmp) / INPUT_FILE
            local_in.write_bytes(input_bytes)
            self._checked("create the work folder", "shell", "mkdir", "-p", REMOTE_DIR)
            self._checked("remove an old output", "shell", "rm", "-f", remote_out)
            remote_bin = self.install(binary)
            self._checked("push the input", "push", str(local_in), remote_in,
                          timeout=transfer_timeout(len(input_bytes)))
            taskset = ["taskset", cpu_mask(pin)] if pin else []
            run = self._checked(f"run {binary.name}", "shell", *taskset, remote_bin, "--input", remote_in,
                                "--output", remote_out, *flags, timeout=RUN_TIMEOUT_S)
            if not any(line.startswith("{") for line in run.stdout.splitlines()):
                raise DeviceError(f"{binary.name} ran on {self.name} but printed no result line (stdout: "
                                  f"{run.stdout.strip()[:200]!r}); it is not a working autocompress binary")
            local_out = Path(tmp) / OUTPUT_FILE
            self._checked("pull the output", "pull", remote_out, str(local_out), timeout=TRANSFER_TIMEOUT_S)
            return RunOutput(run.stdout, local_out.read_bytes())
