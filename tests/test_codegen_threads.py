"""Multi-threaded kernels: each layer's tiles go through the binary's thread pool, and the output does not depend
on the number of threads (every output is the same sum in the same order)."""
from __future__ import annotations

import json

import pytest

from codegen_helpers import TARGETS
from runtime import get_device
from runtime.reference import make_input


@pytest.mark.parametrize("target, device", TARGETS)
def test_two_threads_reach_the_pool_and_match_one_bit_for_bit(artifacts, target, device):
    compiled = artifacts.get("small_cnn", "dense", target)
    x = make_input(compiled.input_shape, 0).tobytes()
    runs = {}
    for threads in (1, 2):
        run = get_device(device).execute(compiled.binary, x, ["--runs", "1", "--warmup", "1", "--threads",
                                                               str(threads)], None)
        runs[threads] = run.output, json.loads(run.stdout.splitlines()[-1])
    assert runs[1][0] == runs[2][0]
    assert runs[1][1]["parallel_launches"] == 0
    assert runs[2][1]["threads"] == 2 and runs[2][1]["parallel_launches"] >= 2 * 2  # >= 2 layers, 2 inferences
