"""What a latency table's costs depend on: the device, the threads, the cores they are pinned to, the cost unit,
and the versions of TVM and of the project's code generator. A table is reused only on a device with the same
fingerprint; a phone's is its model's (no serial), so any phone of that model reuses it."""
from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from runtime import Device
from runtime.cpus import AUTO
from runtime.insn_count import PLUGIN_SOURCE

MS = "ms"
INSTRUCTIONS = "emulated AArch64 instructions"
ROOT = Path(__file__).resolve().parent.parent
CODEGEN_SOURCES = ("codegen/**/*.py", "android_bench/*.c", "android_bench/*.h")


def device_fingerprint(device: Device, threads: int) -> dict:
    """The device (kind; CPU model, cores and cache sizes, or the emulator), threads, the pinning every measurement
    of the table uses (``pin="auto"``: the fastest cores) and why, the cost unit, and the software."""
    kind = device.name.partition(":")[0]
    if kind == "qemu":
        version = subprocess.run([device.qemu, "--version"], capture_output=True, text=True).stdout
        facts = {"emulator": version.splitlines()[0].strip(), "plugin": _digest([PLUGIN_SOURCE])}
    elif kind == "adb":
        facts = {"model": device.shell("getprop", "ro.product.model").strip(),
                 "soc": device.shell("getprop", "ro.board.platform").strip(),
                 **cpuinfo(device.shell("cat", "/proc/cpuinfo"))}
    else:
        facts = {"machine": platform.machine(), **cpuinfo(Path("/proc/cpuinfo").read_text())}
    if not device.emulated:
        facts["caches"] = {f"L{level}": size for level, size in device.cache_sizes().items()}
    software = {"tvm": metadata.version("apache-tvm"),
                "codegen": _digest(sorted(p for g in CODEGEN_SOURCES for p in ROOT.glob(g)))}
    pinning = device.pinning(AUTO, threads)
    return {"kind": kind, **facts, "threads": threads, "pin": pinning.cpus, "pin_reason": pinning.reason,
            "unit": INSTRUCTIONS if device.emulated else MS, "software": software}


def cpuinfo(text: str) -> dict:
    """CPU model and core count from a /proc/cpuinfo text (x86 "model name", ARM "Hardware" or parts)."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), []).append(value.strip())
    parts = sorted(set(fields.get("CPU part", [])))
    cpu = (fields.get("model name") or fields.get("Hardware") or [f"CPU parts {', '.join(parts)}"])[0]
    return {"cpu": cpu, "cores": len(fields.get("processor", []))}


def _digest(paths) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(Path(path).read_bytes())
    return sha.hexdigest()[:16]
