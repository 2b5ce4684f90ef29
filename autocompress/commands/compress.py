"""``autocompress compress``: the whole multi-round AutoCompress pipeline."""
from __future__ import annotations

import argparse

from compress.search import CompressConfig, autocompress

from .argtypes import POSITIVE_INT
from .common import (add_model_data_args, add_pruning_budget_args, add_run_args, add_teacher_args, load_model,
                     load_splits, load_teacher, open_run, out_folder, print_json, pruning_budget, run_inputs)
from .search import (add_latency_check_args, add_search_args, final_target, latency_checks, latency_target,
                     quick_config, search_config)

HELP = ("Compress a trained model in rounds of growing targets (search -> ADMM -> hard prune -> masked retrain "
        "-> purify -> compact); writes OUT/model.pt, report.json and report.md, a checkpoint per round and epoch.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_data_args(parser, old_device_flag=False)
    add_search_args(parser)
    defaults = CompressConfig(target_rate=2.0)
    parser.add_argument("--rounds", type=POSITIVE_INT, default=defaults.rounds,
                        help="rounds; targets grow geometrically")
    add_pruning_budget_args(parser)
    add_teacher_args(parser)
    add_latency_check_args(parser, defaults)
    add_run_args(parser, "compress")


def run(args: argparse.Namespace) -> int:
    splits = load_splits(args)
    model, teacher = load_model(args, splits).eval(), load_teacher(args, splits)
    out, objective = out_folder(args.out or f"runs/compress-{args.model}"), None
    if args.target_latency:
        objective, factor = latency_target(args, model, splits.input_shape, out / "latency")
        kind = "latency"
    else:
        kind, factor = final_target(args)
    targets = {f"target_{k}": factor if kind == k else None for k in ("rate", "macs", "latency")}
    config = CompressConfig(**targets, rounds=args.rounds, scheme=args.scheme, search=search_config(args),
                            quick_eval=quick_config(args), budget=pruning_budget(args), **latency_checks(args))
    resume = open_run(args, out, config.to_dict(), run_inputs(args, splits, args.teacher))
    report = autocompress(model, splits, config, out=out, resume=resume, latency=objective, arch=args.model,
                          teacher=teacher)
    if args.json:
        print_json(report.to_json())
        return 0
    s = report.stats
    print(f"{args.model}: {s.compression_rate:.2f}x fewer weights, {s.mac_reduction:.2f}x fewer MACs, "
          f"test accuracy {report.accuracy['compacted']:.4f} after {args.rounds} rounds; {out}/model.pt, "
          f"{out}/report.md")
    latency = report.rounds[-1].latency
    if latency:
        print(f"cost on {args.latency_device}: predicted {latency['predicted']:.4g}, measured "
              f"{latency['measured']:.4g} {latency['unit']} (goal {latency['goal'] or 0:.4g})")
    return 0
