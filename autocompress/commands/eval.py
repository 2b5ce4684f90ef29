"""``autocompress eval``: accuracy of a model on a data split."""
from __future__ import annotations

import argparse

from compress.train import evaluate, setup_torch

from .argtypes import POSITIVE_INT
from .common import add_model_data_args, load_model, load_splits, print_json

HELP = "Evaluate a model's accuracy on the test (or validation) split."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_data_args(parser)
    parser.add_argument("--split", default="test", choices=("test", "val", "train"), help="which split to score")
    parser.add_argument("--batch-size", type=POSITIVE_INT, default=256)
    parser.add_argument("--limit", type=POSITIVE_INT, default=None,
                        help="score a fixed seeded subset of this many images")
    parser.add_argument("--json", action="store_true", help="print one JSON object (accuracy as a fraction, n, loss)")


def run(args: argparse.Namespace) -> int:
    setup_torch(args.seed, args.threads)
    splits = load_splits(args)
    model = load_model(args, splits).to(args.torch_device)
    result = evaluate(model, splits.loader(args.split, args.batch_size, limit=args.limit, device=args.torch_device),
                      args.torch_device)
    result |= {"model": args.model, "split": args.split, "data": splits.source}
    if args.json:
        print_json(result)
    else:
        print(f"{args.model} on {splits.source} [{args.split}]: accuracy {result['accuracy']:.4f} "
              f"({result['n']} images), loss {result['loss']:.4f}")
    return 0
