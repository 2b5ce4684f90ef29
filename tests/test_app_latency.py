"""Latency goals in the application: reading a cost goal in the device's unit, and ``autocompress run
--target-latency`` end to end on the host: the small CNN's latency table (a 2x2 grid), the search on predicted
cost, a real build and measurement at the end of the round."""
import json

import pytest

from autocompress.cli import main
from autocompress.latency import parse_cost

TINY = ["--baseline-epochs", "2", "--rounds", "1", "--admm-epochs", "1", "--retrain-epochs", "1", "--candidates", "3",
        "--val-images", "100", "--recal-batches", "1", "--runs", "3", "--no-progress", "--latency-steps", "1,0.5"]
INSTRUCTIONS = "emulated AArch64 instructions"


@pytest.mark.parametrize("text, unit, value", [
    ("2.5ms", "ms", 2.5), ("800us", "ms", 0.8), ("0.003 s", "ms", 3.0),
    ("3.2M", INSTRUCTIONS, 3.2e6), ("1500000", INSTRUCTIONS, 1.5e6), ("2k", INSTRUCTIONS, 2000.0),
])
def test_cost_goals_are_read_in_the_device_unit(text, unit, value):
    assert parse_cost(text, unit) == pytest.approx(value)


@pytest.mark.parametrize("text, unit, message", [
    ("2.5", "ms", "does not fit this device"), ("3.2M", "ms", "does not fit this device"),
    ("2.5ms", INSTRUCTIONS, "does not fit this device"), ("fast", "ms", "cannot read the latency goal"),
])
def test_bad_cost_goals_name_the_problem(text, unit, message):
    with pytest.raises(ValueError, match=message):
        parse_cost(text, unit)


@pytest.mark.slow
def test_run_with_a_latency_goal_predicts_and_measures_each_round(tmp_path, capsys):
    from compress.models import build_model
    from latency import load_or_build
    from latency.variants import calibrate

    table = load_or_build("small_cnn", "host", (1.0, 0.5), progress=False)  # cached for the run
    dense = calibrate(build_model("small_cnn"), (1, 1, 8, 8))
    goal = 0.75 * table.predict(dense, (1, 1, 8, 8))
    out = tmp_path / "run"
    assert main(["run", *TINY, "--target-latency", f"{goal:.6f}ms", "--device", "host", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    latency = report["rounds"][-1]["latency"]
    assert latency["unit"] == "ms" and latency["goal"] == pytest.approx(goal, rel=1e-3)
    assert latency["predicted"] <= goal * 1.001 and latency["measured"] > 0
    assert "cost measured on the compiled model (ms)" in (out / "compress" / "report.md").read_text()
    assert table.accuracy["validation"]["points"] == 4  # checked off its grid when built, and said when used
    assert table.validation_line() in capsys.readouterr().err
