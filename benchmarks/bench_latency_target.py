"""Latency in the loop on ResNet-20 (JPEG CIFAR-10): a MACs-targeted run, then a latency-targeted run whose goal
is the MACs run's measured latency, with the same search, ADMM and retraining budget; which is more accurate at
that latency? Both runs report the latency table's prediction and a real build + measurement of the result.
With ``--device qemu`` the cost is emulated AArch64 instructions (never a time) and only the searches run.

    PYTHONPATH=. python benchmarks/bench_latency_target.py --device host --target-macs 2
    PYTHONPATH=. python benchmarks/bench_latency_target.py --device qemu --search-only --out \\
        benchmarks/results/latency/latency_target_qemu

Writes OUT.json and OUT.md (default benchmarks/results/latency/latency_target).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from results_io import RESULTS, command, write_report  # noqa: E402
from autocompress.latency import latency_objective  # noqa: E402
from compress.checkpoint import load_weights  # noqa: E402
from compress.data import load_data  # noqa: E402
from compress.models import build_model  # noqa: E402
from compress.pruning import PruneBudget  # noqa: E402
from compress.search import (CompressConfig, CompressReport, QuickEvalConfig, SearchConfig, Target,  # noqa: E402
                             autocompress, search)
from compress.train import TrainConfig  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=str(ROOT / "runs/resnet20-jpeg-finetune/model.pt"))
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/cifar10-jpeg.tar.gz"))
    p.add_argument("--device", default="host", help="host, qemu or adb[:SERIAL]")
    p.add_argument("--target-macs", type=float, default=2.0, help="the MACs run's target")
    p.add_argument("--search-only", action="store_true", help="compare the searches' predicted costs only")
    p.add_argument("--candidates", type=int, default=40)
    p.add_argument("--val-images", type=int, default=1000)
    p.add_argument("--admm-epochs", type=int, default=2)
    p.add_argument("--retrain-epochs", type=int, default=2)
    p.add_argument("--train-limit", type=int, default=10000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", default="0", help="comma-separated seeds (search and training); one pair of runs each")
    p.add_argument("--out", default=str(RESULTS / "latency" / "latency_target"))
    return p.parse_args(argv)


def config_for(args, seed: int, **target) -> CompressConfig:
    train = TrainConfig(lr=0.01, batch_size=128, train_limit=args.train_limit, threads=args.threads, progress=False,
                        seed=seed)
    return CompressConfig(**target, rounds=1, search=SearchConfig(candidates=args.candidates, progress=True, seed=seed),
                          quick_eval=QuickEvalConfig(val_images=args.val_images),
                          budget=PruneBudget(admm_epochs=args.admm_epochs, retrain_epochs=args.retrain_epochs,
                                             train=train))


def full_runs(model, splits, objective, args, work: Path) -> dict:
    """Per seed: a MACs-targeted run, then a latency run aiming at the MACs run's measured cost."""
    dense_cost, pairs = objective.predict(copy.deepcopy(model)), []
    for seed in (int(s) for s in args.seeds.split(",")):
        runs = {}
        report = autocompress(model, splits, config_for(args, seed, target_macs=args.target_macs),
                              work / f"macs-{seed}", latency=objective, arch="resnet20")
        runs["macs"] = summary(report)
        goal = runs["macs"]["latency"]["measured"]
        report = autocompress(model, splits, config_for(args, seed, target_latency=dense_cost / goal),
                              work / f"latency-{seed}", latency=objective, arch="resnet20")
        runs["latency"] = summary(report)
        pairs.append({"seed": seed, "goal": goal, "runs": runs})
    return {"dense_predicted": dense_cost, "pairs": pairs}


def summary(report: CompressReport) -> dict:
    last, (kind, factor) = report.rounds[-1], report.target
    return {"target": {"kind": kind, "factor": factor}, "test_accuracy": last.accuracy["compacted"],
            "val_accuracy": last.accuracy["val"], "compression_rate": last.stats.compression_rate,
            "mac_reduction": last.stats.mac_reduction, "latency": last.latency, "latency_checks": last.latency_checks,
            "rates": last.rates, "search": last.search, "seconds": report.seconds}


def search_runs(model, splits, objective, args) -> dict:
    """Searches only: the MACs-targeted best action's predicted cost vs a cost-targeted search's."""
    dense_cost = objective.predict(copy.deepcopy(model))
    quick = QuickEvalConfig(val_images=args.val_images)
    config = SearchConfig(candidates=args.candidates, progress=True)
    out = {"dense_predicted": dense_cost, "runs": {}}
    for kind, factor in (("macs", args.target_macs), ("latency", None)):
        if kind == "latency":
            factor = dense_cost / out["runs"]["macs"]["predicted"]
        result = search(model, splits, Target(kind, factor), config, quick=quick, latency=objective)
        projected = result_model(model, splits, result)
        out["runs"][kind] = {"factor": factor, "quick_accuracy": result.best_eval.accuracy,
                             "predicted": objective.predict(projected), "evaluations": result.evaluations,
                             "seconds": result.seconds}
    return out


def result_model(model, splits, result):
    from compress.pruning import layer_weights, project_masks, trace_structure

    structure = trace_structure(model, splits.input_shape)
    masks = project_masks(structure, layer_weights(model), "filter+column", result.best.layer_rates())
    return masks.apply(copy.deepcopy(model)).eval()


def _checks(checks: list[dict]) -> str:
    """The searched rates' measured cost before training, per search (a re-aimed search after a miss)."""
    return " -> ".join(f"{c['measured'] / c['goal']:.3f}" for c in checks) or "-"


def markdown(report: dict) -> str:
    unit = report["unit"]
    lines = ["# Latency-targeted vs MACs-targeted compression of ResNet-20", "", f"Command: `{report['command']}`", "",
             f"Device: {report['device']} ({unit}); weights {report['weights']} (sha256 {report['weights_sha256'][:12]}); "
             f"latency table: {report['table']['builds']} builds in {report['table']['build_seconds']:.0f} s.", ""]
    res = report["result"]
    if "pairs" in res:
        lines += [f"Dense model, predicted: {res['dense_predicted']:.4g} {unit}. Per seed, the goal of the latency "
                  "run is the MACs run's measured cost.", "",
                  f"| seed | run | target | test acc | val acc | weights | MACs | predicted ({unit}) | "
                  f"measured ({unit}) | measured / goal | checks before training (measured / goal) | "
                  "search s/candidate |",
                  "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
        for pair in res["pairs"]:
            for name, r in pair["runs"].items():
                lat = r["latency"]
                lines.append(f"| {pair['seed']} | {name} | {r['target']['kind']} {r['target']['factor']:.3g}x | "
                             f"{r['test_accuracy']:.4f} | {r['val_accuracy']:.4f} | {r['compression_rate']:.2f}x | "
                             f"{r['mac_reduction']:.2f}x | {lat['predicted']:.4g} | {lat['measured']:.4g} | "
                             f"{lat['measured'] / pair['goal']:.3f} | {_checks(r['latency_checks'])} | "
                             f"{r['search']['seconds_per_candidate']:.2f} |")
        mean = {name: sum(p["runs"][name]["test_accuracy"] for p in res["pairs"]) / len(res["pairs"])
                for name in ("macs", "latency")}
        worst = max(p["runs"]["latency"]["latency"]["measured"] / p["goal"] for p in res["pairs"])
        lines += ["", f"Mean test accuracy over {len(res['pairs'])} seed(s): MACs-targeted {mean['macs']:.4f}, "
                  f"latency-targeted {mean['latency']:.4f}; the latency runs' measured cost is at most "
                  f"{worst:.3f} x their goal."]
    else:
        lines += [f"Dense model, predicted: {res['dense_predicted']:.4g} {unit}. Searches only (one-shot quick "
                  "evaluation, no training); the cost search aims at the MACs search's predicted cost.", "",
                  f"| search | factor | quick-eval val acc | predicted ({unit}) | evaluations | seconds |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for name, r in res["runs"].items():
            lines.append(f"| {name} | {r['factor']:.3f}x | {r['quick_accuracy']:.4f} | {r['predicted']:.4g} | "
                         f"{r['evaluations']} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    splits = load_data(args.data, seed=0)
    model = build_model("resnet20", splits.num_classes, splits.input_shape[0])
    load_weights(model, args.weights)
    model.eval()
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        objective, table = latency_objective("resnet20", args.device, (1, *splits.input_shape), workdir=Path(tmp))
        result = search_runs(model, splits, objective, args) if args.search_only else \
            full_runs(model, splits, objective, args, Path(tmp))
    report = {"command": command(), "device": args.device, "unit": objective.unit,
              "weights": args.weights, "weights_sha256": hashlib.sha256(Path(args.weights).read_bytes()).hexdigest(),
              "table": {"builds": len(table.variants), "build_seconds": table.build_seconds,
                        "accuracy": table.accuracy}, "settings": vars(args), "result": result}
    write_report(args.out, report, markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
