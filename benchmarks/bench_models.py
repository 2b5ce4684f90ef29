"""Whole models, dense and pruned-and-compacted: our executable with the specialised kernels vs the same model
under TVM's default lowering (the unscheduled previous binary) vs onnxruntime on the same ONNX
(intra_op_num_threads=1) vs torch eager (set_num_threads(1)); plus compile time and executable size.

Weights are random (seeded) with calibrated BatchNorm statistics; "pruned" removes 50% of the filters and 40% of the
remaining columns of every conv by magnitude (``latency.variants``; "pruned-c30": 30% of the columns), then purifies
and compacts, so onnxruntime and torch run a smaller dense model while our kernels also skip the zero columns. Every
executable is checked against onnxruntime (max abs error <= 1e-4) before it is timed. The four timings of a row come
from one run of this script, one after another on the same machine.

    PYTHONPATH=. python benchmarks/bench_models.py --runs 20 --warmup 3
    PYTHONPATH=. python benchmarks/bench_models.py --models mobilenetv2 --variants dense pruned-c30 \
        --out benchmarks/results/kernels/mobilenetv2

Writes benchmarks/results/kernels/models.{json,md}.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import results_io  # noqa: E402  (RESULTS read in main(): bench_accuracy imports this module lazily)
from results_io import command, write_report  # noqa: E402
from codegen import compile_model  # noqa: E402
from codegen.frontend import export_torch  # noqa: E402
from compress.models import MODELS  # noqa: E402
from latency.variants import variant  # noqa: E402
from runtime import get_device  # noqa: E402
from runtime.reference import make_input, onnxruntime_session  # noqa: E402

VARIANTS = {"dense": (0.0, 0.0), "pruned": (0.5, 0.4), "pruned-c30": (0.5, 0.3)}  # (filter, column) rates


def time_ms(fn, runs: int, warmup: int) -> list[float]:
    """Per-call wall times in ms after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def onnxruntime_times(onnx_path: Path, x, runs: int, warmup: int, threads: int = 1) -> list[float]:
    """Per-call wall times in ms of onnxruntime (CPU provider, ``threads`` intra-op threads) on input ``x``."""
    session = onnxruntime_session(onnx_path, threads)
    name = session.get_inputs()[0].name
    return time_ms(lambda: session.run(None, {name: x}), runs, warmup)


def summary(times: list[float]) -> dict:
    return {"min_ms": round(min(times), 4), "median_ms": round(statistics.median(times), 4)}


def bench_row(name: str, kind: str, args, work: Path) -> dict:
    model, shape = variant(name, *VARIANTS[kind], seed=args.seed)
    onnx_model = export_torch(model, shape)
    row = {"model": name, "variant": kind}
    for schedule in ("auto", "none"):
        compiled = compile_model(onnx_model, "host", work / f"{name}-{kind}-{schedule}", name=name, schedule=schedule)
        result = get_device("host").bench(compiled, runs=args.runs, warmup=args.warmup, threads=1, seed=args.seed)
        row[schedule] = {"compile_seconds": compiled.info["compile_seconds"],
                         "binary_bytes": compiled.info["binary_bytes"], "max_abs_error": result.max_abs_error,
                         **summary(result.times_ms)}
        if schedule == "auto":
            layers = compiled.info["layers"]
            row["macs"] = {"dense_shape": sum(l["dense_macs"] for l in layers),
                           "useful": sum(l["useful_macs"] for l in layers)}
            onnx_path = compiled.onnx_path
    x = make_input(shape, args.seed)
    row["onnxruntime"] = summary(onnxruntime_times(onnx_path, x, args.runs, args.warmup))
    torch.set_num_threads(1)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        row["torch_eager"] = summary(time_ms(lambda: model(xt), args.runs, args.warmup))
    print(f"{name} {kind}: ours {row['auto']['median_ms']:.3f} ms, unscheduled {row['none']['median_ms']:.2f} ms, "
          f"ort {row['onnxruntime']['median_ms']:.3f} ms, torch {row['torch_eager']['median_ms']:.3f} ms", flush=True)
    return row


def markdown(report: dict) -> str:
    lines = ["# Whole models: specialised kernels vs unscheduled TVM vs onnxruntime vs torch (host, 1 thread)", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {report['machine']}; Python {report['python']}; torch {report['torch']}; "
             f"onnxruntime {report['onnxruntime']}; TVM {report['tvm']}. Medians of {report['runs']} runs after "
             f"{report['warmup']} warm-up runs; ours and unscheduled are timed inside the executable, onnxruntime and "
             "torch in Python around one call. MACs: conv+linear multiply-adds of the (compacted) model, and those "
             "on nonzero weights only (what our kernels execute).", "",
             "| model | variant | MACs (M) | useful MACs (M) | ours (ms) | unscheduled (ms) | onnxruntime (ms) | "
             "torch (ms) | ort / ours | unscheduled / ours | compile (s) | binary (MB) | max abs err |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        ours, none = r["auto"], r["none"]
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['macs']['dense_shape'] / 1e6:.1f} | {r['macs']['useful'] / 1e6:.1f} | "
            f"{ours['median_ms']:.3f} | {none['median_ms']:.2f} | {r['onnxruntime']['median_ms']:.3f} | "
            f"{r['torch_eager']['median_ms']:.3f} | {r['onnxruntime']['median_ms'] / ours['median_ms']:.2f}x | "
            f"{none['median_ms'] / ours['median_ms']:.0f}x | {ours['compile_seconds']:.1f} | "
            f"{ours['binary_bytes'] / 1e6:.2f} | {ours['max_abs_error']:.1e} |")
    lines += ["", "ort / ours > 1 means our executable is faster than onnxruntime.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet56", "resnet18", "vgg16"],
                        choices=list(MODELS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(results_io.RESULTS / "kernels" / "models"), help="output path without suffix")
    args = parser.parse_args()
    import onnxruntime
    import tvm

    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        rows = [bench_row(name, kind, args, Path(tmp)) for name in args.models for kind in args.variants]
    report = {"command": command(),
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
              "python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
              "tvm": tvm.__version__, "runs": args.runs, "warmup": args.warmup, "seed": args.seed, "rows": rows}
    print(f"wrote {write_report(args.out, report, markdown(report))}")


if __name__ == "__main__":
    main()
