"""Host, 1 thread: our executable with and without the x86 weight prefetch (``codegen.kernels.tile.PREFETCH_BYTES``
ahead of each tile's tap loop, the fixed rule since this benchmark) beside onnxruntime, on the same ONNX file,
dense and pruned. Both builds must write the same output bytes, and each is checked against onnxruntime before it
is timed. Goal (issue 19): dense models at least as fast as onnxruntime. Run it on a quiet machine.

"pruned" removes 50% of the filters and 40% of the remaining columns of every conv (``latency.variants``).

    PYTHONPATH=. python benchmarks/bench_prefetch.py --runs 50 --warmup 10 --rounds 5
    PYTHONPATH=. python benchmarks/bench_prefetch.py --models resnet20 --variants dense --runs 2 --warmup 1 \\
        --rounds 1 --out /tmp/prefetch   # smoke test

Writes benchmarks/results/kernels/prefetch.{json,md}.
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
from bench_models import VARIANTS, onnxruntime_times  # noqa: E402
from results_io import RESULTS, command, write_report  # noqa: E402
from codegen import compile_model  # noqa: E402
from codegen.frontend import export_torch  # noqa: E402
from codegen.kernels import FIXED_RULE, TileConfig  # noqa: E402
from latency.variants import variant  # noqa: E402
from runtime import get_device  # noqa: E402
from runtime.reference import make_input  # noqa: E402

SETTINGS = {"no prefetch": TileConfig(prefetch_bytes=0), "prefetch": FIXED_RULE}
ORT = "onnxruntime"


def build(name: str, kind: str, work: Path) -> dict:
    """Both settings' builds of one model variant (by setting name), each checked against onnxruntime."""
    model, shape = variant(name, *VARIANTS[kind])
    onnx_model = export_torch(model, shape)
    return {label: compile_model(onnx_model, "host", work / f"{name}-{kind}-{k}", name=name, tiles=tiles)
            for k, (label, tiles) in enumerate(SETTINGS.items())}


def same_output(builds: dict) -> bool:
    """Whether every build writes the same output bytes on the same input."""
    host = get_device("host")
    x = make_input(next(iter(builds.values())).input_shape, 0).tobytes()
    return len({host.execute(c.binary, x, ["--runs", "1", "--warmup", "0"], None).output
                for c in builds.values()}) == 1


def one_round(builds: dict, runs: int, warmup: int) -> dict:
    """Median ms of each build and of onnxruntime, back to back."""
    host = get_device("host")
    times = {label: host.bench(c, runs=runs, warmup=warmup, threads=1).median_ms for label, c in builds.items()}
    reference = builds["prefetch"]
    x = make_input(reference.input_shape, 0)
    return {**times, ORT: statistics.median(onnxruntime_times(reference.onnx_path, x, runs, warmup))}


def row(name: str, kind: str, builds: dict, rounds: list[dict]) -> dict:
    """Fastest median per build over the rounds; each ratio is the median of the rounds' own ratios."""
    def ratio(a: str, b: str) -> tuple[float, list[float]]:
        values = [r[a] / r[b] for r in rounds]
        return statistics.median(values), [round(v, 3) for v in values]

    result = {"model": name, "variant": kind, "ms": {k: min(r[k] for r in rounds) for k in rounds[0]},
              "same_output": same_output(builds), "speedup": ratio("no prefetch", "prefetch"),
              "onnxruntime_over_ours": ratio(ORT, "prefetch"),
              "onnxruntime_over_ours_no_prefetch": ratio(ORT, "no prefetch")}
    print(json.dumps(result), flush=True)
    return result


def markdown(report: dict) -> str:
    def cell(value: tuple[float, list[float]]) -> str:
        return f"{value[0]:.2f} ({', '.join(f'{x:.2f}' for x in value[1])})"

    lines = ["# Host, 1 thread: the weight prefetch on and off, beside onnxruntime", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {report['machine']}. Fastest median ms over {report['rounds']} interleaved rounds; ratios: "
             "the median over rounds of each round's ratio (each round's in brackets). Goal (issue 19): dense "
             "models at 1 thread at least as fast as onnxruntime (onnxruntime / ours >= 1).", "",
             "| model | variant | no prefetch | prefetch | same output | speed-up (rounds) | onnxruntime | "
             "onnxruntime / ours, no prefetch | onnxruntime / ours, prefetch (rounds) |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        ms = r["ms"]
        lines.append(f"| {r['model']} | {r['variant']} | {ms['no prefetch']:.3f} | {ms['prefetch']:.3f} | "
                     f"{'yes' if r['same_output'] else 'NO'} | {cell(r['speedup'])} | {ms[ORT]:.3f} | "
                     f"{r['onnxruntime_over_ours_no_prefetch'][0]:.2f} | {cell(r['onnxruntime_over_ours'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet56", "resnet18", "vgg16"])
    parser.add_argument("--variants", nargs="+", default=["dense", "pruned"], choices=list(VARIANTS))
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds over all builds (drift shows up)")
    parser.add_argument("--out", type=Path, default=RESULTS / "kernels" / "prefetch", help="OUT.json and OUT.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-prefetch-") as tmp:
        builds = {(m, v): build(m, v, Path(tmp)) for m in args.models for v in args.variants}
        rounds = {key: [] for key in builds}
        for _ in range(args.rounds):
            for key, pair in builds.items():
                rounds[key].append(one_round(pair, args.runs, args.warmup))
        rows = [row(name, kind, builds[(name, kind)], rounds[(name, kind)]) for name, kind in builds]
    report = {"command": command(), "rounds": args.rounds, "machine": f"{platform.processor() or platform.machine()}, "
                                               f"{len(os.sched_getaffinity(0))} CPUs", "rows": rows}
    print(write_report(args.out, report, markdown(report)))


if __name__ == "__main__":
    main()
