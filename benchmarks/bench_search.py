"""Benchmark of the automatic rate search: annealing vs uniform rates vs random search, same evaluation budget.

(a) search only: quick-eval validation accuracy of the best candidate of each method, the same candidate scored
    on the validation images the search did not use, and the search cost (candidates evaluated, seconds per
    candidate, total seconds). Runs on CPU in minutes per target.
(b) with --part ab: each method's rates then get the same ADMM + masked-retrain budget, and the compacted
    model's *test* accuracy is reported (one round straight to the target, so the methods differ only in rates).
(rounds) with --part rounds: the multi-round pipeline (e.g. 2x then 4x) once per method, the method choosing the
    rates of every round, with the same epochs per round; test accuracy of each round's result.
(rank) with --part rank: does the quick-eval score predict accuracy after training? Random search's candidates,
    --rank-samples of them spread over its score range, each get the same ADMM + retrain budget; Spearman and
    Kendall rank correlations between quick-eval score and validation / test accuracy after training.

Writes OUT.json and OUT.md (default benchmarks/results/search/search) with the exact command, device, weights used
and every setting. Examples:

    python benchmarks/bench_search.py --targets rate:4 --candidates 50                    # (a), CPU
    python benchmarks/bench_search.py --device cuda --part ab --targets rate:4,rate:8,macs:2,macs:4 \
        --candidates 150 --admm-epochs 10 --retrain-epochs 10 --out benchmarks/results/search/search-gpu
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from results_io import RESULTS, command, write_report  # noqa: E402

from compress.checkpoint import load_weights  # noqa: E402
from compress.data import load_data  # noqa: E402
from compress.models import build_model  # noqa: E402
from compress.pruning import PruneBudget, trace_structure  # noqa: E402
from compress.search import (CompressConfig, QuickEvalConfig, SearchConfig, Target, anneal,  # noqa: E402
                             autocompress, prepare)
from compress.search.quick_eval import QuickEvaluator  # noqa: E402
from compress.pruning.sequence import prune_sequence  # noqa: E402
from compress.train import TrainConfig  # noqa: E402

WEIGHTS = [ROOT / "runs/resnet20-jpeg-finetune/model.pt", ROOT.parent / "main/runs/resnet20-jpeg-finetune/model.pt",
           ROOT.parent / "shared/data/resnet20-cifar10.pt"]  # first that exists: fine-tuned baseline, else pretrained
METHODS = ("annealing", "uniform", "random")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--weights", default=None, help="checkpoint; default: the first of " + ", ".join(map(str, WEIGHTS)))
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/cifar10-jpeg.tar.gz"))
    p.add_argument("--targets", default="rate:4,rate:8,macs:2,macs:4", help="kind:factor,... (kind: rate or macs)")
    p.add_argument("--scheme", default="filter+column")
    p.add_argument("--candidates", type=int, default=60, help="annealing steps; random search gets as many evaluations")
    p.add_argument("--val-images", type=int, default=1000, help="validation images per quick evaluation")
    p.add_argument("--recal-batches", type=int, default=4, help="BatchNorm recalibration batches per candidate")
    p.add_argument("--metric", choices=("accuracy", "loss"), default="accuracy",
                   help="quick-evaluation score; loss still ranks candidates whose accuracy is near chance")
    p.add_argument("--part", choices=("a", "ab", "rounds", "rank"), default="a",
                   help="a: search only; ab: also ADMM + retrain + test; rounds: the multi-round pipeline per method; "
                        "rank: quick-eval score vs accuracy after training, over random candidates")
    p.add_argument("--methods", default=",".join(METHODS),
                   help="methods to run (parts a and rounds), comma-separated (the others' results of the same seed "
                        "and budget can come from an earlier file: summarize_search_rounds.py pairs them)")
    p.add_argument("--screen", type=int, default=SearchConfig.screen,
                   help="neighbours proposed per annealing step, the ridge-ranked best evaluated (1: plain annealing)")
    p.add_argument("--rank-samples", type=int, default=8, help="candidates trained by --part rank")
    p.add_argument("--rounds", type=int, default=2, help="rounds of --part rounds (targets grow geometrically)")
    p.add_argument("--admm-epochs", type=int, default=2)
    p.add_argument("--retrain-epochs", type=int, default=2)
    p.add_argument("--train-limit", type=int, default=None, help="train on a fixed subset of this many images")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--eval-limit", type=int, default=None, help="test images for (b) (None: all 10,000)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "search" / "search"), help="writes OUT.json and OUT.md")
    return p.parse_args(argv)


def parse_targets(text: str) -> list[tuple[str, float]]:
    targets = []
    for item in text.split(","):
        kind, _, factor = item.partition(":")
        if kind not in ("rate", "macs") or not factor:
            raise SystemExit(f"bad target {item!r}; expected kind:factor with kind one of: rate, macs (e.g. rate:4)")
        targets.append((kind, float(factor)))
    return targets


def parse_methods(text: str) -> list[str]:
    methods = text.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise SystemExit(f"unknown method(s) {', '.join(unknown)}; expected some of: {', '.join(METHODS)}")
    return methods


def _fresh(evaluator) -> None:
    evaluator.cache.clear()  # every method pays for its own evaluations
    evaluator.evaluations = 0


def search_config(args, method: str = "annealing") -> SearchConfig:
    return SearchConfig(candidates=args.candidates, seed=args.seed, progress=True, method=method, screen=args.screen)


def quick_config(args) -> QuickEvalConfig:
    return QuickEvalConfig(val_images=args.val_images, recalibrate_batches=args.recal_batches, metric=args.metric)


def held_out_evaluator(model, structure, splits, args) -> QuickEvaluator | None:
    """Scores on the validation images the search never saw (None when it saw them all): the best candidate's
    score there is free of the winner's curse of picking the maximum of many noisy scores."""
    if args.val_images is None or args.val_images >= len(splits.dataset("val")):
        return None
    held = splits.held_out("val", args.val_images)
    return QuickEvaluator(model, structure, held, replace(quick_config(args), val_images=None, metric="accuracy"),
                          args.device)


def run_searches(model, splits, kind: str, factor: float, args) -> tuple[dict, dict]:
    """Part (a) for one target: the three methods' best actions, scores and costs; random search gets as many
    evaluations as annealing made."""
    setup = prepare(model, splits, Target(kind, factor), search_config(args), args.scheme, quick_config(args),
                    args.device)
    held = held_out_evaluator(model, setup.structure, splits, args)
    results, actions, budget = {}, {}, args.candidates
    for method in parse_methods(args.methods):
        _fresh(setup.evaluator)
        found = anneal(setup.space, setup.goal, setup.evaluator, replace(search_config(args, method), candidates=budget))
        budget = found.evaluations if method == "annealing" else budget
        results[method] = {"evaluations": found.evaluations, "candidates": found.steps, "seconds": found.seconds,
                           "val_accuracy": found.best_eval.accuracy, "val_loss": found.best_eval.loss,
                           "heldout_accuracy": held(found.best).accuracy if held else None,
                           "factor": found.achieved, "seconds_per_candidate": found.seconds / max(found.steps, 1),
                           "rates": found.best.to_data()["rates"]}
        actions[method] = found.best
    return results, actions


def budget(args) -> PruneBudget:
    """The same ADMM + retraining budget for every method."""
    train = TrainConfig(lr=args.lr, batch_size=args.batch_size, train_limit=args.train_limit, device=args.device,
                        threads=args.threads, seed=args.seed, progress=False)
    return PruneBudget(admm_epochs=args.admm_epochs, retrain_epochs=args.retrain_epochs, train=train,
                       eval_limit=args.eval_limit)


def run_rounds(model, splits, kind: str, factor: float, args) -> dict:
    """Part (rounds): the whole multi-round pipeline once per method (search in every round, the same epochs)."""
    out = {}
    for method in parse_methods(args.methods):
        config = CompressConfig(**{f"target_{kind}": factor}, rounds=args.rounds, scheme=args.scheme,
                                search=search_config(args, method), quick_eval=quick_config(args),
                                budget=budget(args))
        with tempfile.TemporaryDirectory() as tmp:
            report = autocompress(model, splits, config, out=tmp)
        rounds = [{"target": r.target[1], "quick_score": r.search["quick_score"],
                   "evaluations": r.search["evaluations"], "search_seconds": r.seconds["search"],
                   "test_accuracy": r.accuracy["compacted"], "accuracy": r.accuracy, "rates": r.rates}
                  for r in report.rounds]
        accuracy = report.accuracy["compacted"]
        out[method] = {**report.stats.to_json(), "test_accuracy": accuracy, "val_accuracy": report.accuracy["val"],
                       "rounds": rounds, "seconds": report.seconds}
        print(f"{kind} {factor:g}x {method}: test accuracy {accuracy:.4f}", flush=True)
    return out


def run_training(model, splits, actions: dict, args) -> dict:
    """Part (b): the same ADMM + retrain budget for each method's rates; test accuracy of the compacted model."""
    out = {}
    for method, action in actions.items():
        work = copy.deepcopy(model).to(args.device)
        structure = trace_structure(work, splits.input_shape)
        t0 = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            pruned = prune_sequence(work, splits, structure, args.scheme, action.layer_rates(), budget(args),
                                    Path(tmp), teacher=copy.deepcopy(model))
        out[method] = {"test_accuracy": pruned.accuracy["compacted"], "val_accuracy": pruned.accuracy["val"],
                       "accuracy": pruned.accuracy, "seconds": time.time() - t0}
    return out


def spread(history: list[dict], count: int) -> list[dict]:
    """``count`` distinct evaluated candidates evenly spaced over the score ranking (best and worst included)."""
    unique = sorted({tuple(r["key"]): r for r in history}.values(), key=lambda r: r["score"])
    picks = np.unique(np.linspace(0, len(unique) - 1, min(count, len(unique))).round().astype(int))
    return [unique[i] for i in picks]


def run_rank(model, splits, kind: str, factor: float, args) -> dict:
    """Part (rank): quick-eval score vs accuracy after the same ADMM + retrain budget, over random candidates."""
    setup = prepare(model, splits, Target(kind, factor), search_config(args), args.scheme, quick_config(args),
                    args.device)
    seen = {}

    def evaluate(action):
        seen[action.key] = action
        return setup.evaluator(action)

    found = anneal(setup.space, setup.goal, evaluate, search_config(args, "random"))
    picked = spread(found.history, args.rank_samples)
    trained = run_training(model, splits, {f"#{i}": seen[tuple(r["key"])] for i, r in enumerate(picked)}, args)
    rows = [{"score": r["score"], "quick_accuracy": r["accuracy"], "factor": r["factor"], **trained[f"#{i}"]}
            for i, r in enumerate(picked)]
    scores = [r["score"] for r in rows]
    correlation = {split: {"spearman": float(stats.spearmanr(scores, [r["accuracy"][split] for r in rows])[0]),
                           "kendall": float(stats.kendalltau(scores, [r["accuracy"][split] for r in rows])[0])}
                   for split in ("val", "test")}
    print(f"{kind} {factor:g}x: quick score vs test accuracy, Spearman {correlation['test']['spearman']:.2f}",
          flush=True)
    return {"evaluations": found.evaluations, "candidates": rows, "correlation": correlation}


def rank_markdown(entry: dict) -> list[str]:
    r = entry["rank"]
    lines = [f"## {entry['kind']} {entry['factor']:g}x: quick-eval score vs accuracy after training", "",
             f"{len(r['candidates'])} of random search's {r['evaluations']} candidates, spread over its score range, "
             "each with the same ADMM + retrain budget.", "",
             "| quick-eval score | achieved | val acc after training | test acc after training |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {c['score']:.4f} | {c['factor']:.3f}x | {c['accuracy']['val']:.4f} | {c['test_accuracy']:.4f} |"
              for c in r["candidates"]]
    lines += ["", "| rank correlation with the quick-eval score | Spearman | Kendall |", "| --- | --- | --- |"]
    lines += [f"| {split} accuracy after training | {c['spearman']:.2f} | {c['kendall']:.2f} |"
              for split, c in r["correlation"].items()]
    return lines + [""]


def rounds_markdown(entry: dict) -> list[str]:
    """One target of --part rounds: per method, each round's quick-eval score and test accuracy."""
    rounds = len(next(iter(entry["rounds"].values()))["rounds"])
    lines = [f"## {entry['kind']} {entry['factor']:g}x in {rounds} rounds", "",
             "| method | per round: target, quick-eval score, evaluations, test acc | final test acc | compression | "
             "MAC reduction | search s | total s |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for method, r in entry["rounds"].items():
        per_round = "; ".join(f"{x['target']:.3g}x {x['quick_score']:.4f} {x['evaluations']} {x['test_accuracy']:.4f}"
                              for x in r["rounds"])
        lines.append(f"| {method} | {per_round} | {r['test_accuracy']:.4f} | {r['compression_rate']:.2f}x | "
                     f"{r['mac_reduction']:.2f}x | {sum(x['search_seconds'] for x in r['rounds']):.0f} | "
                     f"{r['seconds']:.0f} |")
    return lines + [""]


def markdown(report: dict) -> str:
    lines = [f"# Search benchmark: {report['model']} ({report['scheme']})", "",
             f"command: `{report['command']}`", "",
             f"device: {report['device']}; weights: {report['weights']} (sha256 {report['weights_sha256'][:12]}); "
             f"data: {report['data']}", "",
             f"quick eval: {report['settings']['val_images']} validation images, {report['settings']['recal_batches']} "
             f"BatchNorm recalibration batches, score = {report['settings'].get('metric', 'accuracy')}; the same "
             "number of evaluations for annealing and random search. Held-out val acc: the best candidate of each "
             "search scored on the validation images the search did not use (no winner's curse).", ""]
    if report.get("note"):
        lines += [f"**Note:** {report['note']}", ""]
    for entry in report["targets"]:
        if "rounds" in entry:
            lines += rounds_markdown(entry)
            continue
        if "rank" in entry:
            lines += rank_markdown(entry)
            continue
        lines += [f"## {entry['kind']} {entry['factor']:g}x", "",
                  "| method | quick-eval val acc (a) | held-out val acc | quick-eval val loss (a) | "
                  "test acc after ADMM+retrain (b) | achieved | candidates | evaluated | s/candidate | search s |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for method, a in entry["search"].items():
            b = entry.get("trained", {}).get(method, {}).get("test_accuracy")
            loss = f"{a['val_loss']:.3f}" if a.get("val_loss") is not None else ""
            held = f"{a['heldout_accuracy']:.4f}" if a.get("heldout_accuracy") is not None else ""
            trained = "" if b is None else f"{b:.4f}"
            lines.append(f"| {method} | {a['val_accuracy']:.4f} | {held} | {loss} | {trained} | {a['factor']:.3f}x | "
                         f"{a['candidates']} | {a['evaluations']} | {a['seconds_per_candidate']:.2f} | "
                         f"{a['seconds']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    weights = Path(args.weights) if args.weights else next((w for w in WEIGHTS if w.is_file()), None)
    if weights is None or not weights.is_file():
        raise SystemExit(f"weights not found: {weights or WEIGHTS}")
    splits = load_data(args.data, seed=args.seed)
    model = build_model(args.model, splits.num_classes, splits.input_shape[0])
    load_weights(model, weights)
    model.eval()
    report = {"model": args.model, "scheme": args.scheme, "command": command(),
              "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(0),
              "weights": str(weights), "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
              "data": args.data, "settings": vars(args), "torch_threads": torch.get_num_threads(), "targets": []}
    if weights.name == "resnet20-cifar10.pt":
        report["note"] = ("weights are the shared pretrained ResNet-20 (trained on lossless CIFAR-10), not the "
                          "JPEG fine-tuned baseline; accuracies are on the JPEG data and lower than the baseline's.")
    for kind, factor in parse_targets(args.targets):
        if args.part in ("rounds", "rank"):
            run = run_rounds if args.part == "rounds" else run_rank
            report["targets"].append({"kind": kind, "factor": factor, args.part: run(model, splits, kind, factor, args)})
            write_report(args.out, report, markdown(report))
            continue
        results, actions = run_searches(model, splits, kind, factor, args)
        entry = {"kind": kind, "factor": factor, "search": results}
        if args.part == "ab":
            entry["trained"] = run_training(model, splits, actions, args)
        report["targets"].append(entry)
        write_report(args.out, report, markdown(report))
        summary = {m: round(r["val_accuracy"], 4) for m, r in results.items()}
        print(f"{kind} {factor:g}x: quick-eval val accuracy {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
