"""Device layer: latency only after the output matches onnxruntime, the timing options, clear errors for wrong
devices."""
from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch

from codegen import CompiledModel, compile_model
from codegen_helpers import make_model
from codegen.frontend import export_torch
from runtime import AccuracyError, DeviceError, get_device
from runtime.reference import output_errors, within_tolerance


def test_host_bench_reports_statistics(artifacts):
    result = get_device("host").bench(artifacts.get("small_cnn", "dense", "host"), runs=7, warmup=2)
    assert len(result.times_ms) == 7 and result.runs == 7 and result.warmup == 2
    assert result.min_ms <= result.median_ms <= result.p90_ms <= max(result.times_ms)
    assert result.min_ms <= result.mean_ms <= max(result.times_ms)
    assert result.max_abs_error <= 1e-4 and not result.emulated
    assert "median" in result.summary() and result.pin_reason  # not pinned here unless cpufreq says why


def test_timing_options_change_what_the_binary_does(artifacts):
    """The real binary on this machine: --min-ms times a tiny model far more often than --runs asks, --warmup-ms
    warms it up more often than --warmup; with --delay-ms 50 before every inference but the first, 200 ms of timed
    runs hold at most 5. The statistics are in order."""
    host, compiled = get_device("host"), artifacts.get("small_cnn", "dense", "host")
    longer = host.bench(compiled, runs=2, warmup=1, warmup_min_ms=200, runs_min_ms=300)
    assert longer.runs > 2 and longer.warmup > 1 and len(longer.times_ms) == longer.runs
    assert (longer.warmup_min_ms, longer.runs_min_ms, longer.delay_ms) == (200, 300, 0)
    spaced = host.bench(compiled, runs=1, warmup=0, runs_min_ms=200, delay_ms=50)
    assert 1 <= spaced.runs <= 5 and spaced.warmup == 0 and spaced.delay_ms == 50
    for result in (longer, spaced):
        assert result.min_ms <= result.median_ms <= result.p90_ms <= max(result.times_ms)
        assert result.min_ms <= result.mean_ms <= max(result.times_ms) and result.std_ms >= 0 and result.first_ms > 0
    assert spaced.first_ms == spaced.times_ms[0]  # no warm-up: the first timed run is the cold one
    with pytest.raises(ValueError, match="finite times >= 0 ms"):
        host.bench(compiled, delay_ms=-1)


def test_wrong_output_refuses_latency(artifacts, tmp_path):
    """Swap the reference ONNX for another model: the binary no longer matches, and no latency comes back."""
    compiled = artifacts.get("small_cnn", "dense", "host")
    copy = tmp_path / "copy"
    shutil.copytree(compiled.out_dir, copy)
    other, shape = make_model("small_cnn", seed=7)
    onnx.save(export_torch(other, shape), str(copy / "model.onnx"))
    with pytest.raises(AccuracyError, match=r"beyond 0.0001 \+ 1e-05 x \|value\|; refusing to report latency"):
        get_device("host").bench(CompiledModel.load(copy), runs=1, warmup=0)


def test_large_outputs_are_compared_on_their_own_scale(tmp_path):
    """Outputs near 1e6 (float32 spacing 0.06 there) differ from onnxruntime by far more than the absolute 1e-4,
    yet by ~1e-7 of their scale: accepted with the default relative part, refused by an absolute-only check."""
    model, shape = make_model("small_cnn", seed=3)
    with torch.no_grad():
        model.classifier.weight.mul_(1e6)
    compiled = compile_model(model, "host", tmp_path / "big", input_shape=shape)
    result = get_device("host").bench(compiled, runs=1, warmup=0)
    assert result.max_abs_error > 1e-4 and result.max_rel_error < 1e-5
    assert "of the output's scale" in result.summary()
    with pytest.raises(AccuracyError, match="of the output's scale"):
        get_device("host").bench(compiled, runs=1, warmup=0, rtol=0.0)


def test_tolerance_rule_is_elementwise():
    reference = np.array([1e4, 1.0, -2.0], dtype=np.float32)
    shift = np.array([5e-2, 0, 0], dtype=np.float32)
    assert within_tolerance(reference, reference + shift, 1e-4, 1e-5)
    assert not within_tolerance(reference, reference + shift[::-1], 1e-4, 1e-5)  # on a small element
    assert not within_tolerance(reference, np.array([np.nan, 1, -2], dtype=np.float32), 1e-4, 1e-5)
    assert output_errors(reference, reference[:2]) == (float("inf"), float("inf"))
    abs_error, rel_error = output_errors(reference, reference + np.float32(1.0) * np.array([0, 0, 1], np.float32))
    assert abs_error == 1.0 and rel_error == pytest.approx(1e-4)


def test_wrong_architecture(artifacts):
    with pytest.raises(DeviceError, match=r"compiled for host \(x86_64\); device qemu runs aarch64"):
        get_device("qemu").bench(artifacts.get("small_cnn", "dense", "host"), runs=1)


def test_device_spec_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown device 'phone'; expected one of: host, qemu, adb"):
        get_device("phone")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeviceError, match="qemu-aarch64 not found on PATH"):
        get_device("qemu")
    with pytest.raises(FileNotFoundError, match="not a compiled model directory"):
        CompiledModel.load(tmp_path)
