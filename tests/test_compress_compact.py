"""Purification + compaction keep the eval-mode function (max abs 1e-4) under random hybrid masks.

The masks mix every case purification must handle: whole residual channels removed (rows, BN, readers),
filters zeroed with their BatchNorm left on (a nonzero constant: folded into 1x1 convs and the classifier,
kept before zero-padded 3x3 convs), BN channels with gamma = 0, input channels emptied in one reader,
whole inner channels of blocks, and random column pruning. BN running statistics are randomised.
"""
import numpy as np
import pytest
import torch
from torch import nn

from compress.models import MODELS, build_model
from compress.pruning import (LayerRate, compact, layer_weights, project_masks, purify, replay,
                              trace_structure, uniform_rates)


def randomise_bn(model: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.randn(c, generator=gen) * 0.3 + 1.0)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.5)


def random_prune(model: nn.Module, structure, seed: int) -> None:
    """Apply a random mixture of structured zeros to ``model`` in place (eval-mode function defined by it)."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    randomise_bn(model, gen)
    modules = dict(model.named_modules())
    rate = LayerRate(filter=float(rng.uniform(0.2, 0.6)), column=float(rng.uniform(0.1, 0.5)))
    masks = project_masks(structure, layer_weights(model), "filter+column", uniform_rates(structure, rate))
    with torch.no_grad():
        masks.apply(model)
        for layer in structure.layers():
            w = modules[layer].weight
            if w.dim() != 4 or rng.random() > 0.5:
                continue
            rows = torch.from_numpy(rng.random(w.shape[0]) < 0.15)
            w[rows] = 0  # filters zeroed, BatchNorm left on: a nonzero constant channel
            dead_in = torch.from_numpy(rng.random(w.shape[1]) < 0.15)
            w[:, dead_in] = 0  # input channels emptied in this reader only
        bns = [m for m in modules.values() if isinstance(m, nn.BatchNorm2d)]
        for m in bns:
            m.weight[torch.from_numpy(rng.random(m.num_features) < 0.05)] = 0  # BN output = beta
        blocks = [n for n in modules if n.endswith(".conv1") and n.startswith("layer")]
        for name in rng.choice(blocks, size=min(2, len(blocks)), replace=False) if blocks else []:
            modules[name].weight.zero_()  # a whole block's inner channels die
            if rng.random() < 0.5:
                bn = modules[name.replace("conv1", "bn1")]
                bn.bias.copy_(-bn.bias.abs())  # negative constants: zero after ReLU


CASES = [("small_cnn", s) for s in range(4)] + [("resnet20", s) for s in range(6)] + \
        [("resnet56", s) for s in range(2)] + [("vgg16", 0), ("resnet18", 0)]


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
