"""Seeds side by side: every `bench_search.py --part rounds` result with the same settings, one row per seed.

Per target and budget: each method's final test accuracy per seed, the mean and sample standard deviation, and the
paired differences annealing - random and annealing - uniform (same seed = same data order, same training): mean,
wins / losses, and a paired t-test (two-sided p). Annealing with proposal screening (``--screen`` > 1) is a column of
its own; a seed's methods may come from several files (``bench_search.py --methods``). Writes OUT.json and OUT.md.
Example:

    PYTHONPATH=. python benchmarks/summarize_search_rounds.py benchmarks/results/search/search-rounds*.json \
        benchmarks/results/search/search-heldout*.json --out benchmarks/results/search/search-rounds-summary
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import RESULTS, command, write_report  # noqa: E402

BUDGET = ("rounds", "candidates", "metric", "val_images", "recal_batches", "admm_epochs", "retrain_epochs",
          "train_limit", "lr", "batch_size", "weights_sha256")
BASELINES = ("uniform", "random")


def label(method: str, settings: dict) -> str:
    """A method's column: annealing with proposal screening is its own column (files before it had none)."""
    screen = settings.get("screen", 1)
    return f"annealing (screen {screen})" if method == "annealing" and screen > 1 else method


PARTS = {"rounds": ("test acc", "last quick score"), "search": ("held-out val acc", "quick score")}


def _row(part: str, r: dict) -> dict:
    """One method's result, the same fields for both parts: the value compared, the quick score, the sizes."""
    if part == "search":
        return {"value": r.get("heldout_accuracy"), "quick": r["val_accuracy"], "compression": None,
                "mac_reduction": None}
    return {"value": r["test_accuracy"], "quick": r["rounds"][-1]["quick_score"],
            "compression": r["compression_rate"], "mac_reduction": r["mac_reduction"]}


def runs(paths: list[Path]) -> list[dict]:
    """One record per (file, target): the part, the budget that must match across seeds, the seed, each method's
    result."""
    out = []
    for path in paths:
        report = json.loads(path.read_text())
        if "settings" not in report:  # not a bench_search.py result (e.g. an earlier summary caught by a glob)
            continue
        settings = {**report["settings"], "weights_sha256": report["weights_sha256"][:12]}
        for entry in report["targets"]:
            part = next((k for k in PARTS if k in entry), None)
            if part is None or (part == "search" and settings["part"] != "a"):
                continue
            out.append({"file": path.name, "part": part, "target": f"{entry['kind']} {entry['factor']:g}x",
                        "seed": settings["seed"], "budget": tuple(settings[k] for k in BUDGET),
                        "methods": {label(m, settings): _row(part, r) for m, r in entry[part].items()}})
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
        key = (r["part"], r["target"], r["budget"])
        seed = groups.setdefault(key, {}).setdefault(r["seed"], {"files": [], "methods": {}})
        seed["files"].append(r["file"])
        seed["methods"].update(r["methods"])
    return sorted((_group(*key, by_seed) for key, by_seed in groups.items()),
                  key=lambda g: (g["part"] != "rounds", g["target"], -len(g["seeds"])))


def _group(part: str, target: str, budget: tuple, by_seed: dict[int, dict]) -> dict:
    seeds = sorted(by_seed)
    found = {m for s in seeds for m in by_seed[s]["methods"]}
    methods = sorted(m for m in found if m.startswith("annealing")) + [m for m in BASELINES if m in found]

    def column(read) -> dict[str, list]:
        return {m: [read(by_seed[s]["methods"][m]) if m in by_seed[s]["methods"] else None for s in seeds]
                for m in methods}

    acc, quick = column(lambda r: r["value"]), column(lambda r: r["quick"])
    comparisons = {f"{a} minus {b}": paired(acc[a], acc[b]) for a in methods if a.startswith("annealing")
                   for b in ("random", "uniform") if b in acc}
    return {"part": part, "target": target, "budget": dict(zip(BUDGET, budget)), "seeds": seeds,
            "methods": methods, "files": list(dict.fromkeys(f for s in seeds for f in by_seed[s]["files"])),
            "value": acc, "quick_score": quick,
            "mean": {m: _mean(v) for m, v in acc.items()}, "std": {m: _std(v) for m, v in acc.items()},
            "compression": {m: _mean(v) for m, v in column(lambda r: r["compression"]).items()},
            "mac_reduction": {m: _mean(v) for m, v in column(lambda r: r["mac_reduction"]).items()},
            "paired": comparisons, "quick_vs_value": _spearman(quick, acc)}


def _spearman(quick: dict[str, list], value: dict[str, list]) -> dict:
    """Spearman correlation of quick score and compared value over every (method, seed) result of a group."""
    pairs = [(q, v) for m in value for q, v in zip(quick[m], value[m]) if q is not None and v is not None]
    rho, p = stats.spearmanr(*zip(*pairs)) if len(pairs) > 2 else (None, None)
    return {"n": len(pairs), "rho": None if rho is None else float(rho), "p": None if p is None else float(p)}


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "-" if x is None else format(x, spec)


def _budget_line(g: dict) -> str:
    b = g["budget"]
    search = f"{b['candidates']} candidates per search, score {b['metric']} on {b['val_images']} validation images"
    training = (f"; {b['admm_epochs']} ADMM + {b['retrain_epochs']} retrain epochs per round on {b['train_limit']} "
                "training images" if g["part"] == "rounds" else "; search only, from the baseline")
    return f"{search}{training}; weights sha256 {b['weights_sha256']}. Files: {', '.join(g['files'])}."


def group_markdown(g: dict) -> list[str]:
    methods, (value, quick) = g["methods"], PARTS[g["part"]]
    rounds, seeds = g["budget"]["rounds"] if g["part"] == "rounds" else 1, len(g["seeds"])
    how = "" if g["part"] == "rounds" else ", search only"
    lines = [f"## {g['target']} in {rounds} round{'s' * (rounds > 1)}{how} ({seeds} seed{'s' * (seeds > 1)})", "",
             _budget_line(g), "",
             "| seed | " + " | ".join(f"{m} {value} ({quick})" for m in methods) + " |",
             "| --- " * (len(methods) + 1) + "|"]
    for i, seed in enumerate(g["seeds"]):
        cells = [f"{g['value'][m][i]:.4f} ({g['quick_score'][m][i]:.3f})" if g["value"][m][i] is not None else "-"
                 for m in methods]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    lines.append("| mean (std) | " + " | ".join(f"**{_fmt(g['mean'][m])}** ({_fmt(g['std'][m])})" for m in methods)
                 + " |")
    if g["part"] == "rounds":
        lines.append("| mean weights / MACs reduction | " + " | ".join(
            f"{g['compression'][m]:.2f}x / {g['mac_reduction'][m]:.2f}x" for m in methods) + " |")
    lines += ["", f"| paired difference ({value}) | mean | wins / losses | paired t-test p |",
              "| --- | --- | --- | --- |"]
    for name, d in g["paired"].items():
        lines.append(f"| {name} | {_fmt(d['mean'], '+.4f')} | {d['wins']} / {d['losses']} | {_fmt(d['p'], '.3f')} |")
    c = g["quick_vs_value"]
    lines += ["", f"Spearman correlation of {quick} and {value} over all {c['n']} results above: "
                  f"{_fmt(c['rho'], '.2f')} (p = {_fmt(c['p'], '.3f')})."]
    return lines + [""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="bench_search.py --part rounds (and --part a) JSON results")
    p.add_argument("--out", default=str(RESULTS / "search" / "search-rounds-summary"),
                   help="writes OUT.json and OUT.md")
    args = p.parse_args(argv)
    groups = summarize(runs(args.files))
    lines = ["# Search methods across seeds (multi-round pipeline)", "", f"command: `{command()}`", "",
             "Final test accuracy (10,000 JPEG CIFAR-10 test images) of the pipeline with each method choosing every "
             "round's rates; same seed = same data order and training for the three methods. Search-only groups "
             "(part a): each method's best candidate scored on the validation images its search did not use.", ""]
    for g in groups:
        lines += group_markdown(g)
    write_report(args.out, {"command": command(), "groups": groups}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
