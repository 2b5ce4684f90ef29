"""ADMM vs one-shot magnitude pruning of ResNet-20 on the JPEG CIFAR-10 data, at 2x, 4x and 8x compression.

Both methods use the same uniform hybrid (filter+column) rates, picked per target by bisection on the
baseline weights, and the same masked-retraining budget; ADMM additionally trains ``--admm-epochs`` with
the ADMM penalty before hard pruning. Results: benchmarks/results/admm_vs_magnitude.{json,md}.

    python benchmarks/bench_admm_vs_magnitude.py --device cuda --admm-epochs 30 --retrain-epochs 20
    python benchmarks/bench_admm_vs_magnitude.py --train-limit 256 --admm-epochs 1 --retrain-epochs 1 \
        --eval-limit 500 --threads 1        # CPU smoke run
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from compress.checkpoint import load_checkpoint, load_weights, save_checkpoint  # noqa: E402
from compress.data import load_data  # noqa: E402
from compress.models import build_model  # noqa: E402
from compress.pruning import trace_structure  # noqa: E402
from compress.pruning.accounting import rates_for_target  # noqa: E402
from compress.pruning.admm import AdmmConfig  # noqa: E402
from compress.pruning.api import PruneConfig, prune  # noqa: E402
from compress.train import TrainConfig, evaluate, train  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=str(SHARED / "cifar10-jpeg.tar.gz"))
    p.add_argument("--weights", default=str(SHARED / "resnet20-cifar10.pt"),
                   help="baseline ResNet-20: the fine-tuned checkpoint, or the pretrained weights with --finetune-epochs")
    p.add_argument("--finetune-epochs", type=int, default=0, help="fine-tune --weights on the JPEG train split first")
    p.add_argument("--targets", type=float, nargs="+", default=[2.0, 4.0, 8.0])
    p.add_argument("--scheme", default="filter+column")
    p.add_argument("--admm-epochs", type=int, default=3)
    p.add_argument("--retrain-epochs", type=int, default=3)
    p.add_argument("--train-limit", type=int, default=None, help="train on a fixed subset of this many images")
    p.add_argument("--eval-limit", type=int, default=None, help="test images for the accuracies (None: all 10,000)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--rho", type=float, default=AdmmConfig.rho)
    p.add_argument("--rho-factor", type=float, default=AdmmConfig.rho_factor)
    p.add_argument("--rho-stages", type=int, default=AdmmConfig.rho_stages)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default=str(ROOT / "runs" / "bench-admm"), help="run folders (checkpoints, resume)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--resume", action="store_true", help="continue killed runs in --work")
    return p.parse_args(argv)


def baseline(args, splits, train_config: TrainConfig) -> dict:
    """The baseline state_dict: --weights, fine-tuned first when asked (cached in --work)."""
    model = build_model("resnet20", splits.num_classes)
    load_weights(model, args.weights)
    if args.finetune_epochs > 0:
        cached = Path(args.work) / f"baseline-ft{args.finetune_epochs}.pt"
        if cached.is_file():
            model.load_state_dict(load_checkpoint(cached)["state_dict"])
        else:
            config = TrainConfig(**{**asdict(train_config), "epochs": args.finetune_epochs})
            train(model, splits, config, run_dir=Path(args.work) / "finetune", resume=args.resume)
            save_checkpoint(cached, {"arch": "resnet20", "num_classes": splits.num_classes, "in_channels": 3,
                                     "state_dict": model.cpu().state_dict()})
    return model.cpu().state_dict()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    splits = load_data(args.data, seed=args.seed)
    train_config = TrainConfig(lr=args.lr, batch_size=args.batch_size, seed=args.seed, threads=args.threads,
                               train_limit=args.train_limit, device=args.device, progress=False)
    state = baseline(args, splits, train_config)
    model = build_model("resnet20", splits.num_classes)
    model.load_state_dict(state)
    base_acc = evaluate(model.to(args.device), splits.loader("test", 256, limit=args.eval_limit, device=args.device),
                        args.device)["accuracy"]
    print(f"baseline test accuracy {base_acc:.4f} ({args.eval_limit or 'all'} images)", flush=True)
    structure = trace_structure(model, splits.input_shape)
    admm = AdmmConfig(rho=args.rho, rho_factor=args.rho_factor, rho_stages=args.rho_stages)
    rows = []
    for target in args.targets:
        rate, projected = rates_for_target(model.cpu(), structure, args.scheme, target)
        for method in ("admm", "magnitude"):
            config = PruneConfig(scheme=args.scheme, method=method, rate=rate, admm_epochs=args.admm_epochs,
                                 retrain_epochs=args.retrain_epochs, admm=admm, train=train_config,
                                 eval_limit=args.eval_limit, export=False)
            net = build_model("resnet20", splits.num_classes)
            net.load_state_dict(state)
            run_dir = Path(args.work) / f"{method}-{target:g}x"
            _, report = prune(net, splits, config, arch="resnet20", run_dir=run_dir, resume=args.resume)
            s, a = report["stats"], report["accuracy"]
            rows.append({"target": target, "method": method, "rate": asdict(rate), "projected_compression": projected,
                         "compression_rate": s["compression_rate"], "params": s["params"],
                         "dense_params": s["dense_params"], "macs": s["macs"], "structured_macs": s["structured_macs"],
                         "dense_macs": s["dense_macs"], "accuracy": a, "seconds": report["seconds"],
                         "run_dir": str(run_dir)})
            print(f"{target:g}x {method:9s}: hard-pruned {a['projected']:.4f}, retrained {a['retrained']:.4f}, "
                  f"compacted {a['compacted']:.4f}, {s['compression_rate']:.2f}x, {report['seconds']:.0f}s", flush=True)
    write_results(args, argv, base_acc, rows, time.time() - t0)
    return 0


def write_results(args, argv, base_acc: float, rows: list[dict], seconds: float) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_admm_vs_magnitude.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "cpu"
    data = {"command": command, "device": args.device, "device_name": device, "torch": torch.__version__,
            "args": vars(args), "baseline_accuracy": base_acc, "results": rows, "seconds": seconds}
    (out / "admm_vs_magnitude.json").write_text(json.dumps(data, indent=2))
    small = (args.train_limit or 50_000) < 5_000 or args.admm_epochs + args.retrain_epochs < 4
    lines = ["# ADMM vs one-shot magnitude pruning: ResNet-20, JPEG CIFAR-10, uniform filter+column rates", "",
             f"Command: `{command}`", "", f"Device: {args.device} ({device}), torch {torch.__version__}; "
             f"total {seconds / 60:.1f} min. Baseline test accuracy {base_acc:.4f} "
             f"on {args.eval_limit or 'all 10,000'} test images.", ""]
    if small:
        lines += ["**Smoke-size budget** (train limit / few epochs): the numbers show the pipeline runs, "
                  "not how the methods compare.", ""]
    elif args.train_limit or args.admm_epochs + args.retrain_epochs < 20:
        lines += [f"**Reduced budget**: {args.train_limit or 'all'} training images, {args.admm_epochs} ADMM + "
                  f"{args.retrain_epochs} retraining epochs; the comparison holds for this budget, and both "
                  "methods would recover more with a full one.", ""]
    lines += ["| target | method | rate (filter = column) | compression | params | MACs (zero cols skipped) | "
              "hard-pruned acc | retrained acc | compacted acc |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        a = r["accuracy"]
        lines.append(f"| {r['target']:g}x | {r['method']} | {r['rate']['filter']:.3f} | {r['compression_rate']:.2f}x | "
                     f"{r['params']} | {r['structured_macs']} | {a['projected']:.4f} | {a['retrained']:.4f} | "
                     f"{a['compacted']:.4f} |")
    lines += ["", f"ADMM: {args.admm_epochs} epochs (rho {args.rho} x{args.rho_factor} over {args.rho_stages} stages), "
              f"then hard pruning; both methods then get {args.retrain_epochs} epochs of masked retraining "
              f"(lr {args.lr}, batch {args.batch_size}, train limit {args.train_limit or 'none'}). "
              "Accuracy is on the test split; compression = dense conv+fc weights / nonzero ones after compaction."]
    (out / "admm_vs_magnitude.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
