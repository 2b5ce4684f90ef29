"""ARM64 kernel choices by qemu instruction count: executed AArch64 instructions per inference of our linux-aarch64
executable (one thread), per model, beside the counts before the NEON tiles (x86's 12-accumulator tile with broadcast
weight loads, issue 19; ResNet-20 dense re-measured: 21.53M at 6183681) and onnxruntime's aarch64 build on a NEON-only CPU
model (``../shared/docs/arm64-onnxruntime-reference.md``; its ResNet-18 row was not measured). Counts are
deterministic, so this runs on a busy machine; a count is a proxy for latency, not a latency. Every executable is
checked against onnxruntime under qemu (max abs error <= 1e-4) before it is counted.

"pruned" removes 50% of the filters and 40% of the remaining columns of every conv (``latency.variants``), then
purifies and compacts.

    PYTHONPATH=. python benchmarks/bench_arm64.py
    PYTHONPATH=. python benchmarks/bench_arm64.py --rows resnet20:dense --out /tmp/arm64   # one row

Writes benchmarks/results/kernels/arm64.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_io import RESULTS, command, write_report  # noqa: E402
from codegen import compile_model  # noqa: E402
from latency.variants import variant  # noqa: E402
from runtime import get_device  # noqa: E402
from runtime.insn_count import instructions_per_inference  # noqa: E402

VARIANTS = {"dense": (0.0, 0.0), "pruned": (0.5, 0.4)}  # (filter, column) rates
ROWS = ("resnet20:dense", "resnet20:pruned", "resnet18:pruned")
BEFORE_M = {"resnet20:dense": 21.53, "resnet20:pruned": 3.64, "resnet18:pruned": 44.1}  # issue 19, 6183681
ONNXRUNTIME_M = {"resnet20:dense": 20.30, "resnet20:pruned": 7.36}  # onnxruntime 1.32, -cpu neoverse-n1
GOAL = 0.75  # issue 19: at most 0.75x of the counts before


def count_row(row: str, work: Path, runs: int) -> dict:
    name, kind = row.split(":")
    model, shape = variant(name, *VARIANTS[kind])
    compiled = compile_model(model, "linux-aarch64", work / f"{name}-{kind}", input_shape=shape, name=name)
    check = get_device("qemu").bench(compiled, runs=1, warmup=0)
    count = instructions_per_inference(compiled.binary, runs=runs, classes=True)
    after = count.instructions / 1e6
    result = {"row": row, "instructions_m": round(after, 3), "classes_m": {k: round(v / 1e6, 3) for k, v in
                                                                          count.classes.items()},
              "before_m": BEFORE_M.get(row), "onnxruntime_m": ONNXRUNTIME_M.get(row),
              "ratio": round(after / BEFORE_M[row], 3) if row in BEFORE_M else None,
              "max_abs_error": check.max_abs_error, "tiles": sorted({tuple(layer["tile"]) for layer in
                                                                     compiled.info["layers"]})}
    print(json.dumps(result), flush=True)
    return result


def markdown(report: dict) -> str:
    lines = ["# ARM64: executed AArch64 instructions per inference under qemu (one thread)", "",
             f"Command: `{report['command']}`", "",
             "Before: the x86 tile on NEON (12 accumulators, one broadcast load per weight; issue 19, revision 6183681). "
             "After: 24 accumulators, weights read 4 at a time with lane-indexed FMAs, two taps per loop "
             f"iteration (`codegen/kernels/tile.py`). Goal: after <= {GOAL} x before. onnxruntime 1.32 aarch64, "
             "NEON-only CPU model, from `../shared/docs/arm64-onnxruntime-reference.md`.", "",
             "| model | before (M) | after (M) | after / before | onnxruntime (M) | SIMD-FP (M) | loads (M) | "
             "max abs error |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        ort = f"{r['onnxruntime_m']:.2f}" if r["onnxruntime_m"] else "not measured"
        lines.append(f"| {r['row']} | {r['before_m']:.2f} | {r['instructions_m']:.2f} | {r['ratio']:.3f} | {ort} | "
                     f"{r['classes_m']['simd_fp']:.2f} | {r['classes_m']['load']:.2f} | {r['max_abs_error']:.1e} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, help="model:variant rows")
    parser.add_argument("--runs", type=int, default=2, help="extra inferences counted per row")
    parser.add_argument("--out", type=Path, default=RESULTS / "kernels" / "arm64", help="OUT.json and OUT.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-arm64-") as tmp:
        rows = [count_row(row, Path(tmp), args.runs) for row in args.rows]
    print(write_report(args.out, {"command": command(), "goal": GOAL, "rows": rows}, markdown({"command": command(),
                                                                                                 "rows": rows})))


if __name__ == "__main__":
    main()
