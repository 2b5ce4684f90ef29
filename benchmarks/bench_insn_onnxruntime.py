"""ARM64 instructions per inference under qemu-aarch64: our linux-aarch64 executable vs onnxruntime's own aarch64
build (its NEON kernels, MLAS) on the same ONNX file, one thread. Instruction counts are deterministic, so this
runs on a busy machine too; a count is a proxy for latency, not a latency.

Ours: ``runtime.insn_count.instructions_per_inference`` (a run with N extra inferences minus one without).
onnxruntime: Debian's arm64 Python with the aarch64 onnxruntime and numpy wheels under qemu, set up as in
``../shared/docs/arm64-onnxruntime-reference.md`` (``--sysroot`` and ``--site``); one session
(``intra_op_num_threads=1``) runs once, then N times; the counts for N and 3N inferences differ by 2N inferences
(start-up cancels; Python's per-call overhead remains, a small upward bias). ``-cpu cortex-a76``: NEON only, no
SVE/SME paths (our binaries use NEON only, so the CPU model does not change their count). Without ``--sysroot``
only our counts are taken.

    PYTHONPATH=. python benchmarks/bench_insn_onnxruntime.py --models mobilenetv2 --variants dense pruned-c30 \\
        --sysroot ~/.cache/ort-aarch64/sysroot --site ~/.cache/ort-aarch64/site

Writes benchmarks/results/kernels/insn_onnxruntime.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import results_io  # noqa: E402
from bench_models import VARIANTS  # noqa: E402
from results_io import command, write_report  # noqa: E402
from codegen import compile_model  # noqa: E402
from codegen.frontend import export_torch  # noqa: E402
from compress.models import MODELS  # noqa: E402
from latency.variants import variant  # noqa: E402
from runtime import get_device  # noqa: E402
from runtime.insn_count import count_instructions, instructions_per_inference  # noqa: E402

ORT_SCRIPT = """import sys
import numpy as np
import onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
feed = {session.get_inputs()[0].name: np.random.default_rng(0).standard_normal(
    [int(d) for d in session.get_inputs()[0].shape]).astype(np.float32)}
session.run(None, feed)
for _ in range(int(sys.argv[2])):
    session.run(None, feed)
"""


def ort_instructions(onnx_path: Path, sysroot: Path, site: Path, runs: int, cpu: str) -> dict:
    """onnxruntime-aarch64's instructions per inference (by class) on ``onnx_path``: (count(3N) - count(N)) / 2N."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ort_run.py"
        script.write_text(ORT_SCRIPT)

        def count(n: int):
            argv = ["-cpu", cpu, "-L", sysroot, "-E", f"PYTHONPATH={site}", sysroot / "usr/bin/python3.11", script,
                    onnx_path, str(n)]
            return count_instructions(argv, classes=True, timeout=3600)

        delta = count(3 * runs) - count(runs)
    return {"instructions": delta.instructions / (2 * runs),
            "classes": {k: v / (2 * runs) for k, v in delta.classes.items()}}


def bench_row(name: str, kind: str, args, work: Path) -> dict:
    model, shape = variant(name, *VARIANTS[kind], seed=args.seed)
    compiled = compile_model(export_torch(model, shape), "linux-aarch64", work / f"{name}-{kind}", name=name)
    check = get_device("qemu").bench(compiled, runs=1, warmup=0, seed=args.seed)
    ours = instructions_per_inference(compiled.binary, runs=args.runs, classes=True)
    layers = compiled.info["layers"]
    row = {"model": name, "variant": kind, "max_abs_error": check.max_abs_error,
           "macs": {"dense_shape": sum(layer["dense_macs"] for layer in layers),
                    "useful": sum(layer["useful_macs"] for layer in layers)},
           "ours": {"instructions": ours.instructions, "classes": ours.classes}}
    if args.sysroot:
        row["onnxruntime"] = ort_instructions(compiled.onnx_path, args.sysroot, args.site, args.runs, args.cpu)
    ort = row.get("onnxruntime", {}).get("instructions")
    print(f"{name} {kind}: ours {ours.instructions / 1e6:.2f}M instructions"
          + (f", onnxruntime {ort / 1e6:.2f}M ({ort / ours.instructions:.2f}x)" if ort else ""), flush=True)
    return row


def markdown(report: dict) -> str:
    lines = ["# ARM64 instructions per inference under qemu: ours vs onnxruntime-aarch64 (1 thread)", "",
             f"Command: `{report['command']}`", "",
             f"onnxruntime-aarch64 CPU model: `-cpu {report['cpu']}` (NEON only); {report['runs']} inferences per "
             "difference. M = millions of executed AArch64 instructions per inference; SIMD-FP and loads are two "
             "of the plugin's classes.", "",
             "| model | variant | MACs (M) | useful MACs (M) | ours (M) | ours SIMD-FP | ours loads | "
             "onnxruntime (M) | ort SIMD-FP | ort loads | ort / ours | max abs err |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        ours, ort = r["ours"], r.get("onnxruntime")
        cells = [f"{ort['instructions'] / 1e6:.2f}", f"{ort['classes']['simd_fp'] / 1e6:.2f}",
                 f"{ort['classes']['load'] / 1e6:.2f}", f"{ort['instructions'] / ours['instructions']:.2f}x"] \
            if ort else ["-"] * 4
        lines.append(f"| {r['model']} | {r['variant']} | {r['macs']['dense_shape'] / 1e6:.1f} | "
                     f"{r['macs']['useful'] / 1e6:.1f} | {ours['instructions'] / 1e6:.2f} | "
                     f"{ours['classes']['simd_fp'] / 1e6:.2f} | {ours['classes']['load'] / 1e6:.2f} | "
                     + " | ".join(cells) + f" | {r['max_abs_error']:.1e} |")
    lines += ["", "ort / ours > 1 means our executable runs fewer instructions than onnxruntime.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["mobilenetv2"], choices=list(MODELS))
    parser.add_argument("--variants", nargs="+", default=["dense", "pruned-c30"], choices=list(VARIANTS))
    parser.add_argument("--runs", type=int, default=4, help="inferences per counted difference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sysroot", type=Path, help="Debian arm64 Python sysroot (see the module docstring)")
    parser.add_argument("--site", type=Path, help="folder with the unpacked aarch64 onnxruntime and numpy wheels")
    parser.add_argument("--cpu", default="cortex-a76", help="qemu CPU model for onnxruntime")
    parser.add_argument("--out", default=str(results_io.RESULTS / "kernels" / "insn_onnxruntime"),
                        help="output path without suffix")
    args = parser.parse_args()
    if bool(args.sysroot) != bool(args.site):
        parser.error("--sysroot and --site go together")
    with tempfile.TemporaryDirectory(prefix="bench-insn-ort-") as tmp:
        rows = [bench_row(name, kind, args, Path(tmp)) for name in args.models for kind in args.variants]
    report = {"command": command(), "cpu": args.cpu, "runs": args.runs, "seed": args.seed, "rows": rows}
    print(f"wrote {write_report(args.out, report, markdown(report))}")


if __name__ == "__main__":
    main()
