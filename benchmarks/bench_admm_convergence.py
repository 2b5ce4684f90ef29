"""ADMM convergence, the old defaults against the new ones, on one model at uniform rates for a target: the
residual ||W - Z|| / ||W|| and the share of the kept set that changed, per Z/U update, then the test accuracy
right after hard pruning (BatchNorm recalibrated) and the residual's path as a plot.

old: what the project shipped until commit 70d38da: rho 0.01 -> 0.1 -> 1 in three equal stages, U not rescaled
     when rho grows, conv/linear weights only (BatchNorm outside ADMM), the cosine learning rate decaying to 0
     inside the ADMM phase, no distillation.
new: ``AdmmConfig()``: rho from lr and steps per update (pull 0.5), x1.5 per update while the residual is
     above 1%, U rescaled, the BatchNorm of removed filters inside ADMM, constant learning rate, distillation.

    PYTHONPATH=. python benchmarks/bench_admm_convergence.py --weights ~/.cache/acruns/resnet20-jpeg-finetune/model.pt \
        --target 4 --epochs 8 --train-limit 10000 --threads 2

Writes benchmarks/results/admm/admm_convergence.{json,md,png}.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_io import RESULTS, command, write_report  # noqa: E402
from compress.data import load_data  # noqa: E402
from compress.pruning import layer_weights, project_masks, trace_structure, uniform_rates  # noqa: E402
from compress.pruning.accounting import rates_for_target  # noqa: E402
from compress.pruning.admm import AdmmConfig, AdmmHooks  # noqa: E402
from compress.pruning.sequence import CALIBRATION_BATCHES  # noqa: E402
from compress.restore import restore_model  # noqa: E402
from compress.train import (Distillation, TrainConfig, calibration_batches, recalibrate_bn, split_accuracy,  # noqa: E402
                            steps_per_epoch, train)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


class OldHooks(AdmmHooks):
    """The ADMM of commit 70d38da: staged rho without rescaling U, conv/linear weights only."""

    def __init__(self, model, structure, scheme, rates, train_config, steps, epochs: int) -> None:
        super().__init__(model, structure, scheme, rates, AdmmConfig(rho=0.01), train_config, steps)
        self.epochs = epochs
        norms = {n for n, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
        self.names = [n for n in self.names if n.endswith(".weight") and n.rsplit(".", 1)[0] not in norms]
        self.Z = {n: self.Z[n] for n in self.names}
        self.U = {n: self.U[n] for n in self.names}

    def grow(self, residual: float) -> None:
        stage = min(2, len(self.log) * 3 // self.epochs)
        self.rho = 0.01 * 10 ** stage


def run_variant(name: str, model, splits, rates, args) -> dict:
    """ADMM for ``args.epochs`` epochs with one variant's settings; the log and the hard-pruned accuracy."""
    model = copy.deepcopy(model)
    structure = trace_structure(model, splits.input_shape)
    new = name == "new"
    config = TrainConfig(lr=args.lr, epochs=args.epochs, train_limit=args.train_limit, threads=args.threads,
                         schedule="constant" if new else "cosine", seed=args.seed, progress=False)
    steps = steps_per_epoch(splits, config)
    hooks = (AdmmHooks(model, structure, "filter+column", rates, AdmmConfig(), config, steps) if new
             else OldHooks(model, structure, "filter+column", rates, config, steps, args.epochs))
    t0 = time.time()
    train(model, splits, config, hooks=hooks, distill=Distillation(copy.deepcopy(model)) if new else None,
          stream="admm-convergence")
    project_masks(structure, layer_weights(model), "filter+column", rates).apply(model)
    recalibrate_bn(model, calibration_batches(splits, CALIBRATION_BATCHES))
    return {"updates": hooks.log, "converged": hooks.converged(), "seconds": time.time() - t0,
            "projected_accuracy": split_accuracy(model, splits, "test"), "steps_per_epoch": steps}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, r in results.items():
        updates = [u["update"] for u in r["updates"]]
        axes[0].semilogy(updates, [u["residual"] for u in r["updates"]], marker="o", label=name)
        axes[1].plot(updates, [100 * u["changed"] for u in r["updates"]], marker="o", label=name)
    axes[0].set(xlabel="Z/U update (epoch)", ylabel="||W - Z|| / ||W||", title="residual")
    axes[1].set(xlabel="Z/U update (epoch)", ylabel="% of kept set changed", title="kept-set change")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--data", default=str(SHARED / "cifar10-jpeg.tar.gz"))
    p.add_argument("--target", type=float, default=4.0, help="conv+fc weight compression (uniform rates)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--train-limit", type=int, default=10000, help="images per epoch")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "admm" / "admm_convergence"))
    args = p.parse_args(argv)
    splits = load_data(args.data, seed=args.seed)
    model, arch = restore_model(args.weights, None, splits.num_classes, splits.input_shape[0])
    structure = trace_structure(model, splits.input_shape)
    rate, _ = rates_for_target(model, structure, "filter+column", args.target)
    rates = uniform_rates(structure, rate)
    results = {name: run_variant(name, model, splits, rates, args) for name in ("old", "new")}
    plot(results, Path(args.out).with_suffix(".png"))
    report = {"command": command(), "model": arch, "target": args.target, "rate": rate.filter,
              "dense_accuracy": split_accuracy(model, splits, "test"), "args": vars(args), "results": results}
    write_report(args.out, report, markdown(report))
    return 0


def markdown(report: dict) -> str:
    r, a = report["results"], report["args"]
    lines = [f"# ADMM convergence: {report['model']} at {report['target']:g}x (uniform filter+column rate "
             f"{report['rate']:.3f}), old defaults vs new", "", f"Command: `{report['command']}`", "",
             f"Budget: {a['epochs']} ADMM epochs of {a['train_limit']} images each (a new sample per epoch), lr "
             f"{a['lr']}, one Z/U update per epoch ({r['new']['steps_per_epoch']} steps). Dense test accuracy "
             f"{report['dense_accuracy']:.4f}.", "",
             "| | old | new |", "| --- | --- | --- |",
             f"| test accuracy right after hard pruning (BatchNorm recalibrated) | {r['old']['projected_accuracy']:.4f} "
             f"| {r['new']['projected_accuracy']:.4f} |",
             f"| converged (residual and kept-set change <= 1%) | {r['old']['converged']} | {r['new']['converged']} |",
             f"| seconds | {r['old']['seconds']:.0f} | {r['new']['seconds']:.0f} |", "",
             "![residual and kept-set change per update](admm_convergence.png)", "",
             "| update | old rho | old residual | old kept set changed | new rho | new residual | new kept set changed |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for o, n in zip(r["old"]["updates"], r["new"]["updates"]):
        lines.append(f"| {o['update']} | {o['rho']:.3g} | {o['residual']:.4f} | {o['changed']:.1%} | {n['rho']:.3g} | "
                     f"{n['residual']:.4f} | {n['changed']:.1%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
