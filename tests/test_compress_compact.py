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
from compress.pruning import compact, purify, purify_and_compact, replay, trace_structure
from compress.pruning.admm import MaskHooks
from compress.pruning.masks import Masks
from compress.pruning.plan import LayerRate, layer_weights, project_masks, removed_channels, uniform_rates
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


def widths(model: nn.Module) -> list[int]:
    return [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("name", ["resnet20", pytest.param("vgg16", marks=pytest.mark.slow)])
def test_aligned_widths_keep_the_function_stay_zero_in_training_and_purify_away(name):
    torch.manual_seed(0)
    shape = MODELS[name].input_shape
    model = build_model(name)
    structure = trace_structure(model, shape)
    randomise_bn(model, torch.Generator().manual_seed(0))
    rates = uniform_rates(structure, LayerRate(filter=0.4, column=0.3))
    weights = layer_weights(model)
    project_masks(structure, weights, "filter+column", rates).apply(model)
    x = torch.randn(4, *shape)
    exact = purify_and_compact(model, structure, x)
    aligned = purify_and_compact(model, structure, x, spare=removed_channels(structure, weights, rates), multiple=16)
    dense = widths(model)
    assert all(w % 16 == 0 or w == d for w, d in zip(widths(aligned.model), dense))
    assert widths(aligned.model) != widths(exact.model)  # some widths were rounded up
    with torch.no_grad():
        assert (aligned.model(x) - exact.model(x)).abs().max() <= 1e-4
    bns = [n for n, m in exact.model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    held = {n: int((~aligned.zero.layers[n]["weight"]).sum()) if n in aligned.zero.layers else 0 for n in bns}
    assert held == {n: aligned.model.get_submodule(n).num_features - exact.model.get_submodule(n).num_features
                    for n in bns}  # the zero masks hold exactly the channels added for alignment
    small = aligned.model.train()
    hooks = MaskHooks(Masks.of_zeros(small).merge(aligned.zero))
    optimizer = torch.optim.SGD(small.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(3):  # BatchNorm shifts get gradients: only the zero masks keep the spare channels at zero
        loss = nn.functional.cross_entropy(small(x), torch.tensor([0, 1, 2, 3]))
        optimizer.zero_grad()
        loss.backward()
        hooks.after_backward(small)
        optimizer.step()
        hooks.after_step(small)
    for layer, params in aligned.zero.layers.items():
        for pname, keep in params.items():
            assert not getattr(small.get_submodule(layer), pname)[~keep].any()
    final = purify_and_compact(small, trace_structure(small, shape), x)
    assert widths(final.model) == widths(exact.model)
