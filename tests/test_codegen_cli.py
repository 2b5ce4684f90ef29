"""``autocompress compile`` and ``autocompress bench`` through the CLI entry point."""
from __future__ import annotations

import json

import onnx
import pytest

from autocompress.cli import main
from codegen.frontend import export_torch
from codegen_helpers import make_model


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "small.onnx"
    onnx.save(export_torch(*make_model("small_cnn")), str(path))
    return path


def test_compile_then_bench_json(small_onnx, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compile", "--onnx", str(small_onnx), "--target", "host", "-o", str(out)]) == 0
    assert "compiled small for host" in capsys.readouterr().out
    info = json.loads((out / "compile.json").read_text())
    assert info["target"] == "host" and info["input_shape"] == [1, 1, 8, 8] and info["output_shape"] == [1, 10]
    assert info["binary_bytes"] == (out / "model").stat().st_size and info["kernels"] >= 5
    assert (out / "model.onnx").is_file()
    assert main(["bench", str(out), "--device", "host", "--runs", "3", "--warmup", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["runs"] == 3 and result["max_abs_error"] <= 1e-4 and result["emulated"] is False
    assert result["model_hash"] == info["model_hash"] and len(result["times_ms"]) == 3
    assert result["pin_reason"] and result["first_ms"] > 0 and result["std_ms"] >= 0
    assert main(["bench", str(out), "--runs", "1", "--min-ms", "100", "--warmup-ms", "50", "--delay-ms", "0.5",
                 "--pin", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["runs_min_ms"], result["warmup_min_ms"], result["delay_ms"]) == (100, 50, 0.5)
    assert result["runs"] == len(result["times_ms"]) and (result["pin"], result["pin_reason"]) == (
        "", "not pinned: asked for none")
    assert main(["bench", str(out), "--pin", "none"]) == 0
    assert "; not pinned: asked for none; max abs error" in capsys.readouterr().out


def test_bench_help_names_the_timing_and_pinning_flags(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(words in text for words in ("--min-ms MS", "--warmup-ms MS", "--delay-ms MS", "--pin auto|none|CPULIST",
                                           "cpuinfo_max_freq", "min/median/mean/std/p90"))


@pytest.mark.qemu
def test_bench_qemu_json_reports_instructions(small_onnx, tmp_path, capsys):
    out = tmp_path / "arm"
    assert main(["compile", "--onnx", str(small_onnx), "--target", "linux-aarch64", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["bench", str(out), "--device", "qemu", "--runs", "1", "--warmup", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["emulated"] is True and result["median_ms"] is None
    assert 1000 < result["instructions_per_inference"] < 10_000_000


@pytest.mark.slow
def test_compile_registry_model(tmp_path, capsys):
    assert main(["compile", "small_cnn", "--target", "host", "-o", str(tmp_path / "r")]) == 0
    info = json.loads((tmp_path / "r" / "compile.json").read_text())
    assert info["name"] == "small_cnn" and info["schedule"] == "auto" and len(info["layers"]) >= 3
    assert "layers with specialised kernels" in capsys.readouterr().out
    assert main(["compile", "small_cnn", "--schedule", "none", "-o", str(tmp_path / "n")]) == 0
    unscheduled = json.loads((tmp_path / "n" / "compile.json").read_text())
    assert unscheduled["schedule"] == "none" and unscheduled["layers"] == []


@pytest.mark.parametrize("argv, message", [
    (["compile", "--onnx", "{tmp}/bad.onnx", "-o", "{tmp}/o"], "compile: error: cannot parse ONNX file"),
    (["compile", "-o", "{tmp}/o"], "compile: error: give exactly one of MODEL (or --weights naming one) or --onnx FILE"),
    (["compile", "nosuchnet", "-o", "{tmp}/o"], "compile: error: unknown model 'nosuchnet'"),
    (["bench", "{tmp}", "--device", "host"], "bench: error: {tmp} is not a compiled model directory"),
])
def test_errors_are_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "bad.onnx").write_bytes(b"\x00\x01not onnx")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message.format(tmp=tmp_path) in err


def test_bench_missing_device(small_onnx, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["compile", "--onnx", str(small_onnx), "-o", str(out)]) == 0
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["bench", str(out), "--device", "adb:XYZ"]) == 2
    assert capsys.readouterr().err.strip() == "autocompress bench: error: 'adb' not found on PATH; install Android platform-tools"
