"""``autocompress search``: one round's automatic rate search; prints the chosen per-layer rates."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from compress.search import CompressConfig, QuickEvalConfig, SearchConfig, Target, search
from compress.search.annealing import METHODS

from .argtypes import COUNT, FACTOR, FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT
from .common import add_model_data_args, add_run_args, add_scheme_arg, load_model, load_splits, print_json

HELP = ("Search per-layer pruning rates (simulated annealing over quick evaluations on the validation split) "
        "that meet one compression target; prints the rates (use them with 'autocompress prune --rates').")


def add_search_args(parser: argparse.ArgumentParser, required: bool = True, device: bool = True) -> None:
    """Target, scheme, annealing and quick-evaluation flags (shared with 'compress' and 'run'; --no-progress
    comes from ``add_run_args``); ``device`` adds --device, the device a latency goal is measured on ('run'
    has its own)."""
    target = parser.add_mutually_exclusive_group(required=required)
    target.add_argument("--target-rate", type=FACTOR, help="conv+fc weight compression to reach, e.g. 4 (= 4x)")
    target.add_argument("--target-macs", type=FACTOR, help="MAC reduction to reach, e.g. 2 (= 2x fewer MACs)")
    target.add_argument("--target-latency", metavar="COST",
                        help="latency to reach on --device, e.g. 2.5ms (host, adb); on qemu an emulated AArch64 "
                             "instruction count such as 3.2M. The search predicts it from a per-layer latency table "
                             "of the device (built once, about 16 compiles, then cached); each round ends with a "
                             "real build and measurement")
    parser.add_argument("--latency-steps", default="1,0.75,0.5,0.25", metavar="KEEPS",
                        help="kept fractions of filters and of columns whose grid the latency table measures "
                             "(len**2 builds)")
    if device:
        parser.add_argument("--device", dest="latency_device", default="host",
                            help="where --target-latency is measured: host, qemu (emulated instruction counts), "
                                 "adb[:SERIAL], or several phones of one model, adb:S1,adb:S2,... (they fill the "
                                 "latency table together; the first measures each round's model); the torch device "
                                 "is --torch-device")
    add_scheme_arg(parser)
    s, q = SearchConfig(), QuickEvalConfig()
    parser.add_argument("--candidates", type=POSITIVE_INT, default=s.candidates,
                        help="annealing steps (one candidate each)")
    parser.add_argument("--search-method", choices=METHODS, default=s.method,
                        help="annealing (the method: it starts from the sensitivity allocation), sensitivity (that "
                             "allocation alone: each layer scored pruned alone, rates traded against the target), "
                             "size (rates that grow with the square root of each layer's size, no evaluation), or a "
                             "baseline: random (as many random candidates), uniform (one rate for every layer, scaled "
                             "to the target)")
    parser.add_argument("--screen", type=POSITIVE_INT, default=s.screen,
                        help="neighbours proposed per annealing step; a ridge fit of score on the rates, learnt from "
                             "the candidates evaluated so far, picks the one to evaluate (1: plain annealing)")
    parser.add_argument("--t-start", type=POSITIVE, default=s.t_start, help="initial temperature, in accuracy units")
    parser.add_argument("--t-stop", type=POSITIVE, default=s.t_stop, help="final temperature (stop threshold)")
    parser.add_argument("--max-rate", type=FRACTION, default=s.max_rate, help="largest per-layer rate")
    parser.add_argument("--min-kept", type=POSITIVE_INT, default=s.min_kept, help="filters/columns every layer keeps")
    parser.add_argument("--search-seed", type=COUNT, default=s.seed, help="seed of the annealing")
    parser.add_argument("--val-images", type=POSITIVE_INT, default=q.val_images, help="validation images per candidate")
    parser.add_argument("--recal-batches", type=COUNT, default=q.recalibrate_batches,
                        help="training batches for BatchNorm recalibration per candidate (0: off)")
    parser.add_argument("--eval-finetune-steps", type=COUNT, default=q.finetune_steps,
                        help="SGD steps on fixed training batches before each candidate is scored (default 0: "
                             "one-shot; at high rates one-shot scores are near chance)")


def add_latency_check_args(parser: argparse.ArgumentParser, defaults: CompressConfig) -> None:
    """How a latency-targeted round checks its searched rates on the device before training ('compress', 'run')."""
    parser.add_argument("--latency-retries", type=COUNT, default=defaults.latency_retries,
                        help="with --target-latency: the searched rates are built and measured before training; "
                             "when they miss the goal, search again aiming further, at most this many times "
                             "(0: no check)")
    parser.add_argument("--latency-check-tolerance", type=NON_NEGATIVE, default=defaults.latency_check_tolerance,
                        help="a measured cost up to goal * (1 + this) passes the check")


def latency_checks(args: argparse.Namespace) -> dict:
    """The ``CompressConfig`` fields of :func:`add_latency_check_args`."""
    return {"latency_retries": args.latency_retries, "latency_check_tolerance": args.latency_check_tolerance}


def search_config(args: argparse.Namespace) -> SearchConfig:
    return SearchConfig(candidates=args.candidates, method=args.search_method, screen=args.screen,
                        t_start=args.t_start, t_stop=args.t_stop, max_rate=args.max_rate, min_kept=args.min_kept,
                        seed=args.search_seed, progress=not args.no_progress)


def quick_config(args: argparse.Namespace) -> QuickEvalConfig:
    return QuickEvalConfig(val_images=args.val_images, recalibrate_batches=args.recal_batches,
                           finetune_steps=args.eval_finetune_steps)


def final_target(args: argparse.Namespace) -> tuple[str, float]:
    """(kind, factor) of a weights or MACs target; a latency goal goes through :func:`latency_target`."""
    return ("rate", args.target_rate) if args.target_rate is not None else ("macs", args.target_macs)


def latency_steps(args: argparse.Namespace) -> tuple[float, ...]:
    try:
        return tuple(float(s) for s in args.latency_steps.split(","))
    except ValueError:
        raise ValueError(f"--latency-steps {args.latency_steps!r}: expected kept fractions such as 1,0.5,0.25") from None


def latency_target(args: argparse.Namespace, model, input_shape: tuple[int, ...], workdir: Path):
    """(objective, speed-up factor) for ``--target-latency`` on the latency device."""
    from autocompress.latency import latency_factor, latency_objective, parse_cost

    objective, _ = latency_objective(args.model, args.latency_device, (1, *input_shape), workdir=workdir,
                                     steps=latency_steps(args), progress=not args.no_progress)
    goal = parse_cost(args.target_latency, objective.unit)
    return objective, latency_factor(objective, model, goal)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_data_args(parser, old_device_flag=False)
    add_search_args(parser)
    parser.add_argument("--log", default=None, help="JSONL log of every step (needed for --resume)")
    add_run_args(parser, None, resume="replay --log and continue a killed search")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume and not args.log:
        raise ValueError("--resume needs --log (the search log to continue)")
    splits = load_splits(args)
    model = load_model(args, splits).eval()
    latency = None
    if args.target_latency:
        objective, factor = latency_target(args, model, splits.input_shape, Path(args.log or ".").parent / "latency")
        kind, latency = "latency", objective
    else:
        kind, factor = final_target(args)
    result = search(model, splits, Target(kind, factor), search_config(args), args.scheme, quick_config(args),
                    args.torch_device, Path(args.log) if args.log else None, args.resume, latency=latency)
    summary = {"model": args.model, "scheme": args.scheme, "target": {"kind": kind, "factor": factor},
               "achieved": result.achieved, "quick_accuracy": result.best_eval.accuracy,
               "candidates": result.steps, "evaluations": result.evaluations, "seconds": result.seconds,
               "rates": result.best.to_data()["rates"]}
    if args.json:
        print_json(summary)
        return 0
    print(f"{args.model}: {kind} {result.achieved:.3f}x (target {factor:g}x), quick-eval val accuracy "
          f"{result.best_eval.accuracy:.4f}, {result.evaluations} evaluations in {result.seconds:.0f} s")
    for name, rate in summary["rates"].items():
        print(f"  {name:24s} " + "  ".join(f"{k} {v:.3f}" for k, v in rate.items() if v))
    return 0
