"""Running and timing the compiled binaries: host, qemu-aarch64 and adb devices.

>>> from runtime import get_device
>>> result = get_device("host").bench(compiled, runs=20, threads=1)
>>> result.median_ms, result.max_abs_error
"""
from __future__ import annotations

from .adb import AdbDevice
from .device import Device
from .errors import AccuracyError, DeviceError
from .local import HostDevice, QemuDevice
from .result import BenchResult

DEVICE_KINDS = ("host", "qemu", "adb[:SERIAL]")


def get_device(spec: str) -> Device:
    """A device from ``host``, ``qemu``, ``adb`` (the only connected phone) or ``adb:SERIAL``."""
    kind, _, serial = spec.partition(":")
    if kind == "host" and not serial:
        return HostDevice()
    if kind == "qemu" and not serial:
        return QemuDevice()
    if kind == "adb":
        return AdbDevice(serial or None)
    raise ValueError(f"unknown device {spec!r}; expected one of: {', '.join(DEVICE_KINDS)}")


__all__ = ["get_device", "Device", "BenchResult", "AccuracyError", "DeviceError"]
