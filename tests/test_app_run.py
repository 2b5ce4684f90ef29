"""``autocompress run``: the whole job on the embedded digits with tiny budgets, on the host and under qemu."""
import json

import pytest

from autocompress.cli import main

TINY = ["--baseline-epochs", "2", "--rounds", "1", "--target-rate", "2", "--admm-epochs", "1", "--retrain-epochs", "1",
        "--candidates", "3", "--val-images", "100", "--recal-batches", "1", "--runs", "3", "--no-progress"]


@pytest.mark.parametrize("target,device", [pytest.param("host", "host", marks=pytest.mark.slow),
                                           pytest.param("linux-aarch64", "qemu", marks=[pytest.mark.slow,
                                                                                        pytest.mark.qemu])])
def test_run_writes_report_plots_and_checked_binaries(tmp_path, capsys, target, device):
    out = tmp_path / "run"
    assert main(["run", *TINY, "--target", target, "--device", device, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["stats"]["compression_rate"] >= 2.0 * 0.99
    for name in ("dense", "compressed"):
        bench = report["bench"][name]
        assert bench["max_abs_error"] <= 1e-4
        assert bench["emulated"] == (device == "qemu")
        assert len(bench["layer_cost"]) == len(report["layers"][name]) and all(c > 0 for c in bench["layer_cost"])
    assert report["layer_cost_unit"] == ("emulated AArch64 instructions" if device == "qemu" else "ms")
    if device == "qemu":
        dense, small = (report["bench"][k]["emulated_instructions_per_inference"] for k in ("dense", "compressed"))
        assert 0 < small < dense
    else:
        assert report["bench"]["compressed"]["median_ms"] > 0
    for name in ("report.md", "layers.png", "rounds.png", "compress/model.pt"):
        assert (out / name).is_file(), name
    markdown = (out / "report.md").read_text()
    latency = markdown.split("## Latency")[1].split("## Layers")[0]
    if device == "qemu":  # emulated: instruction counts, never milliseconds
        assert "emulated AArch64 instructions" in latency and " ms" not in latency
    else:
        assert "Measured speed-up" in latency
    assert "test accuracy" in capsys.readouterr().out
