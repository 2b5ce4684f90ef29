"""``--profile``: per-kernel median times in the benchmark's JSON line, and ``BenchResult.kernel_ms``."""
from __future__ import annotations

import json
import subprocess

import pytest

from runtime import get_device
from runtime.device import kernel_times


def _stats(binary, *flags: str) -> dict:
    proc = subprocess.run([str(binary), "--runs", "5", "--warmup", "1", *flags], capture_output=True, text=True,
                          timeout=60, check=True)
    (line,) = proc.stdout.splitlines()
    return json.loads(line)


def test_profile_adds_one_median_per_kernel_call(artifacts):
    compiled = artifacts.get("small_cnn", "dense", "host")
    plain, profiled = _stats(compiled.binary), _stats(compiled.binary, "--profile")
    assert "kernels" not in plain
    assert {k: v for k, v in profiled.items() if k != "kernels" and not k.endswith("ms")} == \
        {k: v for k, v in plain.items() if not k.endswith("ms")}
    kernels = kernel_times(profiled)
    assert len(kernels) == profiled["kernel_calls"] == compiled.info["kernel_calls"]
    names = [name for name, _ in kernels]
    layers = [layer["kernel"] for layer in compiled.info["layers"]]
    assert [n for n in names if n in layers] == layers  # the layer kernels, in graph order
    assert names[2] == "max_pool2d" and all(ms > 0 for _, ms in kernels)
    # medians of the parts vs the whole: the same order of magnitude, not ns read as ms
    assert 0.3 * profiled["min_ms"] <= sum(ms for _, ms in kernels) <= 1.5 * max(profiled["times_ms"])


def test_bench_profile_fills_kernel_ms_on_real_devices_only(artifacts):
    host = artifacts.get("small_cnn", "dense", "host")
    assert get_device("host").bench(host, runs=3, warmup=1).kernel_ms is None
    result = get_device("host").bench(host, runs=3, warmup=1, profile=True)
    assert result.kernel_ms[-1][0] == host.info["layers"][-1]["kernel"]
    assert json.loads(json.dumps(result.to_dict()))["kernel_ms"][0][0] == result.kernel_ms[0][0]


@pytest.mark.qemu
def test_emulated_profile_reports_no_kernel_times(artifacts):
    compiled = artifacts.get("small_cnn", "dense", "linux-aarch64")
    result = get_device("qemu").bench(compiled, runs=2, warmup=0, profile=True)
    assert result.emulated and result.kernel_ms is None and result.median_ms is None

