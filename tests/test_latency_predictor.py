"""The predictor's view of a pruned model: the structure its compacted form keeps, read from masked weights,
and the non-negative layer fits."""
from __future__ import annotations

import numpy as np
import pytest

from compress.pruning import layer_weights, trace_structure
from compress.search import CostModel
from latency.predictor import counted_layers, fit, kept_layers, layer_features, miss_fraction
from latency.variants import calibrated_model, compacted, masked, random_rates


def test_masked_weights_give_the_structure_compaction_keeps():
    """ResNet-20 (option-A shortcuts, residual groups): for random rates, the masked model and its purified,
    compacted form keep the same rows, taps and channels, including rows purification drops because the
    next layer no longer reads their channel (their weights are still nonzero in the masked model)."""
    model, shape = calibrated_model("resnet20")
    structure = trace_structure(model, shape[1:])
    rng = np.random.default_rng(1)
    unread_rows = 0
    for _ in range(3):
        rates = random_rates(model, shape, rng)
        masked_model = masked(model, shape, rates)
        small = compacted(model, shape, rates)
        kept = kept_layers(masked_model, structure)
        assert kept == kept_layers(small, trace_structure(small, shape[1:]))
        weights = layer_weights(masked_model)
        nonzero_rows = [int((weights[k.name].reshape(len(weights[k.name]), -1) != 0).any(1).sum()) for k in kept]
        unread_rows += sum(n - k.rows for n, k in zip(nonzero_rows, kept))
        assert all(k.rows <= k.channels for k in kept)
    assert unread_rows > 0


@pytest.mark.slow
def test_depthwise_convs_and_gates_keep_the_channels_of_their_space():
    """MobileNetV3-Small: a depthwise conv keeps the live channels of the space it reads and writes, with all its
    taps; the squeeze-and-excitation expand writes that space too. From the search's counts alone (no depthwise
    conv in them), every layer keeps at least the rows the model keeps, and a 1x1 projection's columns bound the
    channels before it."""
    model, shape = calibrated_model("mobilenetv3_small")
    structure = trace_structure(model, shape[1:])
    rates = random_rates(model, shape, np.random.default_rng(2))
    kept = kept_layers(masked(model, shape, rates), structure)
    small = compacted(model, shape, rates)
    assert kept == kept_layers(small, trace_structure(small, shape[1:]))
    by_name = {k.name: k for k in kept}
    expansion, depthwise, projection = (by_name[f"features.2.conv.{i}.0"] for i in range(3))
    assert expansion.rows == depthwise.rows == depthwise.channels == projection.taps and depthwise.taps == 9
    gated, gate = by_name["features.4.conv.1.0"], by_name["features.4.conv.2.expand"]
    assert gate.channels == gated.channels and gated.taps == 25
    weights = layer_weights(model)
    counts = {name: (len(w), w[0].numel()) for name, w in weights.items()}  # depthwise convs: dense
    cost = CostModel(model, structure, shape[1:])
    counts.update(zip(cost.layers, cost.kept_table(rates, "filter+column")))
    counted = {k.name: k for k in counted_layers(structure, counts)}
    assert all(counted[k.name].rows >= k.rows for k in kept)
    assert counted["features.2.conv.1.0"].rows == depthwise.rows


def test_fit_recovers_non_negative_layer_costs():
    rows = np.array([64, 48, 32, 16, 64, 48, 32, 16, 40, 20])
    taps = np.array([576, 576, 576, 576, 288, 288, 288, 288, 400, 100])
    features = layer_features(rows, taps, 64, 576, block=6, miss=np.zeros(10))
    truth = np.array([2.0, 0.5, 0.3, 0.1, 0.05, 0.0])
    coefficients = fit(features, features @ truth)
    assert np.allclose(features @ coefficients, features @ truth, rtol=1e-6)
    assert (coefficients >= 0).all()
    noisy = features @ truth - np.linspace(0, 0.3, 10)
    assert (np.linalg.lstsq(features, noisy, rcond=None)[0] < 0).any()  # plain least squares goes negative
    assert (fit(features, noisy) >= 0).all()


def test_the_fraction_of_weights_beyond_the_cache():
    """fp32 weights: 1M weights are 4 MB; with 3 MB of cache a quarter streams from memory."""
    assert np.allclose(miss_fraction([0, 250_000, 750_000, 1_000_000], 3e6), [0, 0, 0, 0.25])
    assert miss_fraction(10**9, float("inf")) == 0
