"""Errors of the device layer; RuntimeError subclasses, so the CLI prints them as one line."""
from __future__ import annotations


class DeviceError(RuntimeError):
    """The device is missing, not usable, or the binary failed on it."""


class AccuracyError(RuntimeError):
    """The binary's output differs from onnxruntime by more than the tolerance; no latency is reported."""
