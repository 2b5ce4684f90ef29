"""Seeds side by side: every `bench_search.py --part rounds` result with the same settings, one row per seed.

Per target and budget: each method's final test accuracy per seed, the mean and sample standard deviation, and the
paired differences annealing - random and annealing - uniform (same seed = same data order, same training): mean,
wins / losses, and a paired t-test (two-sided p). Writes OUT.json and OUT.md. Example:

    PYTHONPATH=. python benchmarks/summarize_search_rounds.py benchmarks/results/search-rounds*.json \
        --out benchmarks/results/search-rounds-summary
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import command, write_report  # noqa: E402

BUDGET = ("rounds", "candidates", "metric", "val_images", "recal_batches", "admm_epochs", "retrain_epochs",
          "train_limit", "lr", "batch_size", "weights_sha256")
METHODS = ("annealing", "uniform", "random")


def runs(paths: list[Path]) -> list[dict]:
    """One record per (file, target): the budget that must match across seeds, the seed, each method's results."""
    out = []
    for path in paths:
        report = json.loads(path.read_text())
        if "settings" not in report:  # not a bench_search.py result (e.g. an earlier summary caught by a glob)
            continue
        settings = {**report["settings"], "weights_sha256": report["weights_sha256"][:12]}
        for entry in report["targets"]:
            if "rounds" not in entry:
                continue
            out.append({"file": path.name, "target": f"{entry['kind']} {entry['factor']:g}x", "seed": settings["seed"],
                        "budget": tuple(settings[k] for k in BUDGET), "methods": entry["rounds"]})
    return out


def paired(a: list[float], b: list[float]) -> dict:
    """Paired differences a - b: mean, wins / losses, two-sided paired t-test p (None with fewer than 2 pairs)."""
    diffs = [x - y for x, y in zip(a, b)]
    p = float(stats.ttest_rel(a, b).pvalue) if len(diffs) > 1 and len(set(diffs)) > 1 else None
    return {"mean": statistics.fmean(diffs), "wins": sum(d > 0 for d in diffs), "losses": sum(d < 0 for d in diffs),
            "p": p, "diffs": diffs}


def summarize(records: list[dict]) -> list[dict]:
    """Group by target and budget; the same seed twice (a rerun) keeps the last file."""
    groups: dict[tuple, dict[int, dict]] = {}
    for r in records:
        groups.setdefault((r["target"], r["budget"]), {})[r["seed"]] = r
    out = []
    for (target, budget), by_seed in groups.items():
        seeds = sorted(by_seed)

        def column(read) -> dict[str, list]:
            return {m: [read(by_seed[s]["methods"][m]) for s in seeds] for m in METHODS}

        acc = column(lambda r: r["test_accuracy"])
        quick = column(lambda r: r["rounds"][-1]["quick_score"])
        out.append({"target": target, "budget": dict(zip(BUDGET, budget)), "seeds": seeds,
                    "files": [by_seed[s]["file"] for s in seeds], "test_accuracy": acc, "quick_score": quick,
                    "mean": {m: statistics.fmean(v) for m, v in acc.items()},
                    "compression": {m: statistics.fmean(v) for m, v in column(lambda r: r["compression_rate"]).items()},
                    "mac_reduction": {m: statistics.fmean(v) for m, v in column(lambda r: r["mac_reduction"]).items()},
                    "std": {m: statistics.stdev(v) if len(v) > 1 else None for m, v in acc.items()},
                    "annealing_minus_random": paired(acc["annealing"], acc["random"]),
                    "annealing_minus_uniform": paired(acc["annealing"], acc["uniform"])})
    return sorted(out, key=lambda g: (g["target"], -len(g["seeds"])))


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "-" if x is None else format(x, spec)


def group_markdown(g: dict) -> list[str]:
    b = g["budget"]
    rounds, seeds = b["rounds"], len(g["seeds"])
    lines = [f"## {g['target']} in {rounds} round{'s' * (rounds > 1)} ({seeds} seed{'s' * (seeds > 1)})", "",
             f"{b['candidates']} candidates per search, score {b['metric']} on {b['val_images']} validation images; "
             f"{b['admm_epochs']} ADMM + {b['retrain_epochs']} retrain epochs per round on {b['train_limit']} "
             f"training images; weights sha256 {b['weights_sha256']}. Files: {', '.join(g['files'])}.", "",
             "| seed | " + " | ".join(f"{m} test acc (last quick score)" for m in METHODS) + " |",
             "| --- | --- | --- | --- |"]
    for i, seed in enumerate(g["seeds"]):
        cells = [f"{g['test_accuracy'][m][i]:.4f} ({g['quick_score'][m][i]:.3f})" for m in METHODS]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    lines.append("| mean (std) | " + " | ".join(f"**{g['mean'][m]:.4f}** ({_fmt(g['std'][m])})" for m in METHODS)
                 + " |")
    lines.append("| mean weights / MACs reduction | " + " | ".join(
        f"{g['compression'][m]:.2f}x / {g['mac_reduction'][m]:.2f}x" for m in METHODS) + " |")
    lines += ["", "| paired difference | mean | wins / losses | paired t-test p |", "| --- | --- | --- | --- |"]
    for key in ("annealing_minus_random", "annealing_minus_uniform"):
        d = g[key]
        lines.append(f"| {key.replace('_', ' ')} | {d['mean']:+.4f} | {d['wins']} / {d['losses']} | "
                     f"{_fmt(d['p'], '.3f')} |")
    return lines + [""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="bench_search.py --part rounds JSON results")
    p.add_argument("--out", default="benchmarks/results/search-rounds-summary", help="writes OUT.json and OUT.md")
    args = p.parse_args(argv)
    groups = summarize(runs(args.files))
    lines = ["# Search methods across seeds (multi-round pipeline)", "", f"command: `{command()}`", "",
             "Final test accuracy (10,000 JPEG CIFAR-10 test images) of the pipeline with each method choosing every "
             "round's rates; same seed = same data order and training for the three methods.", ""]
    for g in groups:
        lines += group_markdown(g)
    write_report(args.out, {"command": command(), "groups": groups}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
