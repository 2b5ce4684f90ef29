"""Latency tables of MobileNet-style networks: depthwise convs are layers of the table whose channels follow the
layers around them. Under qemu (exact instruction counts) on a 2 x 2 grid, on MobileNetV2's first two stages (a
whole MobileNetV2 compiles 53 kernels per build, these 11 of the same kinds)."""
from __future__ import annotations

import numpy as np
import pytest

from compress import models
from compress.models.mobilenet import MOBILENETV2_STAGES, MobileNetV2
from compress.pruning import trace_structure
from compress.search import CostModel
from latency import INSTRUCTIONS, LatencyTable, build_table, validate_table
from latency.table import GOALS
from latency.variants import calibrated_model, compacted, grid_rates, masked, random_rates

STEPS = (1.0, 0.5)
ARCH = "mobilenetv2_first_stages"


def first_stages(num_classes: int = 10, in_channels: int = 3) -> MobileNetV2:
    """MobileNetV2's stem and first two stages (three blocks, the last with a residual add), a 1x1 conv to 128."""
    return MobileNetV2(num_classes, in_channels, MOBILENETV2_STAGES[:2], last=128)


@pytest.fixture(scope="module")
def qemu_table() -> LatencyTable:
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(models.MODELS, ARCH, models.ModelSpec(first_stages, (3, 32, 32), "test network"))
        yield build_table(ARCH, "qemu", steps=STEPS, progress=False, checks=0)


@pytest.mark.qemu
@pytest.mark.slow
def test_depthwise_layers_keep_the_channels_around_them(qemu_table):
    names = [m["name"] for m in qemu_table.layers]
    assert names[:3] == ["features.0.0", "features.1.conv.0.0", "features.1.conv.1.0"]  # stem, depthwise, projection
    dw = names.index("features.2.conv.1.0")
    for variant in qemu_table.variants:
        expansion, depthwise, projection = variant["layers"][dw - 1:dw + 2]
        assert expansion["rows"] == depthwise["rows"] == projection["taps"] and depthwise["taps"] == 9
    rows = [variant["layers"][dw]["rows"] for variant in qemu_table.variants]
    assert rows[0] == 96 and min(rows[1:]) < 96  # 96 channels in the dense build, fewer in the pruned ones


@pytest.mark.qemu
@pytest.mark.slow
def test_off_grid_mobilenet_predicted_closely(qemu_table):
    """Between the grid's keeps, within the largest error a qemu table may make (seed 0: +2.3%)."""
    model, shape = calibrated_model(ARCH)
    rates = random_rates(model, shape, np.random.default_rng(0), high=0.5)
    record = validate_table(qemu_table, [compacted(model, shape, rates)])
    assert record["max_rel_error"] <= GOALS[INSTRUCTIONS][1], record


@pytest.mark.qemu
@pytest.mark.slow
def test_prediction_from_kept_counts_matches_the_model_prediction(qemu_table):
    """The search counts no depthwise conv and no channel purification removes; a 1x1 projection's kept columns
    bound the channels of its expansion and depthwise conv (without that bound: 1.55x at keep 0.5). Residual
    streams read by several expansions keep the union of their columns, counted as their sum: up to +9.3% here."""
    model, shape = calibrated_model(ARCH)
    cost = CostModel(model, trace_structure(model, shape[1:]), shape[1:])
    for rates in [grid_rates(model, shape, 0.5, 0.5), grid_rates(model, shape, 1.0, 0.5),
                  random_rates(model, shape, np.random.default_rng(0))]:
        kept = dict(zip(cost.layers, cost.kept_table(rates, "filter+column")))
        predicted = qemu_table.predict(masked(model, shape, rates), shape)
        assert 0.99 * predicted <= qemu_table.predict_kept(kept) <= 1.10 * predicted
