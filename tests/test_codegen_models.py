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
def test_pruned_variant_is_smaller(artifacts):
    dense = artifacts.get("resnet20", "dense", "host").info
    pruned = artifacts.get("resnet20", "pruned", "host").info
    assert pruned["weights_bytes"] < 0.7 * dense["weights_bytes"]
    assert pruned["model_hash"] != dense["model_hash"]
