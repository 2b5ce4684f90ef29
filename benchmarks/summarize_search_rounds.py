"""Seeds side by side: every `bench_search.py --part rounds` result with the same settings, one row per seed.

Per target and budget: each method's final test accuracy per seed, the mean and sample standard deviation, and the
paired differences annealing - random and annealing - uniform (same seed = same data order, same training): mean,
wins / losses, and a paired t-test (two-sided p). Annealing with proposal screening (``--screen`` > 1) is a column of
its own; a seed's methods may come from several files (``bench_search.py --methods``). Writes OUT.json and OUT.md.
Example:

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


def label(method: str, settings: dict) -> str:
    """A method's column: annealing with proposal screening is its own column (files before it had none)."""
    screen = settings.get("screen", 1)
    return f"annealing (screen {screen})" if method == "annealing" and screen > 1 else method


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
                        "budget": tuple(settings[k] for k in BUDGET),
                        "methods": {label(m, settings): r for m, r in entry["rounds"].items()}})
    return out


def paired(a: list[float | None], b: list[float | None]) -> dict:
    """Paired differences a - b over the seeds that have both: mean, wins / losses, two-sided paired t-test p
    (None with fewer than 2 pairs)."""
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    diffs = [x - y for x, y in pairs]
    p = float(stats.ttest_rel(*zip(*pairs)).pvalue) if len(diffs) > 1 and len(set(diffs)) > 1 else None
    return {"mean": statistics.fmean(diffs) if diffs else None, "wins": sum(d > 0 for d in diffs),
            "losses": sum(d < 0 for d in diffs), "p": p, "diffs": diffs}


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _std(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.stdev(present) if len(present) > 1 else None


def summarize(records: list[dict]) -> list[dict]:
    """Group by target and budget; one seed's methods may come from several files (a method rerun in a later
    file replaces the earlier result)."""
    groups: dict[tuple, dict[int, dict]] = {}
    for r in records:
        seed = groups.setdefault((r["target"], r["budget"]), {}).setdefault(r["seed"], {"files": [], "methods": {}})
        seed["files"].append(r["file"])
        seed["methods"].update(r["methods"])
    return sorted((_group(target, budget, by_seed) for (target, budget), by_seed in groups.items()),
                  key=lambda g: (g["target"], -len(g["seeds"])))


def _group(target: str, budget: tuple, by_seed: dict[int, dict]) -> dict:
    seeds = sorted(by_seed)
    found = {m for s in seeds for m in by_seed[s]["methods"]}
    methods = sorted(m for m in found if m.startswith("annealing")) + [m for m in METHODS[1:] if m in found]

    def column(read) -> dict[str, list]:
        return {m: [read(by_seed[s]["methods"][m]) if m in by_seed[s]["methods"] else None for s in seeds]
                for m in methods}

    acc = column(lambda r: r["test_accuracy"])
    comparisons = {f"{a} minus {b}": paired(acc[a], acc[b]) for a in methods if a.startswith("annealing")
                   for b in ("random", "uniform") if b in acc}
    return {"target": target, "budget": dict(zip(BUDGET, budget)), "seeds": seeds, "methods": methods,
            "files": list(dict.fromkeys(f for s in seeds for f in by_seed[s]["files"])), "test_accuracy": acc,
            "quick_score": column(lambda r: r["rounds"][-1]["quick_score"]),
            "mean": {m: _mean(v) for m, v in acc.items()}, "std": {m: _std(v) for m, v in acc.items()},
            "compression": {m: _mean(v) for m, v in column(lambda r: r["compression_rate"]).items()},
            "mac_reduction": {m: _mean(v) for m, v in column(lambda r: r["mac_reduction"]).items()},
            "paired": comparisons}


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "-" if x is None else format(x, spec)


def group_markdown(g: dict) -> list[str]:
    b, methods = g["budget"], g["methods"]
    rounds, seeds = b["rounds"], len(g["seeds"])
    lines = [f"## {g['target']} in {rounds} round{'s' * (rounds > 1)} ({seeds} seed{'s' * (seeds > 1)})", "",
             f"{b['candidates']} candidates per search, score {b['metric']} on {b['val_images']} validation images; "
             f"{b['admm_epochs']} ADMM + {b['retrain_epochs']} retrain epochs per round on {b['train_limit']} "
             f"training images; weights sha256 {b['weights_sha256']}. Files: {', '.join(g['files'])}.", "",
             "| seed | " + " | ".join(f"{m} test acc (last quick score)" for m in methods) + " |",
             "| --- " * (len(methods) + 1) + "|"]
    for i, seed in enumerate(g["seeds"]):
        cells = [f"{g['test_accuracy'][m][i]:.4f} ({g['quick_score'][m][i]:.3f})"
                 if g["test_accuracy"][m][i] is not None else "-" for m in methods]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    lines.append("| mean (std) | " + " | ".join(f"**{g['mean'][m]:.4f}** ({_fmt(g['std'][m])})" for m in methods)
                 + " |")
    lines.append("| mean weights / MACs reduction | " + " | ".join(
        f"{g['compression'][m]:.2f}x / {g['mac_reduction'][m]:.2f}x" for m in methods) + " |")
    lines += ["", "| paired difference | mean | wins / losses | paired t-test p |", "| --- | --- | --- | --- |"]
    for name, d in g["paired"].items():
        lines.append(f"| {name} | {_fmt(d['mean'], '+.4f')} | {d['wins']} / {d['losses']} | {_fmt(d['p'], '.3f')} |")
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
