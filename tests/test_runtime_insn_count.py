"""The qemu instruction-count plugin: builds, counts the work a program does, repeats exactly, splits classes."""
import shutil
import subprocess
import sys

import pytest

from runtime.insn_count import InstructionCount, count_instructions

pytestmark = pytest.mark.qemu

LOOP_C = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char** argv) {
  long n = atol(argv[1]);
  volatile float acc = 0.f;
  for (long i = 0; i < n; ++i) acc += 1.5f;
  printf("%f\n", acc);
  return 0;
}
"""


@pytest.fixture(scope="module")
def loop_binary(tmp_path_factory):
    if shutil.which("qemu-aarch64") is None:
        pytest.fail("qemu-aarch64 missing: .ci/run installs qemu-user")
    folder = tmp_path_factory.mktemp("loop")
    (folder / "loop.c").write_text(LOOP_C)
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "aarch64-linux-musl", "-static", "-O1",
                    str(folder / "loop.c"), "-o", str(folder / "loop")], check=True)
    return folder / "loop"


def test_counts_grow_with_work_and_repeat(loop_binary):
    small = count_instructions([loop_binary, "1000"])
    large = [count_instructions([loop_binary, "11000"]) for _ in range(3)]
    per_iteration = (large[0] - small).instructions / 10_000
    assert 3 <= per_iteration <= 12  # a load, an add, a store, a compare and a branch, give or take
    spread = max(c.instructions for c in large) - min(c.instructions for c in large)
    assert spread <= 0.001 * large[0].instructions


def test_classes_add_up_and_see_the_float_work(loop_binary):
    small = count_instructions([loop_binary, "1000"], classes=True)
    large = count_instructions([loop_binary, "11000"], classes=True)
    assert sum(large.classes.values()) == large.instructions
    loop = large - small
    for name in ("load", "store", "branch", "simd_fp"):
        assert loop.classes[name] >= 10_000 * 0.9, (name, loop.classes)
    assert loop.weighted({"load": 2.0}) == pytest.approx(loop.instructions + loop.classes["load"])


def test_weighting_needs_classes_and_known_names():
    with pytest.raises(ValueError, match="no classes"):
        InstructionCount(10).weighted({})
    with pytest.raises(ValueError, match="unknown instruction classes \\['fma'\\]"):
        InstructionCount(10, {"load": 10}).weighted({"fma": 2.0})


def test_per_inference_count_of_a_compiled_model_is_stable(tmp_path):
    """A real compiled model: per-inference instructions repeat to 0.1%, and a smaller model needs fewer."""
    from codegen import compile_model
    from compress.models.small_cnn import SmallCNN
    from runtime.insn_count import instructions_per_inference

    counts = {}
    for width in (4, 16):
        model = SmallCNN(width=width).eval()
        compiled = compile_model(model, "linux-aarch64", tmp_path / f"w{width}", input_shape=(1, 1, 8, 8))
        counts[width] = [instructions_per_inference(compiled.binary, runs=2).instructions for _ in range(2)]
    assert abs(counts[16][0] - counts[16][1]) <= 0.001 * counts[16][0]
    assert counts[4][0] < counts[16][0] / 4
