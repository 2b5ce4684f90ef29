"""``autocompress compress``: the whole multi-round AutoCompress pipeline."""
from __future__ import annotations

import argparse

from compress.search import CompressConfig, autocompress
from compress.train import TrainConfig

from .common import add_data_args, add_model_args, add_runtime_args, load_model, load_splits, print_json
from .search import add_search_args, final_target, quick_config, search_config

HELP = ("Compress a trained model in rounds of growing targets (search -> ADMM -> hard prune -> masked retrain "
        "-> purify -> compact); writes OUT/model.pt, report.json and report.md, a checkpoint per round and epoch.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_args(parser)
    add_data_args(parser)
    add_runtime_args(parser)
    add_search_args(parser)
    c, t = CompressConfig(target_rate=2.0), TrainConfig(lr=0.01)
    parser.add_argument("--rounds", type=int, default=c.rounds, help="rounds; targets grow geometrically")
    parser.add_argument("--admm-epochs", type=int, default=c.admm_epochs, help="ADMM epochs per round")
    parser.add_argument("--retrain-epochs", type=int, default=c.retrain_epochs, help="masked retraining epochs")
    parser.add_argument("--train-limit", type=int, default=None, help="train on a fixed subset of this many images")
    parser.add_argument("--eval-limit", type=int, default=None, help="report test accuracy on this many images")
    parser.add_argument("--lr", type=float, default=t.lr, help="peak learning rate of ADMM and retraining")
    parser.add_argument("--batch-size", type=int, default=t.batch_size)
    parser.add_argument("--purify-tolerance", type=float, default=c.purify_tolerance,
                        help="validation-accuracy drop allowed for remnant removal; negative skips it")
    parser.add_argument("--out", default=None, help="run folder (default: runs/compress-MODEL)")
    parser.add_argument("--resume", action="store_true", help="continue a killed run in OUT")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    splits = load_splits(args)
    model = load_model(args, splits).eval()
    kind, factor = final_target(args)
    train = TrainConfig(lr=args.lr, batch_size=args.batch_size, train_limit=args.train_limit, device=args.device,
                        threads=args.threads, seed=args.seed, progress=not args.no_progress)
    config = CompressConfig(
        target_rate=factor if kind == "rate" else None, target_macs=factor if kind == "macs" else None,
        rounds=args.rounds, scheme=args.scheme, admm_epochs=args.admm_epochs, retrain_epochs=args.retrain_epochs,
        search=search_config(args), quick_eval=quick_config(args), train=train,
        purify_tolerance=None if args.purify_tolerance < 0 else args.purify_tolerance, eval_limit=args.eval_limit)
    out = args.out or f"runs/compress-{args.model}"
    _, report = autocompress(model, splits, config, out=out, resume=args.resume, arch=args.model)
    if args.json:
        print_json(report)
        return 0
    final = report["final"]
    print(f"{args.model}: {final['compression_rate']:.2f}x fewer weights, {final['mac_reduction']:.2f}x fewer MACs, "
          f"test accuracy {final['test_accuracy']:.4f} after {args.rounds} rounds; {out}/model.pt, {out}/report.md")
    return 0
