"""Latency tables: what one costs to build, and how well it predicts pruned models that are not on its grid.

For each model on the host (one thread): build the table (4 x 4 grid of filter x column keeps, one
compile and one profiled measurement per grid point), then prune the calibrated model with seeded random
per-conv filter and column rates in [0, 0.75), compile and measure each variant, and compare the measured
whole-model latency with ``table.predict``. The same is done under qemu for ResNet-20, in emulated AArch64
instructions. As a reference, the "MAC-proportional" prediction scales the dense model's measured cost
by the variant's useful MACs (kept rows x kept taps x pixels).

    PYTHONPATH=. python benchmarks/bench_latency_table.py

Writes benchmarks/results/latency/latency_table.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_io import RESULTS, command, write_report  # noqa: E402
from latency import LatencyTable, build_table, validate_table  # noqa: E402
from latency.variants import calibrated_model, compacted, masked, random_rates  # noqa: E402



def useful_macs(table: LatencyTable, model, shape) -> int:
    """Kept rows x kept taps x output pixels, summed over the conv/linear layers."""
    layers = table.predict_layers(model, shape)[:-1]
    return sum(row["rows"] * row["taps"] * meta["pixels"] for row, meta in zip(layers, table.layers))


def _timed_predictions(table: LatencyTable, models, shape) -> tuple[list[float], float]:
    start = time.perf_counter()
    predicted = [table.predict(m, shape) for m in models]
    return predicted, (time.perf_counter() - start) / len(models) * 1e3


def check(table: LatencyTable, count: int, seed: int, runs: int | None) -> dict:
    """Predicted vs measured cost of ``count`` random off-grid variants, and the MAC-proportional reference."""
    model, shape = calibrated_model(table.arch)
    rng = np.random.default_rng(seed)
    rates = [random_rates(model, shape, rng) for _ in range(count)]
    masked_models = [masked(model, shape, r) for r in rates]
    small = [compacted(model, shape, r) for r in rates]
    from_masked, masked_ms = _timed_predictions(table, masked_models, shape)
    from_compacted, compacted_ms = _timed_predictions(table, small, shape)  # one trace per new shape
    record = validate_table(table, small, runs=runs)
    dense = next(v for v in table.variants if v["filter_keep"] == v["column_keep"] == 1.0)
    dense_macs = useful_macs(table, model, shape)
    by_macs = [dense["whole"] * useful_macs(table, v, shape) / dense_macs for v in small]
    macs_errors = [abs(p - m) / m for p, m in zip(by_macs, record["measured"])]
    return {**record, "predict_ms_masked": round(masked_ms, 2), "predict_ms_compacted": round(compacted_ms, 2),
            "masked_vs_compacted_max_rel_difference": max(abs(a - b) / b for a, b in zip(from_masked, from_compacted)),
            "mac_proportional": by_macs, "mac_proportional_mean_rel_error": float(np.mean(macs_errors)),
            "mac_proportional_max_rel_error": float(np.max(macs_errors))}


def run(arch: str, device: str, count: int, seed: int, runs: int | None) -> dict:
    print(f"== {arch} on {device}", file=sys.stderr, flush=True)
    table = build_table(arch, device, runs=runs)
    result = check(table, count, seed, runs)
    return {"arch": arch, "device": device, "unit": table.unit, "fingerprint": table.fingerprint,
            "steps": list(table.steps), "builds": len(table.variants), "build_seconds": table.build_seconds,
            "spill_weights": table.spill_weights,
            "grid_leave_one_out": table.accuracy["grid_leave_one_out"], "off_grid": result,
            "table": table.to_dict()}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(report: dict) -> str:
    cpu = report["runs"][0]["fingerprint"].get("cpu", "")
    lines = ["# Latency tables: build cost and prediction error off the grid", "",
             f"Command: `{report['command']}`", "",
             f"Host: {cpu}, single thread; 2 vCPUs shared with other jobs. Grid: filter keep x column keep in "
             f"{report['runs'][0]['steps']}. Off-grid variants: random per-conv filter and column rates in "
             f"[0, 0.75), seed {report['seed']}. Host costs are the smallest of 3 processes' median ms "
             f"({report['timed_runs']} timed runs each); qemu costs are executed AArch64 instructions per "
             "inference.", "",
             "| model | device | unit | builds | build time (s) | spill above (weights) | "
             "grid leave-one-out mean / max | off-grid variants | table: mean / max error | "
             "MAC-proportional: mean / max error | predict, masked / compacted (ms each) |",
             "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | --- | --- | ---: |"]
    for r in report["runs"]:
        loo, off = r["grid_leave_one_out"], r["off_grid"]
        spill = "never" if r["spill_weights"] is None else f"{r['spill_weights'] / 1e6:.2f}M"
        lines.append(f"| {r['arch']} | {r['device']} | {r['unit']} | {r['builds']} | {r['build_seconds']:.0f} | "
                     f"{spill} | {_pct(loo['mean_rel_error'])} / {_pct(loo['max_rel_error'])} | {off['points']} | "
                     f"{_pct(off['mean_rel_error'])} / {_pct(off['max_rel_error'])} | "
                     f"{_pct(off['mac_proportional_mean_rel_error'])} / {_pct(off['mac_proportional_max_rel_error'])}"
                     f" | {off['predict_ms_masked']} / {off['predict_ms_compacted']} |")
    for r in report["runs"]:
        off = r["off_grid"]
        lines += ["", f"## {r['arch']} on {r['device']} ({r['unit']})", "",
                  "| variant | measured | table prediction | error | MAC-proportional | error |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for i, (m, p, q) in enumerate(zip(off["measured"], off["predicted"], off["mac_proportional"])):
            lines.append(f"| {i} | {m:.6g} | {p:.6g} | {_pct((p - m) / m)} | {q:.6g} | {_pct((q - m) / m)} |")
    lines += ["", "Table prediction: per-layer non-negative least-squares fits over the grid (`latency/predictor.py`), "
              "plus the other kernels fitted on the activation volume, plus the driver's overhead; \"spill above\": "
              "the kept-weight count above which the fits add the cost of streaming weights from memory. "
              "Leave-one-out: each grid point predicted from fits over the other 15 (the corners are "
              "extrapolations). Masked models (zeros in place, same shapes) reuse the table's traced structure; "
              "a compacted model of a new shape is traced once. Every prediction is of the compacted model: the "
              "masked and compacted forms of each variant were predicted the same (largest relative difference "
              "in the JSON).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet20", "vgg16"])
    parser.add_argument("--variants", type=int, default=12, help="off-grid variants per model on the host")
    parser.add_argument("--qemu-models", nargs="*", default=["resnet20"])
    parser.add_argument("--qemu-variants", type=int, default=4)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per host measurement")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "latency" / "latency_table"), help="output path without suffix")
    args = parser.parse_args()
    runs = [run(arch, "host", args.variants, args.seed, args.runs) for arch in args.models]
    runs += [run(arch, "qemu", args.qemu_variants, args.seed, None) for arch in args.qemu_models]
    report = {"command": command(), "seed": args.seed,
              "timed_runs": args.runs, "runs": runs}
    print(f"wrote {write_report(args.out, report, markdown(report))} and its .json")


if __name__ == "__main__":
    main()
