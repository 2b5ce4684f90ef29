"""``autocompress run``: the whole job in one command."""
from __future__ import annotations

import argparse
from dataclasses import asdict

from autocompress.pipeline import RunConfig, run_pipeline
from compress.search import CompressConfig

from .argtypes import COUNT, POSITIVE_INT, torch_device
from .common import (add_data_args, add_model_args, add_pruning_budget_args, add_run_args, open_run, print_json,
                     pruning_budget)
from .search import add_latency_check_args, add_search_args, latency_checks, latency_steps, quick_config, search_config

HELP = ("The whole job: train a baseline (or take --weights), compress it in rounds of growing targets, compile "
        "the dense and the compressed model for --target, bench both on --device (checked against onnxruntime), "
        "and write OUT/report.md (+ JSON and PNG plots). Default: digits, small CNN, 4x fewer weights, host.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = RunConfig()
    add_model_args(parser, default=defaults.model)
    add_data_args(parser)
    parser.add_argument("--baseline-epochs", type=COUNT, default=defaults.baseline_epochs,
                        help="epochs of the baseline trained when --weights is not given")
    add_search_args(parser, required=False, device=False)
    parser.add_argument("--rounds", type=POSITIVE_INT, default=defaults.compress.rounds,
                        help="rounds; targets grow geometrically")
    add_pruning_budget_args(parser)
    add_latency_check_args(parser, defaults.compress)
    parser.add_argument("--target", default=defaults.target, help="compile target: host, linux-aarch64, android-arm64")
    parser.add_argument("--device", default=defaults.device,
                        help="bench device: host, qemu (correctness + emulated instruction counts), adb[:SERIAL]; "
                             "with --target-latency also the latency device, where several phones of one model, "
                             "adb:S1,adb:S2,..., fill the latency table together and the first benches")
    parser.add_argument("--runs", type=POSITIVE_INT, default=defaults.runs, help="timed runs per binary")
    parser.add_argument("--threads", type=POSITIVE_INT, default=defaults.threads, help="threads of the binary")
    parser.add_argument("--torch-device", default=defaults.torch_device, type=torch_device,
                        help="where training runs: cpu or cuda")
    add_run_args(parser, "run")


def run(args: argparse.Namespace) -> int:
    target_rate = args.target_rate if args.target_rate or args.target_macs or args.target_latency \
        else RunConfig().compress.target_rate
    budget = pruning_budget(argparse.Namespace(**{**vars(args), "threads": None}))  # --threads: the binary's
    compress = CompressConfig(target_rate=target_rate, target_macs=args.target_macs,
                              target_latency=1.0 if args.target_latency else None, rounds=args.rounds,
                              scheme=args.scheme, search=search_config(args), quick_eval=quick_config(args), budget=budget,
                              **latency_checks(args))
    config = RunConfig(model=args.model, data=args.data, weights=args.weights, baseline_epochs=args.baseline_epochs,
                       compress=compress, target=args.target, device=args.device, runs=args.runs,
                       threads=args.threads, seed=args.seed, torch_device=args.torch_device,
                       latency_goal=args.target_latency, latency_steps=latency_steps(args))
    out = args.out or f"runs/run-{args.model}"
    report = run_pipeline(config, out, resume=open_run(args, out, asdict(config)))
    if args.json:
        print_json(report)
        return 0
    stats, bench = report["stats"], report["bench"]["compressed"]
    latency = ("emulated" if bench["emulated"] else f"{bench['median_ms']:.3f} ms median "
               f"(dense {report['bench']['dense']['median_ms']:.3f} ms)")
    print(f"{report['arch']}: test accuracy {report['baseline_test_accuracy']:.4f} -> "
          f"{report['accuracy']['compacted']:.4f}, {stats['compression_rate']:.2f}x fewer weights, "
          f"{stats['mac_reduction']:.2f}x fewer MACs, "
          f"{latency} on {args.device}; report {out}/report.md")
    return 0
