"""The qemu instruction-count plugin: builds, counts the work a program does, repeats exactly, splits classes."""
import copy
import shutil
import subprocess

import pytest

from codegen import compile_model
from codegen.toolchain import get_toolchain
from codegen_helpers import make_model
from runtime.elf import read_elf
from runtime.insn_count import (AddressRanges, InstructionCount, count_instructions, instructions_per_inference,
                                kernel_instructions)

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


WORK_C = r"""
/* No libc (zig would build a static-pie musl for the pie case, about a minute): nothing here holds an absolute
   address, so the static-pie build needs none of the self-relocation libc would do at start. */
__attribute__((noinline)) float work(long n) {
  volatile float acc = 0.f;
  for (long i = 0; i < n; ++i) acc += 1.5f;
  return acc;
}
static long parse(const char* s) {
  long n = 0;
  while (*s) n = n * 10 + (*s++ - '0');
  return n;
}
void start(long* sp) {  /* sp: argc, then argv */
  work(parse(((char**)(sp + 1))[1]));
  register long x0 __asm__("x0") = 0, x8 __asm__("x8") = 93;  /* exit(0) */
  __asm__ volatile("svc 0" : : "r"(x0), "r"(x8));
  __builtin_unreachable();
}
__asm__(".global _start\n_start:\n  mov x0, sp\n  b start\n");
"""


def zig_build(folder, name: str, source: str, *flags: str):
    """A static AArch64 executable of ``source`` built with zig."""
    if shutil.which("qemu-aarch64") is None:
        pytest.fail("qemu-aarch64 missing: .ci/run installs qemu-user")
    (folder / f"{name}.c").write_text(source)
    zig = get_toolchain("linux-aarch64")
    subprocess.run([*zig.cc, *(flags or ["-static"]), "-O1", str(folder / f"{name}.c"), "-o", str(folder / name)],
                   check=True, env=zig.environ())
    return folder / name


@pytest.fixture(scope="module")
def loop_binary(tmp_path_factory):
    return zig_build(tmp_path_factory.mktemp("loop"), "loop", LOOP_C)


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
    """A real compiled model: per-inference instructions repeat to 0.1%, and a smaller model needs fewer. Each
    process's count varies by up to about 1,000 instructions (printed times), so 64 inferences keep that noise
    near 0.01% of this tiny model's 0.2 M instructions per inference."""
    from compress.models.small_cnn import SmallCNN

    counts = {}
    for width in (4, 16):
        model = SmallCNN(width=width).eval()
        compiled = compile_model(model, "linux-aarch64", tmp_path / f"w{width}", input_shape=(1, 1, 8, 8))
        counts[width] = [instructions_per_inference(compiled.binary, runs=64).instructions for _ in range(2)]
    assert abs(counts[16][0] - counts[16][1]) <= 0.001 * counts[16][0]
    assert counts[4][0] < counts[16][0] / 4



def test_ranges_count_one_function_in_fixed_and_position_independent_binaries(tmp_path):
    """The same function counted by address range in a fixed-address and a static-pie build: same count,
    5 instructions per loop iteration, so the plugin found the load bias of the position-independent one."""
    counts = {}
    for kind, flags in (("exec", ["-static"]), ("pie", ["-static-pie", "-fPIE"])):
        binary = zig_build(tmp_path, kind, WORK_C, "-nostdlib", "-ffreestanding", *flags)
        facts = read_elf(binary)
        assert facts.position_independent == (kind == "pie") and not facts.interpreter
        work = next(f for f in facts.functions if f.name == "work")
        ranges = AddressRanges(facts.entry, ((work.address, work.address + work.size),))
        counts[kind] = [count_instructions([binary, str(n)], ranges=ranges).ranges[0] for n in (1000, 11000)]
    assert counts["exec"] == counts["pie"]
    assert counts["exec"][1] - counts["exec"][0] == 5 * 10_000  # load, add, store, increment, compare+branch


@pytest.mark.slow
def test_per_kernel_counts_add_up_repeat_and_see_pruned_columns(tmp_path):
    """Per-kernel counts of a real model: they repeat to 0.1%, sum to within 3% of the whole inference, and a
    column-pruned model's conv kernels execute fewer instructions while its pooling kernel executes as many."""
    from compress import pruning

    model, shape = make_model("small_cnn")
    structure = pruning.trace_structure(model, shape[1:])
    rates = pruning.uniform_rates(structure, pruning.LayerRate(column=0.5))
    pruned = pruning.project_masks(structure, pruning.layer_weights(model), "column", rates).apply(
        copy.deepcopy(model))
    dense_c = compile_model(model, "linux-aarch64", tmp_path / "dense", input_shape=shape)
    pruned_c = compile_model(pruned, "linux-aarch64", tmp_path / "pruned", input_shape=shape)
    dense = [kernel_instructions(dense_c, runs=2) for _ in range(2)]
    called = {layer["kernel"] for layer in dense_c.info["layers"]} | {"max_pool2d", "mean"}
    assert dense[0].keys() == dense[1].keys() == called  # the unused reshape kernel never runs
    for name, count in dense[0].items():
        assert abs(count - dense[1][name]) <= 0.001 * count, name
    whole = instructions_per_inference(dense_c.binary, runs=2).instructions
    assert 0.97 * whole <= sum(dense[0].values()) <= whole
    pruned_counts = kernel_instructions(pruned_c, runs=2)
    dense_layers, pruned_layers = dense_c.info["layers"], pruned_c.info["layers"]
    for d, p in zip(dense_layers[1:3], pruned_layers[1:3]):  # conv01, conv02: half their columns pruned
        assert p["taps"] < d["taps"]
        assert pruned_counts[p["kernel"]] < 0.8 * dense[0][d["kernel"]], (p["kernel"], d["kernel"])
    assert pruned_counts["max_pool2d"] == dense[0]["max_pool2d"]

