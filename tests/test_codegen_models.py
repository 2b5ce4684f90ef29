"""Each model, dense and filter+column pruned, compiled for the host: the executable matches onnxruntime."""
from __future__ import annotations

import pytest

from conftest_codegen import artifacts, elf_facts  # noqa: F401  (fixture)
from runtime import get_device

MODELS = ("resnet20", "resnet56", "resnet18", "vgg16")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["dense", "pruned"])
@pytest.mark.parametrize("name", MODELS)
def test_host_binary_matches_onnxruntime(artifacts, name, variant):
    compiled = artifacts.get(name, variant, "host")
    result = get_device("host").bench(compiled, runs=2, warmup=0, seed=1)
    assert result.max_abs_error <= 1e-4
    assert result.model_hash == compiled.info["model_hash"]
    assert result.median_ms > 0 and len(result.times_ms) == 2
    assert compiled.info["kernel_calls"] >= 10
    assert elf_facts(compiled.binary)["machine"] == "x86_64"


@pytest.mark.slow
def test_pruned_variant_is_smaller(artifacts):
    dense = artifacts.get("resnet20", "dense", "host").info
    pruned = artifacts.get("resnet20", "pruned", "host").info
    assert pruned["weights_bytes"] < 0.7 * dense["weights_bytes"]
    assert pruned["model_hash"] != dense["model_hash"]
