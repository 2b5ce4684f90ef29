"""MobileNet-style registry models compiled whole: depthwise convs, ReLU6, hard-swish and squeeze-and-excitation
are specialised kernels (or TVM's default lowering) whose logits match onnxruntime on the same input to 1e-4."""
from __future__ import annotations

import pytest

from runtime import get_device


@pytest.mark.slow
@pytest.mark.parametrize("variant, target, device", [
    pytest.param("dense", "host", "host", id="dense-host"),
    pytest.param("pruned-c30", "linux-aarch64", "qemu", id="pruned-qemu", marks=pytest.mark.qemu)])
def test_mobilenetv2_depthwise_kernels_match_onnxruntime(artifacts, variant, target, device):
    """MobileNetV2 (ReLU6), dense on the host and pruned (50% filters, 30% columns) under qemu: every conv,
    depthwise ones included, is a specialised kernel with its bias, residual and ReLU6 fused."""
    compiled = artifacts.get("mobilenetv2", variant, target)
    result = get_device(device).bench(compiled, runs=1, warmup=0, seed=1)
    assert result.max_abs_error <= 1e-4
    layers = compiled.info["layers"]
    assert sum(layer["groups"] > 1 for layer in layers) == 17 and len(layers) == 53
    assert compiled.info["kernel_calls"] == len(layers) + 1  # the global average pool
    assert sum(layer["residual"] for layer in layers) == 10
    assert sum(layer["activation"] == [["max", 0.0], ["min", 6.0]] for layer in layers) == 35


@pytest.mark.slow
def test_mobilenetv3_small_matches_onnxruntime(artifacts):
    """MobileNetV3-Small, dense on the host: every conv and linear layer (depthwise 3x3/5x5 and the 1x1 convs of
    squeeze-and-excitation too) is a specialised kernel with hard-swish/ReLU fused; the SE's hard-sigmoid and
    channel-wise multiply take TVM's default lowering."""
    compiled = artifacts.get("mobilenetv3_small", "dense", "host")
    result = get_device("host").bench(compiled, runs=1, warmup=0, seed=1)
    assert result.max_abs_error <= 1e-4
    layers = compiled.info["layers"]
    assert len(layers) == 54 and sum(layer["groups"] > 1 for layer in layers) == 11
    assert sum(layer["activation"] == [["hardswish"]] for layer in layers) == 19
    assert sum(layer["residual"] for layer in layers) == 7
