"""The analytic counts of a candidate equal count_model on the projected model, dense or already pruned."""
import copy

import numpy as np
import pytest
import torch

from compress.counting import count_model
from compress.models import build_model
from compress.pruning import compact, layer_weights, project_masks, purify, trace_structure
from compress.search import ActionSpace, CostModel

SHAPES = {"resnet20": (3, 32, 32), "small_cnn": (1, 8, 8)}
SCHEMES = ("filter+column", "filter", "column", "unstructured")
pytestmark = pytest.mark.usefixtures("one_thread")


def _model(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(arch).eval()


def _measured(model, structure, shape, action):
    pruned = project_masks(structure, layer_weights(model), action.scheme, action.layer_rates()).apply(
        copy.deepcopy(model))
    counts = count_model(pruned, shape)
    macs = counts.nonzero_macs if action.scheme == "unstructured" else counts.structured_macs
    return pruned, counts.nonzero_weights, macs


@pytest.mark.parametrize("arch", sorted(SHAPES))
@pytest.mark.parametrize("scheme", SCHEMES)
def test_analytic_counts_equal_count_model(arch, scheme):
    model, shape = _model(arch), SHAPES[arch]
    structure = trace_structure(model, shape)
    space = ActionSpace(CostModel(model, structure, shape), scheme)
    rng = np.random.default_rng(1)
    for _ in range(4):
        action = space.action(rng.random(len(space.knobs)) * space.upper)
        _, weights, macs = _measured(model, structure, shape, action)
        assert (action.weights, action.macs) == (weights, macs)


def test_grouped_layers_share_one_filter_knob():
    model = _model("resnet20")
    structure = trace_structure(model, SHAPES["resnet20"])
    space = ActionSpace(CostModel(model, structure, SHAPES["resnet20"]), "filter+column")
    stream = next(k for k in space.knobs if k.kind == "filter" and "conv1" in k.layers)
    assert set(stream.layers) == {"conv1", "layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2"}
    values = np.zeros(len(space.knobs))
    values[space.knobs.index(stream)] = 0.5
    rates = space.action(values).rates
    assert {rates[n].filter for n in stream.layers} == {0.5}
    assert rates["layer1.0.conv1"].filter == 0.0


@pytest.mark.parametrize("scheme", ("filter+column", "column"))
def test_counts_stay_exact_on_an_already_pruned_compacted_model(scheme):
    """Round 2 starts from a model with zero columns; floors keep the analytic count exact."""
    model, shape = _model("resnet20", 3), SHAPES["resnet20"]
    structure = trace_structure(model, shape)
    space = ActionSpace(CostModel(model, structure, shape), scheme)
    first = space.action(np.full(len(space.knobs), 0.4))
    pruned, _, _ = _measured(model, structure, shape, first)
    purified, purification = purify(pruned.eval(), structure)
    small, _ = compact(purified, structure, purification)
    small_structure = trace_structure(small, shape)
    cost = CostModel(small, small_structure, shape)
    assert cost.count({}, scheme)[0] == count_model(small, shape).nonzero_weights
    space2 = ActionSpace(cost, scheme)
    rng = np.random.default_rng(2)
    for _ in range(4):
        action = space2.action(rng.random(len(space2.knobs)) * space2.upper)
        _, weights, macs = _measured(small, small_structure, shape, action)
        assert (action.weights, action.macs) == (weights, macs)
