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
    if "," in spec:
        raise ValueError(f"{spec!r} lists several devices; this needs one of: {', '.join(DEVICE_KINDS)}")
    kind, _, serial = spec.partition(":")
    if kind == "host" and not serial:
        return HostDevice()
    if kind == "qemu" and not serial:
        return QemuDevice()
    if kind == "adb":
        return AdbDevice(serial or None)
    raise ValueError(f"unknown device {spec!r}; expected one of: {', '.join(DEVICE_KINDS)}")


def get_devices(specs: str) -> list[Device]:
    """The devices of ``specs``: one device, or several phones as ``adb:SERIAL1,adb:SERIAL2,...``.

    >>> [d.name for d in get_devices("adb:R58M1,adb:R58M2")]
    ['adb:R58M1', 'adb:R58M2']
    """
    parts = specs.split(",")
    phones = all(part.startswith("adb:") and part[4:] for part in parts)
    if len(parts) > 1 and (not phones or len(set(parts)) < len(parts)):
        raise ValueError(f"several devices must be distinct phones, adb:SERIAL1,adb:SERIAL2,...; got {specs!r}")
    return [get_device(part) for part in parts]


__all__ = ["get_device", "get_devices", "Device", "BenchResult", "AccuracyError", "DeviceError"]
