"""Where a benchmark runs: CPU lists, and the choice of the fastest cores from each CPU's maximum frequency.

A phone's cores come in clusters of one maximum frequency (big.LITTLE); a timed run left to the scheduler may
land on a little core. ``choose_pinning`` picks the fastest cluster (and the next fastest while the threads need
more cores) from ``cpuinfo_max_freq``, and says why in words.

>>> fastest_cores({0: 1800000, 1: 1800000, 2: 2400000, 3: 2400000}, threads=1)
Pinning(cpus='2-3', reason='fastest cores by cpuinfo_max_freq: 2-3 at 2.40 GHz; left out 0-1 at 1.80 GHz')
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

AUTO, NO_PIN = "auto", "none"  # the pin settings that are not CPU lists
CPU_DIR = "/sys/devices/system/cpu"
ONLINE = f"{CPU_DIR}/online"
MAX_FREQ_GLOB = "cpu[0-9]*/cpufreq/cpuinfo_max_freq"  # under CPU_DIR, in kHz
CACHE_GLOBS = tuple(f"cpu[0-9]*/cache/index[0-9]*/{name}" for name in ("level", "type", "size"))  # under CPU_DIR


@dataclass(frozen=True)
class Pinning:
    """The CPU list a benchmark is pinned to (``""``: not pinned), and why."""

    cpus: str
    reason: str


def parse_cpu_list(text: str) -> list[int]:
    """The CPUs of a list such as ``4-7``, ``0,2`` or ``7,4-6``, in its order."""
    cpus = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"invalid CPU list {text!r}; expected e.g. 4-7 or 0,2") from None
        if first < 0 or last < first:
            raise ValueError(f"invalid CPU range {part!r} in {text!r}")
        cpus += range(first, last + 1)
    return cpus


def format_cpu_list(cpus: list[int]) -> str:
    """``cpus`` as a list in their order, ascending runs as ranges: ``[7, 4, 5, 6]`` -> ``7,4-6``."""
    runs = [[cpu for _, cpu in group]
            for _, group in itertools.groupby(enumerate(cpus), key=lambda pair: pair[1] - pair[0])]
    return ",".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def cpu_mask(cpus: str) -> str:
    """The hexadecimal taskset mask of a CPU list such as ``4-7`` or ``0,2``."""
    return format(sum(1 << cpu for cpu in set(parse_cpu_list(cpus))), "x")


def max_frequencies(files: Mapping[str, str]) -> dict[int, int]:
    """kHz per online CPU from the texts of sysfs files by path: ``ONLINE`` and each CPU's ``cpuinfo_max_freq``.
    CPUs without a readable frequency are left out; without ``ONLINE`` every CPU with one counts as online."""
    freqs = {}
    for path, text in files.items():
        parts = Path(path).parts
        if path != ONLINE and text.strip().isdigit() and parts[-3].removeprefix("cpu").isdigit():
            freqs[int(parts[-3].removeprefix("cpu"))] = int(text)
    online = set(parse_cpu_list(files[ONLINE].strip())) if files.get(ONLINE, "").strip() else set(freqs)
    return {cpu: khz for cpu, khz in sorted(freqs.items()) if cpu in online}


def local_max_frequencies() -> dict[int, int]:
    """:func:`max_frequencies` of this machine."""
    return max_frequencies(_read_files([Path(ONLINE), *Path(CPU_DIR).glob(MAX_FREQ_GLOB)]))


def _read_files(paths) -> dict[str, str]:
    """The texts of the readable files among ``paths``, by path."""
    files = {}
    for path in paths:
        try:
            files[str(path)] = path.read_text()
        except OSError:
            pass
    return files


def cache_sizes(files: Mapping[str, str]) -> dict[int, int]:
    """Bytes of the largest data or unified cache of each level, from the texts of sysfs files by path
    (``cpuN/cache/indexK/{level,type,size}`` under ``CPU_DIR``; sizes such as ``48K`` or ``2M``). Empty when the
    kernel does not describe its caches (many phones)."""
    caches: dict[str, dict[str, str]] = {}
    for path, text in files.items():
        parts = Path(path).parts
        if len(parts) >= 4 and parts[-3] == "cache" and parts[-2].startswith("index"):
            caches.setdefault(str(Path(*parts[:-1])), {})[parts[-1]] = text.strip()
    sizes: dict[int, int] = {}
    for cache in caches.values():
        size = _bytes(cache.get("size", ""))
        if cache.get("type") in ("Data", "Unified") and cache.get("level", "").isdigit() and size:
            level = int(cache["level"])
            sizes[level] = max(size, sizes.get(level, 0))
    return dict(sorted(sizes.items()))


def _bytes(text: str) -> int:
    """``48K`` -> 49152, ``2M`` -> 2097152, ``512`` -> 512; 0 when unreadable."""
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    return int(digits) * scale if digits.isdigit() else 0


def local_cache_sizes() -> dict[int, int]:
    """:func:`cache_sizes` of this machine."""
    return cache_sizes(_read_files(path for pattern in CACHE_GLOBS for path in Path(CPU_DIR).glob(pattern)))


def fastest_cores(freqs: Mapping[int, int], threads: int) -> Pinning:
    """The fastest cluster by maximum frequency, joined by the next fastest while it holds fewer CPUs than
    ``threads``, fastest first; no pinning when the frequencies are unknown or the choice leaves no CPU out."""
    if not freqs:
        return Pinning("", f"not pinned: no readable cpuinfo_max_freq under {CPU_DIR}")
    clusters = [[cpu for cpu, _ in group] for _, group in
                itertools.groupby(sorted(freqs.items(), key=lambda item: (-item[1], item[0])), key=lambda i: i[1])]
    chosen = 0
    while sum(map(len, clusters[:chosen])) < threads and chosen < len(clusters):
        chosen += 1
    if chosen == len(clusters):
        return Pinning("", f"not pinned: no CPU left out for {threads} thread(s) ({_describe(clusters, freqs)})")
    return Pinning(format_cpu_list([cpu for cluster in clusters[:chosen] for cpu in cluster]),
                   f"fastest cores by cpuinfo_max_freq: {_describe(clusters[:chosen], freqs)}; left out "
                   f"{_describe(clusters[chosen:], freqs)}")


def choose_pinning(pin: str, threads: int, emulated: bool, frequencies: Callable[[], Mapping[int, int]]) -> Pinning:
    """What ``pin`` means on a device: ``auto`` the fastest cores (``frequencies`` read only then; an emulator's
    times are no latencies, so it is not pinned), ``none`` no pinning, else the CPU list as given."""
    if pin == NO_PIN:
        return Pinning("", "not pinned: asked for none")
    if pin != AUTO:
        parse_cpu_list(pin)
        return Pinning(pin, "as given")
    if emulated:
        return Pinning("", "not pinned: emulated, times are no latencies")
    return fastest_cores(frequencies(), threads)


def _describe(clusters: list[list[int]], freqs: Mapping[int, int]) -> str:
    return ", ".join(f"{format_cpu_list(c)} at {freqs[c[0]] / 1e6:.2f} GHz" for c in clusters)
