"""CPU lists, and the choice of the fastest cores from each online CPU's maximum frequency."""
from __future__ import annotations

import pytest

from runtime.cpus import (ONLINE, Pinning, cache_sizes, choose_pinning, cpu_mask, fastest_cores, format_cpu_list,
                          local_cache_sizes, max_frequencies, parse_cpu_list)

BIG_LITTLE = {**dict.fromkeys(range(4), 1804800), **dict.fromkeys(range(4, 7), 2419200), 7: 2841600}  # kHz


def test_cpu_lists():
    assert parse_cpu_list("7,4-6") == [7, 4, 5, 6] and format_cpu_list([7, 4, 5, 6]) == "7,4-6"
    assert format_cpu_list([0, 2]) == "0,2" and format_cpu_list(parse_cpu_list("0-3")) == "0-3"
    assert cpu_mask("4-7") == "f0" and cpu_mask("0,2") == "5" and cpu_mask("7,4-6") == "f0"
    for bad in ("a-b", "", "1,,2", "-1"):
        with pytest.raises(ValueError, match="invalid CPU list"):
            parse_cpu_list(bad)
    with pytest.raises(ValueError, match="invalid CPU range '3-1'"):
        parse_cpu_list("3-1")


def test_max_frequencies_of_the_online_cpus():
    files = {f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq": f"{khz}\n"
             for cpu, khz in ((0, 1800000), (1, 1800000), (2, 2400000), (3, 2400000))}
    assert max_frequencies({ONLINE: "0-2\n", **files}) == {0: 1800000, 1: 1800000, 2: 2400000}
    assert max_frequencies(files) == {0: 1800000, 1: 1800000, 2: 2400000, 3: 2400000}
    assert max_frequencies({ONLINE: "0-3\n"}) == {}


def test_cache_sizes_per_level_from_sysfs():
    """A big.LITTLE phone: each level's largest data or unified cache; instruction caches and unreadable sizes
    do not count."""
    caches = {(0, 0): ("1", "Data", "32K"), (0, 1): ("1", "Instruction", "64K"), (0, 2): ("2", "Unified", "128K"),
              (7, 0): ("1", "Data", "64K"), (7, 2): ("2", "Unified", "1M"), (7, 3): ("3", "Unified", "4096K"),
              (7, 4): ("4", "Unified", "unknown")}
    files = {f"/sys/devices/system/cpu/cpu{cpu}/cache/index{i}/{name}": f"{value}\n"
             for (cpu, i), values in caches.items() for name, value in zip(("level", "type", "size"), values)}
    assert cache_sizes(files) == {1: 64 << 10, 2: 1 << 20, 3: 4 << 20}
    assert cache_sizes({}) == {}
    assert all(size > 0 for size in local_cache_sizes().values())


def test_the_fastest_cluster_then_the_next_while_threads_need_more():
    assert fastest_cores(BIG_LITTLE, 1) == Pinning(
        "7", "fastest cores by cpuinfo_max_freq: 7 at 2.84 GHz; left out 4-6 at 2.42 GHz, 0-3 at 1.80 GHz")
    assert fastest_cores(BIG_LITTLE, 2).cpus == "7,4-6" and fastest_cores(BIG_LITTLE, 4).cpus == "7,4-6"
    assert fastest_cores(BIG_LITTLE, 5) == Pinning(
        "", "not pinned: no CPU left out for 5 thread(s) (7 at 2.84 GHz, 4-6 at 2.42 GHz, 0-3 at 1.80 GHz)")
    assert fastest_cores(dict.fromkeys(range(8), 2000000), 1).cpus == ""  # one cluster: nothing to choose
    assert fastest_cores({}, 1) == Pinning("", "not pinned: no readable cpuinfo_max_freq under /sys/devices/system/cpu")


def test_frequencies_are_read_only_for_auto_on_a_real_device():
    def unread() -> dict:
        raise AssertionError("frequencies read")

    assert choose_pinning("none", 1, False, unread) == Pinning("", "not pinned: asked for none")
    assert choose_pinning("4-7", 4, False, unread) == Pinning("4-7", "as given")
    assert choose_pinning("auto", 1, True, unread) == Pinning("", "not pinned: emulated, times are no latencies")
    assert choose_pinning("auto", 1, False, lambda: BIG_LITTLE).cpus == "7"
    with pytest.raises(ValueError, match="invalid CPU list 'x'"):
        choose_pinning("x", 1, False, unread)
