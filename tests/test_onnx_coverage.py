"""ONNX operator coverage: each operator the compiler accepts, alone in a tiny graph (or in a tiny exported torch
model), compiled into an executable for the host and for ARM64 (run under qemu-aarch64) and checked against
onnxruntime; an operator it cannot lower is refused at compile time with one line."""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from codegen import UnsupportedOperatorError, compile_model
from codegen.frontend import ONNX_OPSET, export_torch
from codegen_helpers import TARGETS
from runtime import get_device

IMAGE = (1, 4, 8, 8)


def _rand(*shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Seeded float32 values; the seed follows the shape so every case is reproducible on its own."""
    return np.random.default_rng(sum(shape)).uniform(low, high, shape).astype(np.float32)


def _scalar(value: float) -> np.ndarray:
    """A 0-d float32 constant, as torch.onnx.export writes the bounds of ReLU6 and scalar operands."""
    return np.array(value, np.float32)


def _op(op_type: str, *constants: np.ndarray, shape: tuple[int, ...] = IMAGE, **attrs) -> onnx.ModelProto:
    """A one-node graph ``output = op_type(input, *constants, **attrs)``, its output shape inferred."""
    names = [f"c{i}" for i in range(len(constants))]
    node = helper.make_node(op_type, ["input", *names], ["output"], name=op_type.lower(), **attrs)
    graph = helper.make_graph([node], op_type.lower(),
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("output", TensorProto.UNDEFINED, None)],
                              [numpy_helper.from_array(c, n) for c, n in zip(constants, names)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


class Scalars(nn.Module):
    """Add, Sub, Mul and Div of a tensor and a Python number, as torch exports them."""

    def forward(self, x):
        return (x * 0.5 + 1.25 - 0.75) / 3.0


def _torch(build: Callable[[], nn.Module]) -> onnx.ModelProto:
    """Export the module ``build`` makes with seeded weights, as ``compile_model`` would."""
    torch.manual_seed(0)
    return export_torch(build(), IMAGE)


SAME = [1, 1, 1, 1]
OPS = {
    "conv": lambda: _op("Conv", _rand(6, 4, 3, 3), _rand(6), pads=SAME),
    "conv_grouped": lambda: _op("Conv", _rand(6, 2, 3, 3), _rand(6), pads=SAME, group=2),
    "conv_depthwise": lambda: _op("Conv", _rand(4, 1, 3, 3), _rand(4), pads=SAME, group=4),
    "conv_depthwise_stride2": lambda: _op("Conv", _rand(4, 1, 3, 3), _rand(4), pads=SAME, group=4, strides=[2, 2]),
    "gemm": lambda: _op("Gemm", _rand(8, 16), _rand(8), shape=(1, 16), transB=1, alpha=0.5),
    "matmul": lambda: _op("MatMul", _rand(8, 5)),
    **{f"{op.lower()}_broadcast": (lambda op=op: _op(op, _rand(4, 1, 1, low=0.5, high=2.0)))
       for op in ("Add", "Mul", "Sub", "Div")},
    **{f"{op.lower()}_scalar": (lambda op=op: _op(op, _scalar(1.5))) for op in ("Add", "Mul", "Sub", "Div")},
    "clip": lambda: _op("Clip", _scalar(0.0), _scalar(1.0)),
    "relu": lambda: _op("Relu"),
    "hardswish": lambda: _op("HardSwish"),
    "hardsigmoid": lambda: _op("HardSigmoid", alpha=0.25, beta=0.4),
    "sigmoid": lambda: _op("Sigmoid"),
    "global_avgpool": lambda: _op("GlobalAveragePool"),
    "avgpool": lambda: _op("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=SAME),
    "maxpool": lambda: _op("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=SAME),
    "concat": lambda: _op("Concat", _rand(1, 2, 8, 8), axis=1),
    "reshape": lambda: _op("Reshape", np.array([1, 16, 16], np.int64)),
    "flatten": lambda: _op("Flatten", axis=1),
    "pad": lambda: _op("Pad", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), _scalar(0.5)),
    "batchnorm": lambda: _op("BatchNormalization", _rand(4), _rand(4), _rand(4), _rand(4, low=0.5, high=2.0),
                             epsilon=1e-3),
    "torch_relu6": lambda: _torch(lambda: nn.Sequential(  # ReLU6 alone, then fused into a depthwise conv
        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU6(), nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU6())),
    "torch_scalars": lambda: _torch(Scalars),
}
EXPECTED = {"torch_relu6": {"Conv", "Clip"}, "torch_scalars": {"Add", "Sub", "Mul", "Div"}}


@pytest.mark.slow  # 29 compiles per target: the full suite runs them, the fast loop does not
@pytest.mark.parametrize("target, device", TARGETS)
@pytest.mark.parametrize("case", OPS)
def test_operator_matches_onnxruntime(tmp_path, case, target, device):
    model = OPS[case]()
    used = {node.op_type for node in model.graph.node}
    assert EXPECTED.get(case, {model.graph.node[0].op_type}) <= used
    compiled = compile_model(model, target=target, out_dir=tmp_path / case, name=case)
    result = get_device(device).bench(compiled, runs=1, warmup=0, seed=1)
    assert result.max_abs_error <= 1e-4


@pytest.mark.parametrize("op_type", ["NonZero", "Bernoulli"])  # shape set by the data; unknown to TVM
def test_unsupported_operator_is_refused_in_one_line(tmp_path, op_type):
    with pytest.raises(UnsupportedOperatorError) as err:
        compile_model(_op(op_type), out_dir=tmp_path / "out")
    assert err.value.ops == [(op_type.lower(), op_type)]
    assert str(err.value) == f"1 unsupported ONNX operator(s): {op_type.lower()} ({op_type})"
