"""Tracing finds the channel coupling: residual streams, option-A shortcut offsets, 1x1 shortcuts, pins."""
import torch
from torch import nn

from compress.models import build_model
from compress.pruning import purify, compact, trace_structure
from helpers import randomise_bn


def test_resnet20_residual_streams_and_pad_maps():
    s = trace_structure(build_model("resnet20"), (3, 32, 32))
    groups = s.filter_groups()
    for stage, first in ((1, ["conv1"]), (2, []), (3, [])):
        assert first + [f"layer{stage}.{i}.conv2" for i in range(3)] in groups
    assert ["layer2.1.conv1"] in groups
    stage1, stage2 = s.space_of_output("conv1"), s.space_of_output("layer2.0.conv2")
    edge = next(e for e in s.maps if e.module == "layer2.0.shortcut")
    assert (edge.src, edge.dst, edge.stride) == (stage1, stage2, 2)
    assert edge.src_of_dst == [-1] * 8 + list(range(16)) + [-1] * 8  # channel offset 8 on each side
    readers = {r.layer for r in s.spaces[stage1].reads}
    assert readers == {"layer1.0.conv1", "layer1.1.conv1", "layer1.2.conv1", "layer2.0.conv1"}
    assert s.spaces[s.space_of_input("conv1")].pinned == ["model input"]
    assert s.spaces[s.space_of_output("linear")].pinned == ["model output"]


def test_resnet18_shortcut_conv_joins_the_stream():
    s = trace_structure(build_model("resnet18"), (3, 32, 32))
    assert ["layer2.0.conv2", "layer2.0.shortcut.0", "layer2.1.conv2"] in s.filter_groups()
    assert "layer2.0.shortcut.1" in s.spaces[s.space_of_output("layer2.0.conv2")].bns


def test_vgg16_layers_are_independent():
    s = trace_structure(build_model("vgg16"), (3, 32, 32))
    assert len(s.filter_groups()) == 13 and all(len(g) == 1 for g in s.filter_groups())
    assert s.read_of("classifier").expand == 1


class FlattenNet(nn.Module):
    """A linear layer reading a flattened 4x4 map: each channel owns 16 consecutive features."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 16, 5)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


def test_flatten_expands_channels_into_feature_blocks():
    model = FlattenNet().eval()
    s = trace_structure(model, (3, 4, 4))
    assert s.read_of("fc").expand == 16
    with torch.no_grad():
        model.conv.weight[2] = 0
        model.conv.bias[2] = 0.7  # a constant channel: folded into fc's bias, 16 features at a time
        model.bn.running_mean.uniform_(-1, 1)
    _, result = purify(model, s)
    small, record = compact(model, s, result)
    assert small.fc.in_features == 80 and record["conv"]["out"] == [0, 1, 3, 4, 5]
    x = torch.randn(3, 3, 4, 4)
    with torch.no_grad():
        assert (model(x) - small(x)).abs().max() <= 1e-5


class CatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 3, padding=1)
        self.c = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.c(torch.cat([self.a(x), self.b(x)], 1))


class TwiceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.b(self.a(self.a(x)))


class SumNet(nn.Module):
    """A reduction over all channels (plus a shape read) must pin them; ``x.size(0)`` alone must not."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.a(x)
        z = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.b(x), 1), 1)
        return self.fc(z.view(x.size(0), -1)) + y.sum((1, 2, 3)).unsqueeze(1)


def test_reductions_pin_and_shape_reads_do_not():
    s = trace_structure(SumNet(), (3, 8, 8))
    assert any("sum" in r for r in s.spaces[s.space_of_output("a")].pinned)
    assert not any("size" in r for sp in s.spaces.values() for r in sp.pinned)


def test_unsupported_ops_and_reused_modules_pin_their_channels():
    s = trace_structure(CatNet(), (3, 8, 8))
    assert any("cat" in reason for reason in s.spaces[s.space_of_output("a")].pinned)
    assert s.filter_groups() == []
    model = CatNet().eval()
    with torch.no_grad():
        model.a.weight[1] = 0
    _, result = purify(model, s)
    assert result.removed == {}  # pinned: nothing removed, and the function is untouched
    s = trace_structure(TwiceNet(), (3, 8, 8))
    assert any("called 2 times" in r for r in s.spaces[s.space_of_output("a")].pinned)


def test_mobilenetv2_chain_expansion_depthwise_projection():
    """A removed expansion filter takes its depthwise channel and the projection's column with it; a depthwise
    channel without taps is a constant, folded into the projection's bias, and takes its expansion filter."""
    model = build_model("mobilenetv2").eval()
    s = trace_structure(model, (3, 32, 32))
    expand, depthwise, project = (f"features.3.conv.{i}.0" for i in range(3))
    hidden = s.space_of_output(expand)
    assert s.space_of_output(depthwise) == s.space_of_input(project) == hidden
    assert s.spaces[hidden].depthwise == [depthwise] and [expand] in s.filter_groups()
    assert ["features.2.conv.2.0", project] in s.filter_groups()  # the residual stream of stage 1
    randomise_bn(model, torch.Generator().manual_seed(0))
    block = model.features[3].conv
    with torch.no_grad():
        for param in (block[0][0].weight, block[0][1].weight, block[0][1].bias):
            param[[5, 7]] = 0  # what filter pruning does: the filter and its BatchNorm channel
        block[1][0].weight[9] = 0
    _, result = purify(model, s)
    small, record = compact(model, s, result)
    kept = [c for c in range(144) if c not in (5, 7, 9)]
    assert record[expand]["out"] == record[depthwise]["keep"] == record[project]["in"] == kept
    assert small.features[3].conv[1][0].groups == 141
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (model(x) - small(x)).abs().max() <= 1e-4 * model(x).abs().max()


def test_mobilenetv3_squeeze_excitation_gates_go_with_their_channels():
    """The SE expand filter shares the gated channels' space (with the expansion filter, the depthwise channel
    and the projection's column); the SE reduce filters are a group of their own. A closed gate (zero row,
    bias -4: hard-sigmoid 0) silences its channel, which goes once the reduce layer stops reading it."""
    model = build_model("mobilenetv3_small").eval()
    s = trace_structure(model, (3, 32, 32))
    expand, depthwise, project = "features.4.conv.0.0", "features.4.conv.1.0", "features.4.conv.3.0"
    reduce, gate = "features.4.conv.2.reduce", "features.4.conv.2.expand"
    hidden = s.space_of_output(expand)
    assert s.space_of_output(gate) == s.space_of_input(reduce) == s.space_of_input(project) == hidden
    assert [expand, gate] in s.filter_groups() and [reduce] in s.filter_groups()
    randomise_bn(model, torch.Generator().manual_seed(0))
    block = model.features[4].conv
    with torch.no_grad():
        for param in (block[0][0].weight, block[0][1].weight, block[0][1].bias, block[1][0].weight,
                      block[1][1].weight, block[1][1].bias, block[2].expand.weight, block[2].expand.bias):
            param[[5, 7]] = 0  # what filter pruning does to channels 5 and 7 of the space
        block[2].expand.weight[9], block[2].expand.bias[9] = 0, -4.0
        block[2].reduce.weight[:, 9] = 0
        block[2].reduce.weight[3], block[2].reduce.bias[3] = 0, 0
    _, result = purify(model, s)
    small, record = compact(model, s, result)
    kept = [c for c in range(96) if c not in (5, 7, 9)]
    assert record[expand]["out"] == record[depthwise]["keep"] == record[gate]["out"] == kept
    assert record[project]["in"] == record[reduce]["in"] == kept
    assert record[reduce]["out"] == record[gate]["in"] == [c for c in range(24) if c != 3]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (model(x) - small(x)).abs().max() <= 1e-4 * model(x).abs().max()
