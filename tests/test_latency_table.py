"""Latency tables: device fingerprints, build/save/load keyed by fingerprint, and predictions of pruned models
(masked or compacted) against measurements, on small_cnn with a 2 x 2 grid."""
from __future__ import annotations

import itertools
import json
import math
import os

import numpy as np
import pytest

from compress.pruning import LayerRate, trace_structure
from compress.search import CostModel
from latency import (INSTRUCTIONS, LatencyTable, build_table, device_fingerprint, load_or_build, load_table,
                     save_table, table_path, validate_table)
from latency.fingerprint import cpuinfo
from latency.grid import _dense_layers
from latency.predictor import kept_weights, miss_fraction
from latency.table import CACHE_SHARES
from latency.variants import calibrated_model, compacted, design_rates, grid_rates, masked, random_rates
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
    return build_table("small_cnn", "host", steps=STEPS, runs=10, progress=False, checks=0)


@pytest.fixture(scope="module")
def qemu_table() -> LatencyTable:
    """Emulated instruction counts: exact and repeatable, so predictions can be held to tight bounds."""
    return build_table("small_cnn", "qemu", steps=STEPS, progress=False, checks=0)


def test_builds_give_each_conv_every_keep_pair_in_an_order_of_its_own():
    model, shape = calibrated_model("vgg16")
    steps = (1.0, 0.75, 0.5, 0.25)
    builds = design_rates(model, shape, steps, np.random.default_rng(0))
    assert len(builds) == 16 and all(rate == LayerRate() for rate in builds[0].values())
    keeps = {name: [(1 - b[name].filter, 1 - b[name].column) for b in builds] for name in builds[0]}
    assert all(sorted(pairs) == sorted(itertools.product(steps, steps)) for pairs in keeps.values())
    assert len({tuple(pairs) for pairs in keeps.values()}) == len(keeps)  # 13 convs, 13 orders


@pytest.mark.slow
def test_build_measures_every_layer_of_every_build(table):
    assert len(table.variants) == len(STEPS) ** 2 and table.unit == "ms"
    assert [layer["name"] for layer in table.layers] == ["features.0", "features.3", "features.7", "classifier"]
    dense = table.variants[0]
    assert set(map(tuple, dense["keeps"].values())) == {(1.0, 1.0)}
    assert [p["rows"] for p in dense["layers"]] == [16, 32, 64, 10]
    assert [p["taps"] for p in dense["layers"]] == [9, 144, 288, 64]
    for variant in table.variants:  # kept columns of the channels the conv before keeps
        keeps, taps = variant["keeps"], [p["taps"] for p in variant["layers"]]
        assert taps[1:] == [144 * keeps["features.0"][0] * keeps["features.3"][1],
                            288 * keeps["features.3"][0] * keeps["features.7"][1], 64 * keeps["features.7"][0]]
    assert all(p["cost"] > 0 for variant in table.variants for p in variant["layers"])
    assert table.accuracy["grid_leave_one_out"]["points"] == 4
    assert table.fingerprint["caches"] and (table.cache_bytes is None or table.cache_bytes in
                                            [max(table.fingerprint["caches"].values()) * s for s in CACHE_SHARES])


def test_the_cache_the_weights_compete_for_is_fitted():
    """Synthetic costs of one layer whose weights beyond a quarter of a 64 KB cache stream from memory at 2x
    the in-cache cost: the fit finds that share, predicts exactly, and a model without it errs."""
    rng = np.random.default_rng(0)
    layer = {"name": "conv", "kind": "conv", "pixels": 64, "dense_rows": 64, "dense_taps": 576, "block": 6}
    rows, taps = rng.integers(4, 65, 24), rng.integers(16, 577, 24)
    cost = lambda r, t: r * t / 64 / 576 * (1 + 2 * miss_fraction(r * t, 16 << 10))
    variants = [{"layers": [{"rows": int(r), "taps": int(t), "channels": int(r), "cost": float(cost(r, t))}],
                 "volume": 64 * int(r), "other_kernels": 0.0, "overhead": 0.0, "whole": float(cost(r, t))}
                for r, t in zip(rows, taps)]
    table = LatencyTable("x", "host", {"unit": "ms", "caches": {"L2": 8 << 10, "L3": 64 << 10}}, STEPS,
                         (1, 3, 8, 8), [layer], variants)
    assert table.fit_cache() == 16 << 10
    assert table.leave_one_out(16 << 10)["max_rel_error"] < 1e-3 < table.leave_one_out(math.inf)["max_rel_error"]
    table.fingerprint["caches"] = {}
    assert table.fit_cache() is None  # a device that does not tell its caches: never spills


def test_off_grid_checks_choose_the_cache():
    """small_cnn with synthetic costs whose weights beyond a quarter of a 128 KB cache stream at 3x the in-cache
    cost: random off-grid models (their costs from the same law) choose that share and are then predicted
    exactly, where "never spills" errs on them."""
    model, shape = calibrated_model("small_cnn")
    layers = [{**layer, "block": 6} for layer in _dense_layers(model, shape)]
    shares = lambda kept: [k.rows * k.taps / (m["dense_rows"] * m["dense_taps"]) for k, m in zip(kept, layers)]
    law = lambda kept: sum(shares(kept)) * (1 + 3 * float(miss_fraction(kept_weights(kept), 32 << 10)))
    rng = np.random.default_rng(0)
    table = LatencyTable("small_cnn", "host", {"unit": "ms", "caches": {"L2": 16 << 10, "L3": 128 << 10}}, STEPS,
                         shape, layers)
    builds = [table.kept(compacted(model, shape, random_rates(model, shape, rng, high=0.9))) for _ in range(24)]
    table.variants = [_synthetic_variant(kept, shares(kept), law(kept)) for kept in builds]
    checks = [compacted(model, shape, random_rates(model, shape, rng)) for _ in range(4)]
    measured = [law(table.kept(c)) for c in checks]
    assert table.fit_cache(checks, measured) == 32 << 10
    with_cache = lambda cache: LatencyTable.from_dict({**table.to_dict(), "cache_bytes": cache})
    assert np.allclose([with_cache(32 << 10).predict(c, shape) for c in checks], measured, rtol=1e-3)
    assert not np.allclose([with_cache(None).predict(c, shape) for c in checks], measured, rtol=1e-2)


def _synthetic_variant(kept, shares: list[float], whole: float) -> dict:
    """A build whose layers cost their ``shares`` of ``whole`` (and nothing else)."""
    return {"layers": [{"rows": k.rows, "taps": k.taps, "channels": k.channels, "cost": whole * w / sum(shares)}
                       for k, w in zip(kept, shares)], "volume": 0, "other_kernels": 0.0, "overhead": 0.0,
            "whole": whole}


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
    line = table.validation_line()
    assert line.startswith("the small_cnn latency table on host predicts 2 off-grid models within")
    assert ("met" in line) == table.meets_goal and ("above its goal of 5% / 12%" in line) != table.meets_goal


def test_calibration_scales_predictions_by_the_median_measured_ratio(table):
    """The scale is the median of measured / predicted; each model is validated with the others' scale."""
    model, shape = calibrated_model("small_cnn")
    rng = np.random.default_rng(5)
    models = [compacted(model, shape, random_rates(model, shape, rng)) for _ in range(3)]
    calibrated = LatencyTable.from_dict(table.to_dict())
    raw = [calibrated.predict(m, shape) for m in models]
    record = calibrated.calibrate(models, [1.5 * raw[0], 1.5 * raw[1], 2.0 * raw[2]])
    assert calibrated.scale == pytest.approx(1.5) and table.scale == 1.0
    assert calibrated.predict(models[2], shape) == pytest.approx(1.5 * raw[2])
    # left out: model 0 and 1 get the median of (1.5, 2.0) = 1.75, model 2 that of (1.5, 1.5)
    assert record["max_rel_error"] == pytest.approx(0.25) and record["mean_rel_error"] == pytest.approx(
        (0.25 / 1.5 * 2 + 0.25) / 3)
    assert calibrated.accuracy["calibration"]["uncalibrated"]["max_rel_error"] == pytest.approx(0.5)
    reloaded = LatencyTable.from_dict(json.loads(json.dumps(calibrated.to_dict())))
    assert reloaded.scale == calibrated.scale and reloaded.predict(models[0], shape) == pytest.approx(1.5 * raw[0])


@pytest.mark.qemu
@pytest.mark.slow
def test_qemu_table_counts_instructions_that_add_up(qemu_table):
    assert qemu_table.unit == INSTRUCTIONS and qemu_table.variants[0]["whole"] > 100_000
    for variant in qemu_table.variants:
        assert 0 < sum(p["cost"] for p in variant["layers"]) < variant["whole"]
    assert qemu_table.variants[0]["whole"] > 1.2 * max(v["whole"] for v in qemu_table.variants[1:])
    assert qemu_table.cache_bytes is None and "caches" not in qemu_table.fingerprint  # counts know no cache


@pytest.mark.qemu
@pytest.mark.slow
def test_predictions_of_masked_and_compacted_models(qemu_table):
    model, shape = calibrated_model("small_cnn")
    last = qemu_table.variants[-1]
    on_grid = {name: LayerRate(filter=1 - f, column=1 - c) for name, (f, c) in last["keeps"].items()}
    masked_model, small = masked(model, shape, on_grid), compacted(model, shape, on_grid)
    assert qemu_table.predict(masked_model, shape) == pytest.approx(qemu_table.predict(small, shape), rel=1e-9)
    assert qemu_table.predict(small, shape) == pytest.approx(last["whole"], rel=0.1)
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
