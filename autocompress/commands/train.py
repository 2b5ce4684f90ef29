"""``autocompress train``: train or fine-tune a model, checkpointing every epoch."""
from __future__ import annotations

import argparse
from dataclasses import asdict, fields
from pathlib import Path

from compress.checkpoint import save_checkpoint
from compress.files import write_json
from compress.run_folder import record_config
from compress.train import SCHEDULES, TrainConfig, evaluate, setup_torch, train

from .argtypes import COUNT, FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT
from .common import (add_model_data_args, add_precision_arg, add_run_args, load_model, load_splits, open_run,
                     print_json, run_inputs)

FLAG_TYPES = {"epochs": COUNT, "lr": POSITIVE, "momentum": FRACTION, "weight_decay": NON_NEGATIVE,
              "batch_size": POSITIVE_INT, "label_smoothing": FRACTION, "warmup_epochs": NON_NEGATIVE,
              "train_limit": POSITIVE_INT}  # the TrainConfig fields with a flag of their own
HELP = "Train (or fine-tune from --weights) a model; writes last.pt every epoch and model.pt + report.json at the end."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_data_args(parser)
    defaults = TrainConfig()
    for name, kind in FLAG_TYPES.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(defaults, name))
    parser.add_argument("--schedule", default=defaults.schedule, choices=SCHEDULES)
    add_precision_arg(parser)
    add_run_args(parser, "train", resume="continue from OUT/last.pt")


def run(args: argparse.Namespace) -> int:
    splits = load_splits(args)
    setup_torch(args.seed, args.threads)  # --seed fixes the initial weights too, whatever ran before
    model = load_model(args, splits)
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)
                            if hasattr(args, f.name)}, device=args.torch_device, progress=not args.no_progress)
    out = Path(args.out or f"runs/train-{args.model}")
    settings = {**run_inputs(args, splits), **asdict(config)}
    resume = open_run(args, out, settings)
    record_config(out, settings)
    meta = {"arch": args.model, "num_classes": splits.num_classes, "in_channels": splits.input_shape[0]}
    history = train(model, splits, config, run_dir=out, resume=resume, extra=meta)
    test = evaluate(model, splits.loader("test", 256, device=config.device), config.device)
    report = {**meta, "data": splits.source, "config": asdict(config), "history": history,
              "test_accuracy": test["accuracy"], "test_n": test["n"],
              "train_seconds": sum(h["seconds"] for h in history)}
    save_checkpoint(out / "model.pt", {**meta, "state_dict": model.state_dict(), "metrics": {"test": test},
                                       "config": asdict(config)})
    write_json(out / "report.json", report)
    if args.json:
        print_json(report)
    else:
        print(f"{args.model}: test accuracy {test['accuracy']:.4f} after {len(history)} epochs; "
              f"checkpoint {out / 'model.pt'}")
    return 0
