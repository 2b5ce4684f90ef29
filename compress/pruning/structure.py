"""Channel structure of a model, traced with torch.fx: who writes and who reads each channel.

A *space* is a set of channels that must be removed together: the output channels of a conv, followed
through BatchNorm, ReLU, pooling, flatten and residual adds (an add merges the spaces of its two inputs, so
all convs that write into one residual stream share a space; a channel-wise multiply, as in squeeze-and-
excitation, merges the features with their gates, so the gate's expand filter goes with the gated channel).
A *map* (the option-A ``PadShortcut``, or ``ChannelGather`` after compaction) links two spaces by an index:
``dst[t] = src[src_of_dst[t]]`` or zero.
A depthwise conv (``groups == in == out channels``) keeps its input's space: its channel ``c`` reads only
input channel ``c``, so removing ``c`` removes it on both sides (in MobileNet's expansion -> depthwise ->
projection chain: the expansion filter, the depthwise channel and the projection's input column together).
A space is *pinned* (never removed) when the model input or output, an unknown op, another grouped conv or
a module called twice touches it; pinning is always safe, it only forgoes compaction.

The result is plain data keyed by layer and node names; functions take the model alongside it.

>>> s = trace_structure(build_model("resnet20"), (3, 32, 32))
>>> s.space_of_output("layer1.0.conv2") == s.space_of_output("conv1")   # one residual stream
True
>>> ['conv1', 'layer1.0.conv2', 'layer1.1.conv2', 'layer1.2.conv2'] in s.filter_groups()
True
"""
from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from ..models.resnet_cifar import PadShortcut
from .modules import ChannelGather

# elementwise activations by kind: channel-wise, so they keep their input's space (purification applies
# them to constant channels)
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
}
# node kinds; constants pass through activations, "pool", "same", "flatten" and "map" (see purification.py)
MODULE_KINDS: dict[type, str] = {
    nn.Conv2d: "conv", nn.Linear: "linear", nn.BatchNorm2d: "bn", nn.BatchNorm1d: "bn",
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid",
    nn.MaxPool2d: "pool", nn.AdaptiveAvgPool2d: "pool", nn.AvgPool2d: "avgpool",
    nn.AdaptiveMaxPool2d: "pool", nn.Identity: "same", nn.Dropout: "same", nn.Flatten: "flatten",
    PadShortcut: "map", ChannelGather: "map",
}
FUNCTION_KINDS: dict[Callable, str] = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid",
    operator.add: "add", torch.add: "add", operator.mul: "mul", torch.mul: "mul", torch.flatten: "flatten",
    F.adaptive_avg_pool2d: "pool", F.max_pool2d: "pool",
}
METHOD_KINDS: dict[str, str] = {"relu": "relu", "add": "add", "mul": "mul", "flatten": "flatten"}
PAIRWISE = ("add", "mul")  # channel c of the output combines channel c of both inputs (one may broadcast H, W)
CHANNELWISE = ("bn", "dwconv", "pool", "avgpool", "same", *ACTIVATIONS)  # output channel c reads input channel c
SHAPE_READS = {"size", "dim", "getattr"}  # read only the shape: they pin nothing


def _pad_map(module: PadShortcut, in_channels: int) -> tuple[list[int], int]:
    return [-1] * module.pad_before + list(range(in_channels)) + [-1] * module.pad_after, 2


def _gather_map(module: ChannelGather, in_channels: int) -> tuple[list[int], int]:
    return list(module.index_list), module.stride


# map module type -> (module, in_channels) -> (src_of_dst, stride); register new shortcut kinds here
MAP_RULES: dict[type, Callable[[nn.Module, int], tuple[list[int], int]]] = {
    PadShortcut: _pad_map, ChannelGather: _gather_map,
}


@dataclass
class Read:
    """A conv/linear layer reading a space: input node ``node``, ``expand`` features per channel."""

    layer: str
    node: str
    expand: int = 1  # H*W when a linear reads a flattened (N, C, H, W) map, else 1


@dataclass
class MapEdge:
    """A channel map module from space ``src`` (read at node ``src_node``) to space ``dst``."""

    module: str
    src_node: str
    src: int
    dst: int
    src_of_dst: list[int]  # -1: a zero channel
    stride: int


@dataclass
class Node:
    """One traced op: its kind, the tensor nodes it reads, and the space of its output channels."""

    name: str
    kind: str  # conv, linear, dwconv, bn, an activation, pool, avgpool, same, flatten, add, mul, map, input, opaque
    target: str  # module name, or the function/method name
    inputs: list[str]
    space: int | None = None
    expand: int = 1
    channels: int = 0
    bias: bool = False  # conv/linear/dwconv with a bias parameter


@dataclass
class Space:
    """A set of channels removed together."""

    id: int
    size: int
    producers: list[str] = field(default_factory=list)  # conv/linear layers writing these channels
    bns: list[str] = field(default_factory=list)
    depthwise: list[str] = field(default_factory=list)  # depthwise convs on these channels
    reads: list[Read] = field(default_factory=list)
    maps_out: list[int] = field(default_factory=list)  # indices into Structure.maps
    maps_in: list[int] = field(default_factory=list)
    pinned: list[str] = field(default_factory=list)  # reasons it may not shrink


@dataclass
class Structure:
    """Nodes in execution order, spaces, maps, and where each layer reads and writes."""

    nodes: dict[str, Node]
    spaces: dict[int, Space]
    maps: list[MapEdge]
    layer_node: dict[str, str]  # module name -> the node that calls it

    def space_of_output(self, layer: str) -> int:
        return self.nodes[self.layer_node[layer]].space

    def space_of_input(self, layer: str) -> int:
        return self.nodes[self.nodes[self.layer_node[layer]].inputs[0]].space

    def read_of(self, layer: str) -> Read:
        node = self.nodes[self.layer_node[layer]]
        return Read(layer, node.inputs[0], self.nodes[node.inputs[0]].expand)

    def filter_groups(self) -> list[list[str]]:
        """Layers whose filters may be removed, grouped by the space they write (a group shares channels)."""
        return [s.producers for s in self.spaces.values() if s.producers and not s.pinned]

    def layers(self) -> list[str]:
        """Conv/linear layers in execution order."""
        return [n.target for n in self.nodes.values() if n.kind in ("conv", "linear")]

    def has_bias(self, layer: str) -> bool:
        return self.nodes[self.layer_node[layer]].bias

    def consumers(self, space: int) -> list[Read]:
        """Layers reading ``space`` directly (not through a map)."""
        return self.spaces[space].reads


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m) in MODULE_KINDS or super().is_leaf_module(m, qualname)


class _Builder:
    """Walks the fx graph once, assigning spaces with a union-find."""

    def __init__(self, gm: fx.GraphModule) -> None:
        self.modules = dict(gm.named_modules())
        self.parent: list[int] = []
        self.size: list[int] = []
        self.pins: list[tuple[int, str]] = []
        self.nodes: dict[str, Node] = {}
        self.maps: list[MapEdge] = []

    def new_space(self, size: int, pin: str | None = None) -> int:
        self.parent.append(len(self.parent))
        self.size.append(size)
        if pin:
            self.pins.append((len(self.parent) - 1, pin))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> int:
        a, b = self.find(a), self.find(b)
        self.parent[b] = a
        return a

    def pin_inputs(self, inputs: list[str], reason: str) -> None:
        for name in inputs:
            if self.nodes[name].space is not None:
                self.pins.append((self.nodes[name].space, reason))

    def kind_of(self, n: fx.Node) -> tuple[str, str]:
        if n.op == "call_module":
            module = self.modules[n.target]
            kind = MODULE_KINDS.get(type(module), "opaque")
            if kind == "conv" and module.groups != 1:
                depthwise = module.groups == module.in_channels == module.out_channels
                kind = "dwconv" if depthwise else "opaque"  # other grouped convs: channels couple in groups
            return kind, n.target
        if n.op == "call_function":
            return FUNCTION_KINDS.get(n.target, "opaque"), getattr(n.target, "__name__", str(n.target))
        if n.op == "call_method":
            return METHOD_KINDS.get(n.target, "opaque"), n.target
        return "opaque", str(n.target)

    def visit(self, n: fx.Node) -> None:
        inputs = [a.name for a in n.all_input_nodes if a.name in self.nodes]
        shape = n.meta.get("tensor_meta")
        shape = tuple(shape.shape) if hasattr(shape, "shape") else None
        if n.op == "placeholder":
            self.nodes[n.name] = Node(n.name, "input", n.name, [], self.new_space(shape[1], "model input"), 1, shape[1])
            return
        if n.op == "output":
            self.pin_inputs(inputs, "model output")
            return
        kind, target = self.kind_of(n)
        if shape is None or len(shape) < 2:  # size(), .shape, reductions, scalars: no channel dimension out
            if target not in SHAPE_READS:
                self.pin_inputs(inputs, f"op {target!r} without a channel dimension in its output")
            self.nodes[n.name] = Node(n.name, "opaque", target, inputs)
            return
        tensor_args = [a for a in n.args if isinstance(a, fx.Node)]
        node = Node(n.name, kind, target, inputs, channels=shape[1])
        if kind in ("conv", "linear", "dwconv"):
            node.bias = self.modules[n.target].bias is not None
        first = self.nodes[tensor_args[0].name] if tensor_args and tensor_args[0].name in self.nodes else None
        if kind in ("conv", "linear"):
            node.space = self.new_space(shape[1])
        elif kind in CHANNELWISE and first is not None and len(tensor_args) == 1:
            node.space, node.expand = first.space, first.expand
        elif kind == "flatten" and first is not None and self._flattens_channels(n, first):
            in_shape = n.args[0].meta["tensor_meta"].shape
            node.space, node.expand = first.space, first.expand * int(in_shape[2] * in_shape[3])
        elif kind in PAIRWISE and len(set(tensor_args)) == 2 and not n.kwargs and first is not None:
            second = self.nodes[tensor_args[1].name]
            if first.expand == second.expand and first.channels == second.channels:
                node.space, node.expand = self.union(first.space, second.space), first.expand
        elif kind == "map" and first is not None:
            src_of_dst, stride = MAP_RULES[type(self.modules[n.target])](self.modules[n.target], first.channels)
            node.space = self.new_space(shape[1])
            self.maps.append(MapEdge(n.target, first.name, first.space, node.space, src_of_dst, stride))
        if node.space is None:  # anything not understood: its channels stay as they are
            node.kind = "opaque"
            self.pin_inputs(inputs, f"unsupported op {target!r}")
            node.space = self.new_space(shape[1], f"output of unsupported op {target!r}")
        self.nodes[n.name] = node

    def _flattens_channels(self, n: fx.Node, first: Node) -> bool:
        if n.op == "call_module":
            start, end = self.modules[n.target].start_dim, self.modules[n.target].end_dim
        else:
            start = n.args[1] if len(n.args) > 1 else n.kwargs.get("start_dim", 0)
            end = n.args[2] if len(n.args) > 2 else n.kwargs.get("end_dim", -1)
        in_shape = n.args[0].meta["tensor_meta"].shape
        return start == 1 and end == -1 and len(in_shape) == 4 and first.expand == 1


def _finish(b: _Builder) -> Structure:
    for node in b.nodes.values():
        if node.space is not None:
            node.space = b.find(node.space)
    spaces = {i: Space(i, b.size[i]) for i in {b.find(i) for i in range(len(b.parent))}}
    for sid, reason in b.pins:
        if reason not in spaces[b.find(sid)].pinned:
            spaces[b.find(sid)].pinned.append(reason)
    layer_node: dict[str, str] = {}
    calls: dict[str, int] = {}
    for node in b.nodes.values():
        if node.kind in ("conv", "linear", "dwconv", "bn", "map"):
            calls[node.target] = calls.get(node.target, 0) + 1
            layer_node[node.target] = node.name
        if node.kind in ("conv", "linear"):
            spaces[node.space].producers.append(node.target)
            src = b.nodes[node.inputs[0]]
            spaces[src.space].reads.append(Read(node.target, src.name, src.expand))
        elif node.kind == "bn":
            spaces[node.space].bns.append(node.target)
        elif node.kind == "dwconv":
            spaces[node.space].depthwise.append(node.target)
    for i, edge in enumerate(b.maps):
        edge.src, edge.dst = b.find(edge.src), b.find(edge.dst)
        spaces[edge.src].maps_out.append(i)
        spaces[edge.dst].maps_in.append(i)
    for target, count in calls.items():
        if count > 1:  # one module, several call sites: its weights cannot follow two channel sets
            node = b.nodes[layer_node[target]]
            for sid in {node.space, b.nodes[node.inputs[0]].space}:
                spaces[sid].pinned.append(f"module {target!r} is called {count} times")
    return Structure(b.nodes, spaces, b.maps, layer_node)


@torch.no_grad()
def trace_structure(model: nn.Module, input_shape: tuple[int, ...]) -> Structure:
    """Trace ``model`` on one input of shape ``input_shape`` (C, H, W) and build its channel structure."""
    model = copy.deepcopy(model).eval()  # shape propagation runs a forward; keep BN stats of the caller's model
    gm = fx.GraphModule(model, _Tracer().trace(model))
    device = next(model.parameters()).device
    ShapeProp(gm).propagate(torch.zeros(1, *input_shape, device=device))
    builder = _Builder(gm)
    for n in gm.graph.nodes:
        builder.visit(n)
    return _finish(builder)
