"""Compression accounting (dense conv+fc weights / nonzero ones) and the target-rate bisection."""
import json

import pytest
import torch

from compress.models import build_model
from compress.pruning import LayerRate, compact, layer_weights, project_masks, purify, trace_structure, uniform_rates
from compress.pruning.accounting import CompressionStats, compression_stats, projected_compression, rates_for_target


@pytest.fixture(scope="module")
def resnet20():
    torch.manual_seed(1)
    model = build_model("resnet20").eval()
    return model, trace_structure(model, (3, 32, 32))


def test_stats_of_a_compacted_model(resnet20):
    dense, s = resnet20
    model = build_model("resnet20").eval()
    model.load_state_dict(dense.state_dict())
    masks = project_masks(s, layer_weights(model), "filter+column", uniform_rates(s, LayerRate(0.5, 0.5)))
    masks.apply(model)
    nonzero = sum(int((w != 0).sum()) for w in layer_weights(model).values())
    small, _ = compact(model, s, purify(model, s)[1])
    stats = compression_stats(dense, small, (3, 32, 32))
    assert stats.dense_weights == sum(w.numel() for w in layer_weights(dense).values()) == 268336
    assert stats.nonzero_weights == sum(int((w != 0).sum()) for w in layer_weights(small).values())
    # purification may drop more: here layer3.1.conv2's column pruning leaves 16 of its input channels without
    # a tap, which kills 16 filters of layer3.1.conv1 (9 kept columns each)
    assert stats.nonzero_weights == nonzero - 16 * 9
    assert stats.compression_rate == pytest.approx(268336 / (nonzero - 16 * 9))
    assert stats.params == sum(p.numel() for p in small.parameters()) < stats.dense_params / 3
    assert stats.structured_macs < stats.macs < stats.dense_macs
    data = json.loads(json.dumps(stats.to_json()))  # as report.json holds it: the two ratios written out
    assert data["compression_rate"] == stats.compression_rate and data["mac_reduction"] == stats.mac_reduction
    assert CompressionStats.from_json(data) == stats


@pytest.mark.parametrize("scheme,target", [("filter+column", 2.0), ("filter+column", 4.0), ("filter+column", 8.0),
                                           ("filter", 4.0), ("column", 4.0), ("unstructured", 10.0)])
def test_target_is_reached_with_uniform_rates(resnet20, scheme, target):
    model, s = resnet20
    rate, achieved = rates_for_target(model, s, scheme, target)
    assert target <= achieved <= target * 1.1
    again = projected_compression(s, layer_weights(model), scheme, uniform_rates(s, rate))
    assert again == pytest.approx(achieved)


def test_unreachable_target_says_how_far_it_gets(resnet20):
    model, s = resnet20
    with pytest.raises(ValueError, match=r"1000.0x is out of reach .*at most 79"):
        rates_for_target(model, s, "column", 1000.0)
