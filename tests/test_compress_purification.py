"""Purification: constants after removed filters are folded exactly or their channel is kept; remnants
are removed only while the accuracy check allows it."""
import copy

import pytest
import torch
from torch import nn

from compress.pruning import compact, purify, trace_structure
from compress.pruning.purification import analyse_constants


class Chain(nn.Module):
    """conv3x3 -> BN -> ReLU -> consumer (1x1, 3x3 padded, or 3x3 unpadded) -> pool -> linear."""

    def __init__(self, kernel: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.next = nn.Conv2d(4, 3, kernel, padding=padding, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.next(torch.relu(self.bn(self.conv(x))))), 1))


def chain(kernel, padding, beta):
    torch.manual_seed(0)
    model = Chain(kernel, padding).eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
        model.conv.weight[1] = 0  # filter 1 removed, its BN left on: channel 1 is relu(bn(0)), a constant
        model.bn.bias[1] = beta + model.bn.running_mean[1] * model.bn.weight[1] / (model.bn.running_var[1] + 1e-5).sqrt()
    return model


def run(model, shape=(2, 6, 6)):
    s = trace_structure(model, shape)
    _, result = purify(model, s)
    small, record = compact(model, s, result)
    x = torch.randn(4, *shape)
    with torch.no_grad():
        diff = (model(x) - small(x)).abs().max().item()
    return small, record, diff


def test_constant_analysis_sees_the_bn_output():
    model = chain(1, 0, beta=0.8)
    consts = analyse_constants(model, trace_structure(model, (2, 6, 6)))
    known, value = next(v for k, v in consts.items() if k == "relu")
    assert known.tolist() == [False, True, False, False]
    assert value[1].item() == pytest.approx(0.8, abs=1e-5)


def test_positive_constant_is_folded_into_a_1x1_consumer():
    small, record, diff = run(chain(1, 0, beta=0.8))
    assert record["conv"]["out"] == [0, 2, 3] and record["next"]["bias"] is True
    assert small.next.bias is not None and small.next.bias.abs().max() > 0
    assert diff <= 1e-5


def test_positive_constant_before_a_padded_3x3_keeps_its_channel():
    model = chain(3, 1, beta=0.8)
    small, record, diff = run(model)
    assert "conv" not in record and diff <= 1e-5  # kept: the zero padding makes its effect border-dependent
    # the naive fold (constant x sum of taps into the bias) would be wrong at the borders:
    naive = copy.deepcopy(model)
    with torch.no_grad():
        naive.next.bias = nn.Parameter(0.8 * model.next.weight[:, 1].sum((1, 2)))
        naive.next.weight[:, 1] = 0
        x = torch.randn(2, 2, 6, 6)
        assert (naive(x) - model(x)).abs().max() > 1e-3


def test_negative_constant_is_zero_after_relu_and_goes_even_before_a_3x3():
    small, record, diff = run(chain(3, 1, beta=-0.5))
    assert record["conv"]["out"] == [0, 2, 3] and record["next"]["bias"] is False
    assert diff <= 1e-5


def test_unpadded_3x3_consumer_folds_exactly():
    small, record, diff = run(chain(3, 0, beta=0.8))
    assert record["conv"]["out"] == [0, 2, 3] and record["next"]["bias"] is True
    assert diff <= 1e-5


def test_constant_reaching_the_classifier_is_folded_into_its_bias():
    model = chain(1, 0, beta=0.3)
    with torch.no_grad():
        model.next.weight[2] = 0  # next's output 2 is constant 0 -> pooled -> classifier column 2
        model.next.weight[0, :] = 0
        model.next.bias = nn.Parameter(torch.tensor([0.5, 0.0, 0.0]))  # output 0 is the constant 0.5
    small, record, diff = run(model)
    assert record["fc"]["in"] == [1] and record["next"]["out"] == [1]
    assert diff <= 1e-5


def test_remnants_go_only_while_the_check_allows():
    torch.manual_seed(0)
    model = chain(1, 0, beta=0.8)
    with torch.no_grad():
        model.conv.weight[3] *= 1e-6  # a remnant ADMM did not zero
    s = trace_structure(model, (2, 6, 6))
    calls = []
    purified, result = purify(copy.deepcopy(model), s, check=lambda m: calls.append(1) or 1.0)
    assert (purified.conv.weight[3] == 0).all() and (model.conv.weight[3] != 0).all()
    assert result.remnants["tried"][0]["accepted"] and len(calls) >= 2
    strict = iter([1.0, 0.0])
    purified, result = purify(copy.deepcopy(model), s, check=lambda m: next(strict))
    assert (purified.conv.weight[3] != 0).all() and not result.remnants["tried"][0]["accepted"]


def test_purify_changes_neither_the_weights_nor_the_mode_of_its_input():
    model = chain(1, 0, beta=0.8)
    s = trace_structure(model, (2, 6, 6))
    model.train()
    state = copy.deepcopy(model.state_dict())
    for check in (None, lambda m: 1.0):
        purify(model, s, check)
        assert model.training and all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
