"""Purification + compaction keep the eval-mode function (max abs 1e-4) under random hybrid masks.

The masks mix every case purification must handle: whole residual channels removed (rows, BN, readers),
filters zeroed with their BatchNorm left on (a nonzero constant: folded into 1x1 convs and the classifier,
kept before zero-padded 3x3 convs), BN channels with gamma = 0, input channels emptied in one reader,
whole inner channels of blocks, and random column pruning. BN running statistics are randomised.
"""
import pytest
import torch
from torch import nn

from compress.models import MODELS, build_model
from compress.pruning import compact, purify, replay, trace_structure
from helpers import random_prune, randomise_bn

CASES = [("small_cnn", s) for s in range(4)] + [("resnet20", s) for s in range(6)] + \
        [("resnet56", s) for s in range(2)] + \
        [pytest.param(name, s, marks=pytest.mark.slow)  # several seconds each
         for name, seeds in [("vgg16", 1), ("resnet18", 1), ("mobilenetv2", 2), ("mobilenetv3_small", 2)]
         for s in range(seeds)]


@pytest.mark.parametrize("name,seed", CASES)
def test_purify_and_compact_keep_the_function(name, seed):
    torch.manual_seed(seed)
    shape = MODELS[name].input_shape
    model = build_model(name).eval()
    structure = trace_structure(model, shape)
    random_prune(model, structure, seed)
    purified, result = purify(model, structure)
    small, record = compact(purified, structure, result)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        expected, got = model(x), small(x)
    assert expected.std() > 1e-2  # the outputs carry signal, so agreement means something
    assert (expected - got).abs().max().item() <= 1e-4
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert params(small) < 0.7 * params(model)
    assert any(e["kind"] == "conv" and len(e["out"]) < modules_out(model, layer) for layer, e in record.items())
    fresh = replay(build_model(name), record)
    fresh.load_state_dict(small.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), got)


def modules_out(model: nn.Module, layer: str) -> int:
    return model.get_submodule(layer).weight.shape[0]


def test_dead_input_channel_kills_the_producing_filter():
    model = build_model("vgg16").eval()
    structure = trace_structure(model, (3, 32, 32))
    with torch.no_grad():
        model.features[3].weight[:, 5] = 0  # the only reader of features.0's channel 5 stops reading it
    _, result = purify(model, structure)
    small, record = compact(model, structure, result)
    assert record["features.0"]["out"] == [c for c in range(64) if c != 5]
    assert record["features.1"]["keep"] == record["features.0"]["out"]
    assert small.features[0].out_channels == 63 and small.features[3].in_channels == 63


def test_whole_inner_space_keeps_one_channel():
    model = build_model("resnet20").eval()
    structure = trace_structure(model, (3, 32, 32))
    randomise_bn(model, torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.layer1[0].conv2.weight.zero_()  # nobody reads layer1.0's inner channels any more
    _, result = purify(model, structure)
    small, _ = compact(model, structure, result)
    assert small.layer1[0].conv1.out_channels == 1 and small.layer1[0].conv2.in_channels == 1
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (model(x) - small(x)).abs().max() <= 1e-4
