"""Quick-evaluation scores with and without fine-tuning steps, for uniform rates and the candidates of a finished
search (its ``search.jsonl``): does the score rank candidates the way training later does?

One-shot scores (0 steps) at high rates sit near chance; each further column gives every candidate that many SGD
steps on the same fixed training batches (``QuickEvalConfig.finetune_steps``) before it is scored on 1,000
validation images. Candidates: uniform rates, the search's pick and ``--samples`` of its evaluated steps.

    PYTHONPATH=. python benchmarks/bench_quick_eval.py --weights ~/.cache/acruns/resnet20-jpeg-ft-zen4/model.pt \
        --search-log ~/.cache/acruns/accuracy/resnet20-rate8-searched-admm60-retrain60/round-1/search.jsonl \
        --target rate:8 --steps 0 25 100

Writes benchmarks/results/search/quick_eval_finetune.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_io import RESULTS, command, write_report  # noqa: E402
from compress.data import load_data  # noqa: E402
from compress.restore import restore_model  # noqa: E402
from compress.search import (QuickEvalConfig, QuickEvaluator, SearchConfig, Target, prepare,  # noqa: E402
                             uniform_action)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="the trained baseline the search started from")
    p.add_argument("--search-log", required=True, help="a finished search's search.jsonl (its candidates)")
    p.add_argument("--data", default=str(SHARED / "cifar10-jpeg.tar.gz"))
    p.add_argument("--target", default="rate:8", help="the search's target, rate:F or macs:F")
    p.add_argument("--steps", type=int, nargs="+", default=[0, 25, 100], help="fine-tuning steps per column")
    p.add_argument("--samples", type=int, default=3, help="evaluated search steps scored besides the pick")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def candidates(space, goal, log: list[dict], samples: int) -> dict:
    """Uniform rates, the search's pick and ``samples`` seeded picks of its evaluated steps, by name."""
    steps = [r for r in log if r["kind"] == "step"]
    chosen = np.random.default_rng(0).choice(len(steps), min(samples, len(steps)), replace=False)
    return {"uniform": uniform_action(space, goal), "search pick": space.action(np.array(log[-1]["best"]["values"])),
            **{f"search step {steps[i]['step']}": space.action(np.array(steps[i]["values"])) for i in sorted(chosen)}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    splits = load_data(args.data, seed=0)
    model, arch = restore_model(args.weights, None, splits.num_classes, splits.input_shape[0])
    kind, factor = args.target.split(":")
    log = [json.loads(line) for line in Path(args.search_log).expanduser().read_text().splitlines()]
    setup = prepare(model, splits, Target(kind, float(factor)), SearchConfig(progress=False), "filter+column")
    actions, rows = candidates(setup.space, setup.goal, log, args.samples), []
    for steps in args.steps:
        evaluator = QuickEvaluator(model, setup.structure, splits, QuickEvalConfig(finetune_steps=steps))
        for name, action in actions.items():
            t0 = time.time()
            e = evaluator(action)
            rows.append({"steps": steps, "candidate": name, "accuracy": e.accuracy, "loss": e.loss,
                         "seconds": time.time() - t0})
            print(f"{steps:4d} steps  {name:18s} accuracy {e.accuracy:.3f}  loss {e.loss:.3f}", flush=True)
    report = {"command": command(), "model": arch, "target": args.target, "threads": args.threads, "rows": rows}
    print(write_report(RESULTS / "search" / "quick_eval_finetune", report, markdown(report, list(actions))))
    return 0


def markdown(report: dict, names: list[str]) -> str:
    cell = {(r["steps"], r["candidate"]): r for r in report["rows"]}
    steps = sorted({r["steps"] for r in report["rows"]})
    lines = [f"# Quick evaluation with fine-tuning steps: {report['model']}, {report['target']}", "",
             f"`{report['command']}`", "",
             "Validation accuracy / loss on 1,000 images after each number of SGD steps (128 images each, the same "
             f"fixed batches for every candidate); seconds per candidate at {report['threads']} thread(s).", "",
             "| candidate | " + " | ".join(f"{s} steps" for s in steps) + " |",
             "| --- |" + " --- |" * len(steps)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(
            f"{cell[s, name]['accuracy']:.3f} / {cell[s, name]['loss']:.3f} ({cell[s, name]['seconds']:.1f} s)"
            for s in steps) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
