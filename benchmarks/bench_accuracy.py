"""Accuracy at an equal budget: one model compressed to one target by one method, with the same training
epochs and distillation as every other method; one result file per run, a summary table over all of them.

Methods (all through the project's own pipeline, one round, uniform or searched rates):
  searched   simulated-annealing rates (the default search, from the sensitivity allocation), ADMM, hard prune,
             masked retraining
  sensitivity  the search's sensitivity allocation alone (each layer's knobs scored pruned alone on the quick
             evaluation, rates traded against the target; ``SearchConfig.method="sensitivity"``), ADMM and retraining
  size       rates that grow with the square root of each layer's weights (or MACs for a MACs target), scaled to
             the target (``SearchConfig.method="size"``, the search's experience-guided start), ADMM and retraining
  uniform    the same rate on every layer (``SearchConfig.method="uniform"``), ADMM and retraining
  magnitude  uniform rates, no ADMM: one-shot projection, then masked retraining for the whole budget
  torch-pruning  Torch-Pruning 1.6's global group-norm channel pruning (``pip install --no-deps torch-pruning``),
             blocks' inner channels only (see ../shared/docs/autocompress-method.md), stepped until the target
             holds, then fine-tuned for the whole budget with the same loop and distillation

``--rounds N`` runs our methods as N rounds (round k aims at the target to the power k / N, each starting from the
last) with the same total epochs shared out equally over them.
``--teacher CHECKPOINT`` distils every method from that model (e.g. a larger network fine-tuned on the same data)
instead of the baseline; the run's name ends in ``-kd`` and the teacher's architecture.

Each run lives in ``--work/MODEL-TARGET-METHOD[-VARIANT]`` (VARIANT names settings off the default budget,
e.g. ``-lr0.05``, or ``-column`` for ``--scheme column``: kernel columns only, no whole filters) and resumes
from there (rerun the same command after a kill); a run folder made with other settings is refused.
``--latency`` compiles the result, checks it against onnxruntime and times it beside onnxruntime on the same ONNX
(one thread each, one run of this script).

    PYTHONPATH=. python benchmarks/bench_accuracy.py --weights ~/.cache/acruns/resnet20-jpeg-finetune/model.pt \
        --target rate:4 --method uniform --admm-epochs 10 --retrain-epochs 10 --threads 2 --latency
    PYTHONPATH=. python benchmarks/bench_accuracy.py --summary     # benchmarks/results/accuracy.md from all runs
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_io import RESULTS, command, write_json, write_report  # noqa: E402
from compress.counting import count_model  # noqa: E402
from compress.data import load_data  # noqa: E402
from compress.precision import resolve  # noqa: E402
from compress.pruning import SCHEMES, PruneBudget  # noqa: E402
from compress.pruning.admm import AdmmConfig  # noqa: E402
from compress.restore import restore_model, restore_teacher  # noqa: E402
from compress.search import CompressConfig, QuickEvalConfig, autocompress  # noqa: E402
from compress.search.annealing import SearchConfig  # noqa: E402
from compress.train import Distillation, TrainConfig, split_accuracy, train  # noqa: E402

ROWS = RESULTS / "accuracy"  # one file per run; the summary is RESULTS/accuracy.{json,md}
METHODS = ("searched", "sensitivity", "size", "uniform", "magnitude", "torch-pruning")
# the search method behind each of our methods' rates (uniform rates otherwise)
SEARCH_METHODS = {"searched": "annealing", "sensitivity": "sensitivity", "size": "size"}
DEFAULT_SCHEME = CompressConfig.scheme  # filter+column; a run folder's budget names any other scheme
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GOALS = {"macs:2": -0.5, "rate:4": -1.5, "rate:8": -3.0}  # points from dense, issue 15's goals for ResNet-20


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", help="the trained baseline (a checkpoint of ours)")
    p.add_argument("--data", default=str(SHARED / "cifar10-jpeg.tar.gz"))
    p.add_argument("--target", help="rate:F (conv+fc weights) or macs:F, e.g. rate:4")
    p.add_argument("--method", choices=METHODS)
    p.add_argument("--scheme", default=DEFAULT_SCHEME, choices=[s for s in SCHEMES if s != "unstructured"],
                   help="what our methods remove: whole filters and kernel columns, or one of the two")
    p.add_argument("--admm-epochs", type=int, default=10, help="ADMM epochs (magnitude/torch-pruning retrain instead)")
    p.add_argument("--retrain-epochs", type=int, default=10)
    p.add_argument("--rounds", type=int, default=1,
                   help="rounds of our pipeline, the ADMM and retraining epochs shared out equally over them")
    p.add_argument("--train-limit", type=int, default=None, help="images per epoch (default: the whole split)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--admm-stall", type=int, default=0,
                   help="end ADMM after this many updates stalled at the largest rho (0: never; see --admm-stall of "
                        "autocompress prune)")
    p.add_argument("--candidates", type=int, default=60, help="search candidates (method searched)")
    p.add_argument("--eval-finetune-steps", type=int, default=0,
                   help="SGD steps per candidate before its quick evaluation (method searched; 0: one-shot)")
    p.add_argument("--no-distill", action="store_true")
    p.add_argument("--teacher", help="distil from this checkpoint of ours (e.g. a larger model) instead of --weights")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency", action="store_true", help="also time our binary and onnxruntime (host, 1 thread)")
    p.add_argument("--work", default=str(Path.home() / ".cache" / "acruns" / "accuracy"))
    p.add_argument("--summary", action="store_true", help="only rebuild benchmarks/results/accuracy.md")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parser().parse_args(argv)


# settings that name a run apart from the default budget, and their short names
VARIANTS = {"admm_epochs": "admm", "retrain_epochs": "retrain", "lr": "lr", "train_limit": "limit", "seed": "seed",
            "no_distill": "nokd", "precision": "prec", "scheme": "", "rounds": "rounds", "admm_stall": "stall",
            "eval_finetune_steps": "evalft"}


def variant(args) -> str:
    """The run name's suffix: each VARIANTS setting that differs from its default ('' for the default budget),
    then ``-kd`` and the teacher's architecture when ``--teacher`` gives one."""
    defaults = parser()
    suffix = "".join(f"-{short}{'' if isinstance(value, bool) else value}" for key, short in VARIANTS.items()
                     if (value := getattr(args, key)) != defaults.get_default(key))
    return suffix + (f"-kd{args.teacher_arch}" if args.teacher else "")


def budget(args) -> dict:
    """Everything that must match for a run folder to be resumed (and for two rows to be compared)."""
    return {"weights": str(Path(args.weights).expanduser()), "data": args.data, "admm_epochs": args.admm_epochs,
            "retrain_epochs": args.retrain_epochs, "train_limit": args.train_limit, "lr": args.lr,
            "candidates": args.candidates if args.method == "searched" else None, "distill": not args.no_distill,
            "precision": resolve(args.device, args.precision), "seed": args.seed,
            **({} if args.scheme == DEFAULT_SCHEME else {"scheme": args.scheme}),  # old folders lack the defaults
            **({} if args.rounds == 1 else {"rounds": args.rounds}),
            **({"admm_stall": args.admm_stall} if args.admm_stall else {}),
            **({"eval_finetune_steps": args.eval_finetune_steps} if args.eval_finetune_steps else {}),
            **({"teacher": str(Path(args.teacher).expanduser())} if args.teacher else {})}


def work_folder(args, model: str) -> Path:
    """The run's folder; its budget.json must equal this run's budget (no silent mix of settings)."""
    folder = Path(args.work).expanduser() / f"{model}-{args.target.replace(':', '')}-{args.method}{variant(args)}"
    folder.mkdir(parents=True, exist_ok=True)
    saved, wanted = folder / "budget.json", budget(args)
    if saved.is_file() and json.loads(saved.read_text()) != wanted:
        raise SystemExit(f"{folder} was made with other settings ({saved.read_text().strip()}); "
                         "use another --work or delete the folder")
    saved.write_text(json.dumps(wanted))
    return folder


def train_config(args) -> TrainConfig:
    return TrainConfig(lr=args.lr, train_limit=args.train_limit, threads=args.threads, device=args.device,
                       precision=args.precision, seed=args.seed, progress=False)


def run_ours(model, splits, arch: str, args, folder: Path, teacher) -> tuple[torch.nn.Module, dict]:
    """searched / sensitivity / size / uniform / magnitude: ``--rounds`` rounds of our pipeline to the target."""
    kind, factor = args.target.split(":")
    magnitude = args.method == "magnitude"
    admm, retrain = args.admm_epochs // args.rounds, args.retrain_epochs // args.rounds  # per round
    prune_budget = PruneBudget(admm_epochs=0 if magnitude else admm,
                               retrain_epochs=retrain + (admm if magnitude else 0), train=train_config(args),
                               distill_weight=0.0 if args.no_distill else 0.5,
                               admm=AdmmConfig(stall=args.admm_stall))
    config = CompressConfig(**{f"target_{kind}": float(factor)}, rounds=args.rounds, budget=prune_budget,
                            scheme=args.scheme, quick_eval=QuickEvalConfig(finetune_steps=args.eval_finetune_steps),
                            search=SearchConfig(candidates=args.candidates, seed=args.seed, progress=False,
                                                method=SEARCH_METHODS.get(args.method, "uniform")))
    report = autocompress(model, splits, config, out=folder, resume=True, arch=arch, teacher=teacher)
    r = report.rounds[-1]  # its "dense" accuracy is its starting point's, the previous round's result
    extra = {"accuracy": {**r.accuracy, "dense": report.accuracy["dense"]},
             "admm": r.admm and {k: v for k, v in r.admm.items() if k != "updates"},
             "admm_updates": (r.admm or {}).get("updates"), "rates": r.rates, "seconds": report.seconds,
             "train_seconds": sum(x.seconds["admm"] + x.seconds["retrain"] for x in report.rounds)}
    if args.rounds > 1:
        extra["rounds_accuracy"] = [x.accuracy["compacted"] for x in report.rounds]
    return report.model, extra


def run_torch_pruning(model, splits, arch: str, args, folder: Path, teacher) -> tuple[torch.nn.Module, dict]:
    """Torch-Pruning's global group-norm channel pruning to the target, then the same fine-tuning budget."""
    import torch_pruning as tp

    kind, factor = args.target.split(":")
    dense = copy.deepcopy(model).eval()
    example = torch.randn(1, *splits.input_shape)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]  # the stem, the residual stream's
    ignored = convs[:1] + [m for n, m in model.named_modules()  # writers (option-A shortcuts) and the classifier
                           if n.endswith("conv2") or isinstance(m, torch.nn.Linear)]
    pruner = tp.pruner.MagnitudePruner(model, example, importance=tp.importance.GroupMagnitudeImportance(p=2),
                                       global_pruning=True, pruning_ratio=0.9, iterative_steps=200,
                                       ignored_layers=ignored)
    macs0, params0 = tp.utils.count_ops_and_params(model, example)
    for steps in range(200):
        macs, params = tp.utils.count_ops_and_params(model, example)
        if (macs0 / macs if kind == "macs" else params0 / params) >= float(factor):
            break
        pruner.step()
    distill = None if args.no_distill else Distillation(dense if teacher is None else teacher)
    history = train(model, splits, TrainConfig(**{**train_config(args).__dict__,
                                                  "epochs": args.admm_epochs + args.retrain_epochs}),
                    run_dir=folder / "finetune", resume=True, distill=distill, stream="torch-pruning")
    acc = {"dense": split_accuracy(dense, splits, "test", device=args.device),
           "compacted": split_accuracy(model, splits, "test", device=args.device)}
    return model, {"accuracy": acc, "train_seconds": sum(h["seconds"] for h in history), "torch_pruning_steps": steps,
                   "torch_pruning_version": tp.__version__}


def latency(model, shape, folder: Path) -> dict:
    """Our binary (checked against onnxruntime first) and onnxruntime on the same ONNX, one thread each."""
    from bench_models import onnxruntime_times, summary
    from codegen import compile_model
    from runtime import get_device
    from runtime.reference import make_input

    compiled = compile_model(model.cpu().eval(), "host", folder / "binary", input_shape=(1, *shape))
    ours = get_device("host").bench(compiled, runs=50, warmup=10, threads=1)
    onnx = summary(onnxruntime_times(compiled.onnx_path, make_input((1, *shape)), 50, 10))
    return {"ours_median_ms": ours.median_ms, "onnxruntime_median_ms": onnx["median_ms"],
            "speedup": onnx["median_ms"] / ours.median_ms, "max_abs_error": ours.max_abs_error}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.summary:
        run(args)
    summarize()
    return 0


def run(args) -> None:
    if not (args.weights and args.target and args.method):
        raise SystemExit("give --weights, --target and --method (or --summary)")
    if args.method == "torch-pruning" and (args.scheme != DEFAULT_SCHEME or args.rounds != 1):
        raise SystemExit("--scheme and --rounds apply to our methods; torch-pruning removes channels in one go")
    if args.rounds < 1 or args.admm_epochs % args.rounds or args.retrain_epochs % args.rounds:
        raise SystemExit(f"--rounds {args.rounds} must be >= 1 and divide --admm-epochs and --retrain-epochs")
    splits = load_data(args.data, seed=args.seed)
    model, arch = restore_model(args.weights, None, splits.num_classes, splits.input_shape[0])
    dense_counts = count_model(model, splits.input_shape)
    teacher = load_teacher(args, splits)
    folder = work_folder(args, arch)
    t0 = time.time()
    method = run_torch_pruning if args.method == "torch-pruning" else run_ours
    small, extra = method(model, splits, arch, args, folder, teacher)
    counts = count_model(small.cpu(), splits.input_shape)
    row = {"command": command(), "model": arch, "target": args.target, "method": args.method, "budget": budget(args),
           "test_accuracy": extra["accuracy"]["compacted"], "dense_accuracy": extra["accuracy"]["dense"],
           "params": counts.params, "dense_params": dense_counts.params, "nonzero_weights": counts.nonzero_weights,
           "compression_rate": dense_counts.weights / max(counts.nonzero_weights, 1),
           "structured_macs": counts.structured_macs, "mac_reduction": dense_counts.macs / max(counts.structured_macs, 1),
           "wall_seconds": time.time() - t0, "torch": torch.__version__, "threads": args.threads, **extra,
           **({"teacher": args.teacher_arch} if args.teacher else {})}
    if args.latency:
        row["latency"] = latency(small, splits.input_shape, folder)
    write_json(ROWS / f"{folder.name}.json", row)
    print(f"{folder.name}: test accuracy {row['test_accuracy']:.4f} (dense {row['dense_accuracy']:.4f}), "
          f"{row['compression_rate']:.2f}x weights, {row['mac_reduction']:.2f}x MACs", flush=True)


def load_teacher(args, splits):
    """The ``--teacher`` model (None without it); its architecture goes into ``args.teacher_arch``."""
    if not args.teacher:
        return None
    if args.no_distill:
        raise SystemExit("--teacher and --no-distill contradict each other; drop one")
    teacher, args.teacher_arch = restore_teacher(args.teacher, None, splits.input_shape, splits.num_classes)
    return teacher


def _latency_cell(lat: dict | None) -> str:
    return "-" if not lat else f"{lat['ours_median_ms']:.3f} / {lat['onnxruntime_median_ms']:.3f}"


def _label(row: dict) -> str:
    scheme, rounds, teacher = row["budget"].get("scheme"), row["budget"].get("rounds"), row.get("teacher")
    return (f"{row['method']}{', ' + scheme + ' only' if scheme else ''}{f', {rounds} rounds' if rounds else ''}"
            f"{f', KD from {teacher}' if teacher else ''}")


def plot_budget(rows: list[dict], path: Path) -> None:
    """Points from dense against total epochs, ResNet-20 on the whole training split at lr 0.01 with distillation:
    one colour per target (its goal dashed), one marker per method, a line through each budget's mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[tuple[str, str], dict[int, list[float]]] = {}
    for r in rows:
        b = r["budget"]
        if r["model"] == "resnet20" and not b["train_limit"] and b["lr"] == 0.01 and b["distill"]:
            points = series.setdefault((r["target"], _label(r)), {})
            points.setdefault(b["admm_epochs"] + b["retrain_epochs"], []).append(
                100 * (r["test_accuracy"] - r["dense_accuracy"]))
    targets = sorted({t for t, _ in series})
    colours = dict(zip(targets, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    markers = dict(zip(sorted({m for _, m in series}), itertools.cycle("osD^vP*Xhp<>")))  # more labels than markers
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for (target, method), points in sorted(series.items()):
        epochs = sorted(points)
        ax.plot(epochs, [sum(points[e]) / len(points[e]) for e in epochs], color=colours[target], alpha=0.5)
        ax.scatter([e for e in epochs for _ in points[e]], [v for e in epochs for v in points[e]],
                   color=colours[target], marker=markers[method], label=f"{target} {method}")
    for target in targets:
        if target in GOALS:
            ax.axhline(GOALS[target], color=colours[target], linestyle="--", linewidth=1)
    ax.set(xlabel="training epochs (ADMM + retraining)", ylabel="test accuracy - dense (points)",
           title="ResNet-20, JPEG CIFAR-10: accuracy against budget (dashed: goals)")
    budgets = sorted({e for points in series.values() for e in points})
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [str(e) for e in budgets])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summarize() -> None:
    """benchmarks/results/accuracy.{json,md}: every run file, grouped by model and target."""
    rows = sorted((json.loads(p.read_text()) for p in ROWS.glob("*.json")),
                  key=lambda r: (r["model"], r["target"], r["budget"]["admm_epochs"] + r["budget"]["retrain_epochs"],
                                 r["budget"]["lr"], METHODS.index(r["method"])))
    lines = ["# Accuracy at an equal budget", "",
             "Each row is one run of `benchmarks/bench_accuracy.py` (its command in `accuracy/NAME.json`); test "
             "accuracy on all 10,000 test images. Budget: ADMM + retraining epochs over the whole training split "
             "(45,000 images; or the images per epoch given, sampled anew each epoch), distillation from the dense "
             "model, for every method the same total epochs. Dense: the test accuracy of the row's baseline (each machine "
             "fine-tunes its own; compare methods against one baseline).", "",
             "![accuracy against budget](accuracy_budget.png)", "",
             "| model | target | method | budget (epochs) | dense | test acc | vs dense | params | weights | MACs | "
             "ADMM converged | ours / onnxruntime ms (1 thread) | commit |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        b, lat = r["budget"], r.get("latency")
        epochs = (f"{b['admm_epochs'] + b['retrain_epochs']} retrain" if r["method"] in ("magnitude", "torch-pruning")
                  else f"{b['admm_epochs']} ADMM + {b['retrain_epochs']}")
        admm = r.get("admm")
        moved = (admm or {}).get("moved_epochs", 0)
        if moved:
            how = "stalled" if admm.get("stalled") else "ended"
            epochs += f" (ADMM {how} after {b['admm_epochs'] - moved}: {b['retrain_epochs'] + moved} retrain)"
        epochs += f", {b['train_limit']:,} images per epoch" if b["train_limit"] else ""
        epochs += f", ADMM stall {b['admm_stall']}" if b.get("admm_stall") else ""
        epochs += f", {b['eval_finetune_steps']} SGD steps per candidate" if b.get("eval_finetune_steps") else ""
        lines.append(
            f"| {r['model']} | {r['target']} | {_label(r)} | "
            f"{epochs}, lr {b['lr']}"
            f"{'' if b['distill'] else ', no KD'}"
            f"{'' if b.get('precision', 'fp32') == 'fp32' else ', ' + b['precision']} | "
            f"{r['dense_accuracy']:.4f} | {r['test_accuracy']:.4f} | {100 * (r['test_accuracy'] - r['dense_accuracy']):+.2f} pt | {r['params']} | "
            f"{r['compression_rate']:.2f}x | {r['mac_reduction']:.2f}x | "
            f"{'-' if not admm else ('yes' if admm['converged'] else 'no')} | {_latency_cell(lat)} | "
            f"{(r.get('provenance') or {}).get('revision') or '-':.7} |")
    write_report(RESULTS / "accuracy", {"rows": rows}, "\n".join(lines) + "\n")
    plot_budget(rows, RESULTS / "accuracy_budget.png")


if __name__ == "__main__":
    sys.exit(main())
