"""The predictor's view of a pruned model: the structure its compacted form keeps, read from masked weights,
and the non-negative layer fits."""
from __future__ import annotations

import numpy as np

from compress.pruning import layer_weights, trace_structure
from latency.predictor import fit, kept_layers, layer_features
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


def test_fit_recovers_non_negative_layer_costs():
    rows = np.array([64, 48, 32, 16, 64, 48, 32, 16, 40, 20])
    taps = np.array([576, 576, 576, 576, 288, 288, 288, 288, 400, 100])
    features = layer_features(rows, taps, 64, 576, block=6, spilled=np.zeros(10))
    truth = np.array([2.0, 0.5, 0.3, 0.1, 0.05, 0.0])
    coefficients = fit(features, features @ truth)
    assert np.allclose(features @ coefficients, features @ truth, rtol=1e-6)
    assert (coefficients >= 0).all()
    noisy = features @ truth - np.linspace(0, 0.3, 10)
    assert (np.linalg.lstsq(features, noisy, rcond=None)[0] < 0).any()  # plain least squares goes negative
    assert (fit(features, noisy) >= 0).all()
