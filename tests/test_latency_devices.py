"""Sharing jobs out over devices: every job once, results in job order, every device busy, a failure stops the rest.
The phones' fingerprints and a table filled from two stand-in phones: tests/test_runtime_adb.py."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from latency.devices import share_out

DEVICES = [SimpleNamespace(name="adb:A"), SimpleNamespace(name="adb:B")]


def test_jobs_are_shared_out_and_results_kept_in_order():
    built = []

    def build(job: int) -> int:
        built.append(job)
        return job * 10

    def run(device, job: int, built: int) -> tuple[str, int]:
        time.sleep(0.05)  # a device run: the other device takes the next job meanwhile
        return device.name, built + job

    results = share_out(DEVICES, list(range(6)), build, run)
    assert [value for _, value in results] == [11 * job for job in range(6)]
    assert {name for name, _ in results} == {"adb:A", "adb:B"} and sorted(built) == list(range(6))


def test_a_failing_device_stops_the_sharing():
    taken = []

    def run(device, job: int, built: int) -> int:
        taken.append(job)
        if device.name == "adb:B":
            raise RuntimeError(f"{device.name} unplugged")
        time.sleep(0.05)
        return job

    with pytest.raises(RuntimeError, match="adb:B unplugged"):
        share_out(DEVICES, list(range(20)), lambda job: job, run)
    assert len(taken) < 5
