"""Whole-model projection: coupled residual groups, readers' columns, BatchNorm, rates parsing."""
import pytest
import torch

from compress.models import build_model
from compress.pruning import LayerRate, layer_weights, project_masks, trace_structure, uniform_rates


@pytest.fixture(scope="module")
def resnet20():
    model = build_model("resnet20")
    return model, trace_structure(model, (3, 32, 32))


def zero_rows(mask):
    return ~mask.reshape(mask.shape[0], -1).any(1)


def test_a_residual_group_removes_the_same_channels_everywhere(resnet20):
    model, s = resnet20
    masks = project_masks(s, layer_weights(model), "filter", uniform_rates(s, LayerRate(filter=0.5))).layers
    group = ["conv1", "layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2"]
    removed = zero_rows(masks["conv1"]["weight"])
    assert int(removed.sum()) == 8
    for layer in group:
        assert torch.equal(zero_rows(masks[layer]["weight"]), removed)
    for bn in ("bn1", "layer1.0.bn2", "layer1.2.bn2"):
        assert torch.equal(~masks[bn]["weight"], removed) and torch.equal(~masks[bn]["bias"], removed)
    for reader in ("layer1.0.conv1", "layer2.0.conv1"):
        cols = masks[reader]["weight"].any(0).any(-1).any(-1)  # per input channel
        assert torch.equal(~cols, removed)
    summed = sum(layer_weights(model)[n].pow(2).sum((1, 2, 3)) for n in group)
    assert summed[removed].max() <= summed[~removed].min()  # chosen by the group's summed norms


def test_group_takes_its_smallest_rate(resnet20):
    model, s = resnet20
    rates = uniform_rates(s, LayerRate(filter=0.5))
    rates["layer1.1.conv2"] = LayerRate(filter=0.25)
    masks = project_masks(s, layer_weights(model), "filter", rates).layers
    assert int(zero_rows(masks["conv1"]["weight"]).sum()) == 4
    assert int(zero_rows(masks["layer1.0.conv1"]["weight"]).sum()) == 8


def test_hybrid_columns_count_live_columns(resnet20):
    model, s = resnet20
    rates = {"layer1.0.conv1": LayerRate(filter=0.5, column=0.5), "layer1.0.conv2": LayerRate(filter=0.5, column=0.5)}
    masks = project_masks(s, layer_weights(model), "filter+column", rates).layers
    m = masks["layer1.0.conv2"]["weight"].reshape(16, -1)  # input: layer1.0.conv1's 8 surviving filters
    assert int(m.any(0).sum()) == round(0.5 * 8 * 9)
    assert int(m.any(1).sum()) == 16  # its own group (stage stream) has rate 0 elsewhere: min() -> no filters


def test_unstructured_masks_leave_batchnorm_alone(resnet20):
    model, s = resnet20
    masks = project_masks(s, layer_weights(model), "unstructured", uniform_rates(s, LayerRate(weight=0.8))).layers
    assert not any(name.endswith(("bn1", "bn2")) for name in masks)
    m = masks["layer3.2.conv2"]["weight"]
    assert int(m.sum()) == round(0.2 * m.numel())


def test_rate_parsing_and_errors(resnet20):
    assert LayerRate.parse(0.5, "filter") == LayerRate(filter=0.5)
    assert LayerRate.parse(0.5, "unstructured") == LayerRate(weight=0.5)
    assert LayerRate.parse([0.5, 0.2], "filter+column") == LayerRate(filter=0.5, column=0.2)
    assert LayerRate.parse({"column": 0.3}, "column") == LayerRate(column=0.3)
    with pytest.raises(ValueError, match="needs \\[filter, column\\]"):
        LayerRate.parse(0.5, "filter+column")
    with pytest.raises(ValueError, match="'colum'"):
        LayerRate.parse({"colum": 0.3}, "column")
    with pytest.raises(ValueError, match="1.2"):
        LayerRate(filter=1.2)
    model, s = resnet20
    with pytest.raises(ValueError, match="layer9.conv"):
        project_masks(s, layer_weights(model), "filter", {"layer9.conv": LayerRate(filter=0.5)})
