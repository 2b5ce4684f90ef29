"""Host, 2 threads vs 1: our executable (each layer's tiles split over the thread pool) and onnxruntime
(intra_op_num_threads), on the same ONNX file, dense and pruned. Our outputs at 2 threads must be bit-identical to 1
thread, and every executable is checked against onnxruntime (max abs error <= 1e-4) before it is timed. Goal (issue
19): 2-thread speed-up >= 1.6x. Run it on a quiet machine: timings taken beside other jobs mean nothing.

"pruned" removes 50% of the filters and 40% of the remaining columns of every conv (``latency.variants``).

    PYTHONPATH=. python benchmarks/bench_threads.py --runs 50 --warmup 10
    PYTHONPATH=. python benchmarks/bench_threads.py --models resnet20 --variants dense --runs 2 --warmup 1 \\
        --out /tmp/threads   # smoke test

Writes benchmarks/results/kernels/threads.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_models import VARIANTS, time_ms  # noqa: E402
from results_io import RESULTS, command, write_report  # noqa: E402
from codegen import compile_model  # noqa: E402
from codegen.frontend import export_torch  # noqa: E402
from latency.variants import variant  # noqa: E402
from runtime import get_device  # noqa: E402
from runtime.reference import make_input  # noqa: E402

THREADS = (1, 2)


def ours(compiled, runs: int, warmup: int) -> dict:
    """Median ms per thread count, and whether the outputs of every thread count are the same bytes."""
    host, x = get_device("host"), make_input(compiled.input_shape, 0).tobytes()
    medians = {t: host.bench(compiled, runs=runs, warmup=warmup, threads=t).median_ms for t in THREADS}
    outputs = {host.execute(compiled.binary, x, ["--runs", "1", "--warmup", "0", "--threads", str(t)], None).output
               for t in THREADS}
    return {"ms": medians, "identical": len(outputs) == 1}


def onnxruntime_ms(onnx_path: Path, shape: tuple[int, ...], runs: int, warmup: int) -> dict:
    import onnxruntime as ort

    x = make_input(shape, 0)
    medians = {}
    for threads in THREADS:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        medians[threads] = statistics.median(time_ms(lambda: session.run(None, {name: x}), runs, warmup))
    return medians


def bench_row(name: str, kind: str, args, work: Path) -> dict:
    model, shape = variant(name, *VARIANTS[kind])
    onnx_model = export_torch(model, shape)
    compiled = compile_model(onnx_model, "host", work / f"{name}-{kind}", name=name)
    mine, ref = ours(compiled, args.runs, args.warmup), onnxruntime_ms(compiled.onnx_path, shape, args.runs,
                                                                       args.warmup)
    row = {"model": name, "variant": kind, "ours_ms": mine["ms"], "identical_outputs": mine["identical"],
           "onnxruntime_ms": ref, "ours_speedup": mine["ms"][1] / mine["ms"][2],
           "onnxruntime_speedup": ref[1] / ref[2], "ours_vs_onnxruntime_2t": ref[2] / mine["ms"][2]}
    print(json.dumps(row), flush=True)
    return row


def markdown(report: dict) -> str:
    lines = ["# Host, 2 threads vs 1: ours and onnxruntime", "", f"Command: `{report['command']}`", "",
             f"Machine: {report['machine']}. Median ms; speed-up = 1-thread / 2-thread median; goal (issue 19): ours "
             ">= 1.6x, outputs at 2 threads identical to 1 thread.", "",
             "| model | variant | ours 1T | ours 2T | speed-up | identical | onnxruntime 1T | onnxruntime 2T | "
             "speed-up | onnxruntime 2T / ours 2T |", "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        o, n = r["ours_ms"], r["onnxruntime_ms"]
        lines.append(f"| {r['model']} | {r['variant']} | {o[1]:.3f} | {o[2]:.3f} | {r['ours_speedup']:.2f} | "
                     f"{'yes' if r['identical_outputs'] else 'NO'} | {n[1]:.3f} | {n[2]:.3f} | "
                     f"{r['onnxruntime_speedup']:.2f} | {r['ours_vs_onnxruntime_2t']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet56", "vgg16"])
    parser.add_argument("--variants", nargs="+", default=["dense", "pruned"], choices=list(VARIANTS))
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS / "kernels" / "threads", help="OUT.json and OUT.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        rows = [bench_row(m, v, args, Path(tmp)) for m in args.models for v in args.variants]
    report = {"command": command(), "machine": f"{platform.processor() or platform.machine()}, "
                                               f"{len(os.sched_getaffinity(0))} CPUs", "rows": rows}
    print(write_report(args.out, report, markdown(report)))


if __name__ == "__main__":
    main()
