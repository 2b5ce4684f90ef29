"""Compile baseline: compile time and executable size per model (host and ARM64), and host single-thread latency
of our static executable vs onnxruntime (same ONNX, intra_op_num_threads=1) vs torch eager (set_num_threads(1)).

The kernels come from TVM's default pipeline without schedules; this is the baseline a later schedules issue
improves. Weights are random (seeded) with calibrated BatchNorm statistics: latency does not depend on them.

    PYTHONPATH=. python benchmarks/bench_compile.py --runs 10 --warmup 2

Writes benchmarks/results/compile_baseline.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from codegen import compile_model  # noqa: E402
from codegen.frontend import export_torch  # noqa: E402
from compress.models import MODELS, build_model  # noqa: E402
from runtime import get_device  # noqa: E402
from runtime.reference import make_input  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def calibrated(name: str, seed: int) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """Registry model with seeded weights and BatchNorm statistics from one random batch."""
    torch.manual_seed(seed)
    model, shape = build_model(name), (1, *MODELS[name].input_shape)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        model.train()(torch.randn(8, *shape[1:]))
    return model.eval(), shape


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


def summary(times: list[float]) -> dict:
    return {"min_ms": round(min(times), 4), "median_ms": round(statistics.median(times), 4),
            "mean_ms": round(statistics.fmean(times), 4), "times_ms": [round(t, 4) for t in times]}


def bench_model(name: str, args, work: Path) -> dict:
    import onnxruntime as ort

    model, shape = calibrated(name, args.seed)
    start = time.perf_counter()
    onnx_model = export_torch(model, shape)
    row = {"model": name, "onnx_export_s": round(time.perf_counter() - start, 2)}
    for target in ("host", "linux-aarch64"):
        compiled = compile_model(onnx_model, target=target, out_dir=work / f"{name}-{target}", name=name)
        row[target] = {k: compiled.info[k] for k in ("compile_seconds", "binary_bytes", "weights_bytes", "kernels",
                                                      "kernel_calls", "model_hash")}
        if target == "host":
            host = compiled
    ours = get_device("host").bench(host, runs=args.runs, warmup=args.warmup, threads=1, seed=args.seed)
    row["ours"] = {"max_abs_error": ours.max_abs_error, **summary(ours.times_ms)}
    x = make_input(shape, args.seed)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = ort.InferenceSession(str(host.onnx_path), options, providers=["CPUExecutionProvider"])
    row["onnxruntime"] = summary(time_ms(lambda: session.run(None, {"input": x}), args.runs, args.warmup))
    torch.set_num_threads(1)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        row["torch_eager"] = summary(time_ms(lambda: model(xt), args.runs, args.warmup))
    print(json.dumps({k: row[k] for k in ("model", "onnx_export_s")}), f"ours {row['ours']['median_ms']:.2f} ms, "
          f"ort {row['onnxruntime']['median_ms']:.2f} ms, torch {row['torch_eager']['median_ms']:.2f} ms", flush=True)
    return row


def markdown(report: dict) -> str:
    lines = ["# Compile baseline (TVM default pipeline, no schedules)", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {report['machine']}; Python {report['python']}; torch {report['torch']}; "
             f"onnxruntime {report['onnxruntime']}; TVM {report['tvm']}. Host latency is single-threaded, "
             f"{report['runs']} runs after {report['warmup']} warm-up runs; ours is timed inside the executable, "
             "onnxruntime and torch in Python around one call.", "",
             "| model | compile host (s) | compile arm64 (s) | binary host (MB) | binary arm64 (MB) | kernels | "
             "ours median (ms) | ours min | onnxruntime median (ms) | torch eager median (ms) | ours / ort | "
             "max abs err |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["models"]:
        h, a = r["host"], r["linux-aarch64"]
        lines.append(f"| {r['model']} | {h['compile_seconds']:.1f} | {a['compile_seconds']:.1f} | "
                     f"{h['binary_bytes'] / 1e6:.2f} | {a['binary_bytes'] / 1e6:.2f} | {h['kernels']} | "
                     f"{r['ours']['median_ms']:.2f} | {r['ours']['min_ms']:.2f} | {r['onnxruntime']['median_ms']:.2f} | "
                     f"{r['torch_eager']['median_ms']:.2f} | {r['ours']['median_ms'] / r['onnxruntime']['median_ms']:.1f}x | "
                     f"{r['ours']['max_abs_error']:.1e} |")
    lines += ["", "Compile time excludes the ONNX export (torch.onnx, dynamo), listed per model in the JSON. "
              "ARM64 binaries are static (zig, aarch64-linux-musl); their latency needs a phone (`autocompress bench "
              "DIR --device adb:SERIAL`), qemu time is not latency.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet56", "resnet18", "vgg16"],
                        choices=list(MODELS))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "compile_baseline"), help="output path without suffix")
    args = parser.parse_args()
    import onnxruntime
    import tvm

    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        rows = [bench_model(name, args, Path(tmp)) for name in args.models]
    report = {"command": "PYTHONPATH=. python " + " ".join(map(shlex.quote, sys.argv)),
              "machine": f"{platform.machine()} {platform.processor() or ''} ({platform.node()})".strip(),
              "python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
              "tvm": tvm.__version__, "runs": args.runs, "warmup": args.warmup, "seed": args.seed, "models": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
