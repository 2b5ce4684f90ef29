"""Device layer: latency only after the output matches onnxruntime, clear errors for wrong devices."""
from __future__ import annotations

import shutil

import onnx
import pytest

from codegen import CompiledModel
from conftest_codegen import artifacts, make_model  # noqa: F401  (fixture)
from codegen.frontend import export_torch
from runtime import AccuracyError, DeviceError, get_device


def test_host_bench_reports_statistics(artifacts):
    result = get_device("host").bench(artifacts.get("small_cnn", "dense", "host"), runs=7, warmup=2)
    assert len(result.times_ms) == 7 and result.runs == 7 and result.warmup == 2
    assert result.min_ms <= result.median_ms <= result.p90_ms <= max(result.times_ms)
    assert result.min_ms <= result.mean_ms <= max(result.times_ms)
    assert result.max_abs_error <= 1e-4 and not result.emulated
    assert "median" in result.summary()


def test_wrong_output_refuses_latency(artifacts, tmp_path):
    """Swap the reference ONNX for another model: the binary no longer matches, and no latency comes back."""
    compiled = artifacts.get("small_cnn", "dense", "host")
    copy = tmp_path / "copy"
    shutil.copytree(compiled.out_dir, copy)
    other, shape = make_model("small_cnn", seed=7)
    onnx.save(export_torch(other, shape), str(copy / "model.onnx"))
    with pytest.raises(AccuracyError, match="exceeds tolerance 0.0001; refusing to report latency"):
        get_device("host").bench(CompiledModel.load(copy), runs=1, warmup=0)


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
