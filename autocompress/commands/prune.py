"""``autocompress prune``: ADMM (or magnitude) structured pruning, purification and compaction of a model."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from compress.pruning.api import METHODS, PruneConfig, prune
from compress.pruning.plan import LayerRate

from .argtypes import FACTOR, FRACTION
from .common import (add_model_data_args, add_pruning_budget_args, add_run_args, add_scheme_arg, add_teacher_args,
                     load_model, load_splits, load_teacher, open_run, print_json, pruning_budget, run_inputs)

HELP = ("Prune a trained model (ADMM or one-shot magnitude, then masked retraining), purify and compact it; "
        "writes model.pt (compacted), model.onnx, structure.json, report.json and report.md.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_data_args(parser)
    add_scheme_arg(parser)
    parser.add_argument("--method", default="admm", choices=list(METHODS))
    parser.add_argument("--rate", type=FRACTION, help="uniform rate of the scheme (both rates for filter+column)")
    parser.add_argument("--filter-rate", type=FRACTION, help="uniform filter rate on every conv")
    parser.add_argument("--column-rate", type=FRACTION, help="uniform column rate on every conv")
    parser.add_argument("--rates", help="per-layer rates, JSON text or a .json file: {layer: rate | [filter, column] | "
                                        "{filter, column, weight}}; residual groups take their smallest filter rate")
    parser.add_argument("--target", type=FACTOR, help="compression target (e.g. 4): picks the uniform rate")
    add_pruning_budget_args(parser)
    add_teacher_args(parser)
    parser.add_argument("--no-export", action="store_true", help="skip model.onnx and structure.json")
    add_run_args(parser, "prune")


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
    return PruneConfig(scheme=args.scheme, method=args.method, rate=_uniform(args), rates=_per_layer(args.rates, args.scheme),
                       target=args.target, export=not args.no_export, budget=pruning_budget(args))


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    splits = load_splits(args)
    model, teacher = load_model(args, splits), load_teacher(args, splits)
    out = Path(args.out or f"runs/prune-{args.model}")
    resume = open_run(args, out, config.to_dict(), run_inputs(args, splits, args.teacher))
    result = prune(model, splits, config, arch=args.model, run_dir=out, resume=resume, teacher=teacher)
    if args.json:
        print_json(result.to_json())
    else:
        a, s = result.accuracy, result.stats
        print(f"{args.model} {config.scheme}/{config.method}: accuracy {a['dense']:.4f} -> {a['compacted']:.4f}, "
              f"{s.compression_rate:.2f}x fewer weights, params {s.params}, MACs {s.structured_macs}; "
              f"run folder {out}")
    return 0
