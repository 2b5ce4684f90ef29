"""Latency tables: device fingerprints, build/save/load keyed by fingerprint, and predictions of pruned models
(masked or compacted) against measurements, on small_cnn with a 2 x 2 grid."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from compress.pruning import trace_structure
from compress.search import CostModel
from latency import (INSTRUCTIONS, LatencyTable, build_table, device_fingerprint, load_or_build, load_table,
                     save_table, table_path, validate_table)
from latency.fingerprint import cpuinfo
from latency.variants import calibrated_model, compacted, grid_rates, masked, random_rates
from runtime import get_device

STEPS = (1.0, 0.5)
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 38.40
CPU part\t: 0xd05

processor\t: 1
CPU part\t: 0xd41
Hardware\t: Qualcomm Technologies, Inc SM8250
"""


def test_fingerprints_name_the_cpu_or_the_emulator():
    host = device_fingerprint(get_device("host"), threads=2)
    assert host["kind"] == "host" and host["threads"] == 2 and host["unit"] == "ms"
    assert host["cores"] == os.cpu_count() and host["cpu"]
    assert set(host["software"]) == {"tvm", "codegen"}
    assert cpuinfo(ARM_CPUINFO) == {"cpu": "Qualcomm Technologies, Inc SM8250", "cores": 2}
    assert cpuinfo(ARM_CPUINFO.replace("Hardware", "Board"))["cpu"] == "CPU parts 0xd05, 0xd41"


@pytest.mark.qemu
def test_qemu_fingerprint_counts_instructions():
    qemu = device_fingerprint(get_device("qemu"), threads=1)
    assert qemu["unit"] == INSTRUCTIONS and qemu["emulator"].startswith("qemu-aarch64 version")
    assert "cpu" not in qemu  # instruction counts do not depend on the host CPU


@pytest.fixture(scope="module")
def table() -> LatencyTable:
    """Host timings of a 6-microsecond model: their structure is tested here, their accuracy is not (other load on
    the machine, such as a second test worker, moves them by tens of percent); that is the qemu table's job."""
    return build_table("small_cnn", "host", steps=STEPS, runs=10, progress=False)


@pytest.fixture(scope="module")
def qemu_table() -> LatencyTable:
    """Emulated instruction counts: exact and repeatable, so predictions can be held to tight bounds."""
    return build_table("small_cnn", "qemu", steps=STEPS, progress=False)


@pytest.mark.slow
def test_build_measures_every_layer_of_every_grid_variant(table):
    assert len(table.variants) == len(STEPS) ** 2 and table.unit == "ms"
    assert [layer["name"] for layer in table.layers] == ["features.0", "features.3", "features.7", "classifier"]
    dense, smallest = table.variants[0], table.variants[-1]
    assert (dense["filter_keep"], dense["column_keep"], smallest["filter_keep"]) == (1.0, 1.0, 0.5)
    assert [p["rows"] for p in dense["layers"]] == [16, 32, 64, 10]
    assert [p["taps"] for p in dense["layers"]] == [9, 144, 288, 64]
    assert [p["taps"] for p in smallest["layers"]] == [4, 36, 72, 32]  # columns, and channels gone upstream
    assert all(p["cost"] > 0 for variant in table.variants for p in variant["layers"])
    assert table.accuracy["grid_leave_one_out"]["points"] == 4


@pytest.mark.slow
def test_save_load_round_trip_keyed_by_fingerprint(table, tmp_path):
    path = table_path("small_cnn", "host", STEPS, threads=1, cache=tmp_path)
    assert path != table_path("small_cnn", "host", STEPS, threads=2, cache=tmp_path)
    assert path != table_path("small_cnn", "host", (1.0, 0.75, 0.5), threads=1, cache=tmp_path)
    assert path.name.startswith("small_cnn-host-") and table.key in path.name
    save_table(table, path)
    loaded = load_or_build("small_cnn", "host", STEPS, cache=tmp_path)  # no build: it is cached
    assert _as_json(loaded) == _as_json(table)
    data = json.loads(path.read_text())
    data["fingerprint"]["cpu"] = "another CPU"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="does not match its own key"):
        load_table(path)


@pytest.mark.slow
def test_prediction_errors_for_other_models(table):
    vgg, _ = calibrated_model("vgg16")
    with pytest.raises(ValueError, match="not those of small_cnn"):
        table.predict(vgg, (1, 1, 8, 8))
    model, shape = calibrated_model("small_cnn")
    with pytest.raises(ValueError, match=r"input shape \(1, 1, 8, 8\), not \(1, 1, 16, 16\)"):
        table.predict(model, (1, 1, 16, 16))


@pytest.mark.slow
def test_validate_records_errors_of_off_grid_models(table):
    model, shape = calibrated_model("small_cnn")
    rng = np.random.default_rng(3)
    record = validate_table(table, [compacted(model, shape, random_rates(model, shape, rng)) for _ in range(2)],
                            runs=10)
    assert record is table.accuracy["validation"] and record["points"] == 2
    assert 0 <= record["mean_rel_error"] <= record["max_rel_error"] and math.isfinite(record["max_rel_error"])


@pytest.mark.qemu
@pytest.mark.slow
def test_qemu_table_counts_instructions_that_add_up(qemu_table):
    assert qemu_table.unit == INSTRUCTIONS and qemu_table.variants[0]["whole"] > 100_000
    for variant in qemu_table.variants:
        assert 0 < sum(p["cost"] for p in variant["layers"]) < variant["whole"]
    assert qemu_table.variants[0]["whole"] > 2 * qemu_table.variants[-1]["whole"]


@pytest.mark.qemu
@pytest.mark.slow
def test_predictions_of_masked_and_compacted_models(qemu_table):
    model, shape = calibrated_model("small_cnn")
    on_grid = grid_rates(model, shape, 0.5, 0.5)
    masked_model, small = masked(model, shape, on_grid), compacted(model, shape, on_grid)
    assert qemu_table.predict(masked_model, shape) == pytest.approx(qemu_table.predict(small, shape), rel=1e-9)
    assert qemu_table.predict(small, shape) == pytest.approx(qemu_table.variants[-1]["whole"], rel=0.1)
    costs = [qemu_table.predict(masked(model, shape, grid_rates(model, shape, k, k)), shape) for k in (1.0, 0.75, 0.5)]
    assert costs[0] > costs[1] > costs[2]
    layers = qemu_table.predict_layers(masked_model, shape)
    assert [row["name"] for row in layers] == [m["name"] for m in qemu_table.layers] + ["(non-layer)"]
    assert sum(row["cost"] for row in layers) == pytest.approx(qemu_table.predict(masked_model, shape))
    assert [row["taps"] for row in layers[:4]] == [p["taps"] for p in qemu_table.variants[-1]["layers"]]


@pytest.mark.qemu
@pytest.mark.slow
def test_prediction_from_kept_counts_matches_the_model_prediction(qemu_table):
    """The search's fast path: per-layer kept (rows, columns) counted analytically, no model. It does not find the
    channels only purification removes, so it predicts at or a little above the model prediction."""
    model, shape = calibrated_model("small_cnn")
    cost = CostModel(model, trace_structure(model, shape[1:]), shape[1:])
    rng = np.random.default_rng(5)
    for rates in [grid_rates(model, shape, 0.5, 0.5), *(random_rates(model, shape, rng) for _ in range(3))]:
        kept = dict(zip(cost.layers, cost.kept_table(rates, "filter+column")))
        predicted = qemu_table.predict(masked(model, shape, rates), shape)
        assert 0.98 * predicted <= qemu_table.predict_kept(kept) <= 1.05 * predicted
    with pytest.raises(ValueError, match="lack 1 layer.*classifier"):
        qemu_table.predict_kept({n: k for n, k in kept.items() if n != "classifier"})


@pytest.mark.qemu
@pytest.mark.slow
def test_qemu_table_predicts_off_grid_models_closely(qemu_table):
    """Instruction counts are exact, so an off-grid model is predicted closely from a 2 x 2 grid."""
    model, shape = calibrated_model("small_cnn")
    off_grid = compacted(model, shape, grid_rates(model, shape, 0.75, 0.75))
    record = validate_table(qemu_table, [off_grid])
    assert record["max_rel_error"] < 0.1, record


def _as_json(table: LatencyTable):
    return json.loads(json.dumps(table.to_dict()))
