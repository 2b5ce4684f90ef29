"""Several phones of one model filling one table: the fingerprint they must share, and a list of jobs shared
out over them, one thread per device (the device's work runs in adb subprocesses).

>>> devices = get_devices("adb:R58M1,adb:R58M2")
>>> fingerprint = common_fingerprint(devices, threads=4)     # refused if the phones differ
>>> costs = share_out(devices, models, compile_one, lambda device, model, compiled: measure(device, compiled))
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

from runtime import Device

from .fingerprint import device_fingerprint

Job = TypeVar("Job")
Built = TypeVar("Built")
Result = TypeVar("Result")
_DONE = object()


def common_fingerprint(devices: Sequence[Device], threads: int) -> dict:
    """The fingerprint all ``devices`` share; a ValueError naming each differing field and device otherwise."""
    prints = [device_fingerprint(device, threads) for device in devices]
    keys = dict.fromkeys(key for p in prints for key in p)
    fields = [key for key in keys if len({repr(p.get(key)) for p in prints}) > 1]
    if fields:
        differences = "; ".join(f"{key} " + ", ".join(f"{p.get(key)!r} on {d.name}" for d, p in zip(devices, prints))
                                for key in fields)
        raise ValueError(f"one latency table needs devices of one model, and these differ: {differences}")
    return prints[0]


def share_out(devices: Sequence[Device], jobs: Sequence[Job], build: Callable[[Job], Built],
              run: Callable[[Device, Job, Built], Result]) -> list[Result]:
    """``run(device, job, build(job))`` for every job, each taken by the next free device; the results in job order.

    Builds go one at a time (the compiler is not known to be thread-safe) while the devices run side by side.
    After a failure, or an interrupt, no device takes another job, and the error is raised.
    """
    lock, stop = threading.Lock(), threading.Event()
    pending, results = iter(enumerate(jobs)), [None] * len(jobs)

    def work(device: Device) -> None:
        try:
            while not stop.is_set():
                with lock:
                    index, job = next(pending, (_DONE, None))
                    if index is _DONE:
                        return
                    built = build(job)
                results[index] = run(device, job, built)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(len(devices), thread_name_prefix="latency-device") as pool:
        futures = [pool.submit(work, device) for device in devices]
        try:
            for future in futures:
                future.result()
        finally:
            stop.set()
    return results
