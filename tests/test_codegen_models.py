"""Each model, dense and filter+column pruned, compiled for the host and for ARM64 (run under qemu-aarch64):
the executable's logits match onnxruntime on the same input to 1e-4."""
from __future__ import annotations

import pytest

from codegen_helpers import TARGETS, elf_facts
from runtime import get_device

MODELS = ("resnet20", "resnet18", "vgg16")  # resnet56 has resnet20's layer shapes (the same kernels), only more blocks


@pytest.mark.slow
@pytest.mark.parametrize("target, device", TARGETS)
@pytest.mark.parametrize("variant", ["dense", "pruned"])
@pytest.mark.parametrize("name", MODELS)
def test_binary_matches_onnxruntime(artifacts, name, variant, target, device):
    compiled = artifacts.get(name, variant, target)
    result = get_device(device).bench(compiled, runs=1, warmup=0, seed=1)
    assert result.max_abs_error <= 1e-4
    assert result.model_hash == compiled.info["model_hash"]
    assert compiled.info["kernel_calls"] >= 10
    assert elf_facts(compiled.binary)["machine"] == ("x86_64" if target == "host" else "aarch64")
    if device == "qemu":
        assert result.emulated and result.median_ms is None and len(result.emulated_times_ms) == 1
    else:
        assert not result.emulated and result.median_ms > 0


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


@pytest.mark.slow
def test_pruned_variant_is_smaller(artifacts):
    dense = artifacts.get("resnet20", "dense", "host").info
    pruned = artifacts.get("resnet20", "pruned", "host").info
    assert pruned["weights_bytes"] < 0.7 * dense["weights_bytes"]
    assert pruned["model_hash"] != dense["model_hash"]
