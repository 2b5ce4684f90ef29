"""``autocompress prune``: ADMM (or magnitude) structured pruning, purification and compaction of a model."""
from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from compress.pruning.admm import AdmmConfig
from compress.pruning.api import METHODS, PruneConfig, prune
from compress.pruning.plan import LayerRate
from compress.pruning.projection import SCHEMES
from compress.train import TrainConfig

from .common import add_data_args, add_model_args, add_runtime_args, load_model, load_splits, print_json

HELP = ("Prune a trained model (ADMM or one-shot magnitude, then masked retraining), purify and compact it; "
        "writes model.pt (compacted), model.onnx, structure.json, report.json and report.md.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_args(parser)
    add_data_args(parser)
    add_runtime_args(parser)
    parser.add_argument("--scheme", default="filter+column", choices=list(SCHEMES))
    parser.add_argument("--method", default="admm", choices=list(METHODS))
    parser.add_argument("--rate", type=float, help="uniform rate of the scheme (both rates for filter+column)")
    parser.add_argument("--filter-rate", type=float, help="uniform filter rate on every conv")
    parser.add_argument("--column-rate", type=float, help="uniform column rate on every conv")
    parser.add_argument("--rates", help="per-layer rates, JSON text or a .json file: {layer: rate | [filter, column] | "
                                        "{filter, column, weight}}; residual groups take their smallest filter rate")
    parser.add_argument("--target", type=float, help="compression target (e.g. 4): picks the uniform rate")
    parser.add_argument("--admm-epochs", type=int, default=PruneConfig.admm_epochs)
    parser.add_argument("--retrain-epochs", type=int, default=PruneConfig.retrain_epochs)
    parser.add_argument("--train-limit", type=int, default=None, help="train on a fixed subset of this many images")
    parser.add_argument("--eval-limit", type=int, default=None, help="report accuracy on this many test images")
    parser.add_argument("--lr", type=float, default=0.01, help="peak learning rate of both phases")
    parser.add_argument("--batch-size", type=int, default=128)
    for f in fields(AdmmConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                            help="ADMM setting (see compress.pruning.admm.AdmmConfig)")
    parser.add_argument("--purify-tolerance", type=float, default=0.002,
                        help="validation-accuracy drop allowed for remnant removal; negative skips it")
    parser.add_argument("--no-export", action="store_true", help="skip model.onnx and structure.json")
    parser.add_argument("--out", default=None, help="run folder (default: runs/prune-MODEL)")
    parser.add_argument("--resume", action="store_true", help="continue a killed run in OUT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _uniform(args: argparse.Namespace) -> LayerRate | None:
    if args.rate is not None and (args.filter_rate is not None or args.column_rate is not None):
        raise ValueError("give --rate or --filter-rate/--column-rate, not both")
    if args.rate is not None:
        if args.scheme == "filter+column":
            return LayerRate(filter=args.rate, column=args.rate)
        return LayerRate.parse(args.rate, args.scheme)
    if args.filter_rate is not None or args.column_rate is not None:
        return LayerRate(filter=args.filter_rate or 0.0, column=args.column_rate or 0.0)
    return None


def _per_layer(text: str | None, scheme: str) -> dict[str, LayerRate]:
    if not text:
        return {}
    source = Path(text).read_text() if text.endswith(".json") and Path(text).is_file() else text
    try:
        data = json.loads(source)
    except json.JSONDecodeError as err:
        raise ValueError(f"--rates is neither a JSON object nor a .json file: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"--rates must be a JSON object {{layer: rate}}, got {type(data).__name__}")
    return {layer: LayerRate.parse(value, scheme) for layer, value in data.items()}


def config_from_args(args: argparse.Namespace) -> PruneConfig:
    """The PruneConfig the flags describe."""
    train = TrainConfig(lr=args.lr, batch_size=args.batch_size, train_limit=args.train_limit, seed=args.seed,
                        threads=args.threads, device=args.device, progress=not args.no_progress)
    admm = AdmmConfig(**{f.name: getattr(args, f.name) for f in fields(AdmmConfig)})
    return PruneConfig(scheme=args.scheme, method=args.method, rate=_uniform(args), rates=_per_layer(args.rates, args.scheme),
                       target=args.target, admm_epochs=args.admm_epochs, retrain_epochs=args.retrain_epochs,
                       admm=admm, train=train, eval_limit=args.eval_limit, export=not args.no_export,
                       purify_tolerance=args.purify_tolerance if args.purify_tolerance >= 0 else None)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    splits = load_splits(args)
    model = load_model(args, splits)
    out = Path(args.out or f"runs/prune-{args.model}")
    _, report = prune(model, splits, config, arch=args.model, run_dir=out, resume=args.resume)
    if args.json:
        print_json(report)
    else:
        a, s = report["accuracy"], report["stats"]
        print(f"{args.model} {config.scheme}/{config.method}: accuracy {a['dense']:.4f} -> {a['compacted']:.4f}, "
              f"{s['compression_rate']:.2f}x fewer weights, params {s['params']}, MACs {s['structured_macs']}; "
              f"run folder {out}")
    return 0
