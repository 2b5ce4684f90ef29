"""Arguments and loading steps shared by several subcommands."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from torch import nn

from compress.checkpoint import load_checkpoint, load_weights
from compress.data import Splits, load_data
from compress.models import MODELS, build_model


def add_model_args(parser: argparse.ArgumentParser, default: str | None = "small_cnn") -> None:
    parser.add_argument("--model", default=default, choices=sorted(MODELS),
                        help="architecture; taken from the checkpoint when --weights is one of ours")
    parser.add_argument("--weights", help="a checkpoint (.pt) of ours or a plain state_dict")


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="digits",
                        help="'digits' (embedded), a CIFAR-10 python folder, an image-folder tree or .tar/.tar.gz "
                             "of one (train/<class>/, test/<class>/), or an .npz")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of train held out for validation")
    parser.add_argument("--seed", type=int, default=0, help="seed for splits, shuffling and initial weights")


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    parser.add_argument("--device", default="cpu", help="torch device for training/evaluation: cpu or cuda")


def load_splits(args: argparse.Namespace) -> Splits:
    return load_data(args.data, val_fraction=args.val_fraction, seed=args.seed)


def load_model(args: argparse.Namespace, splits: Splits | None = None) -> nn.Module:
    """Build the model (architecture from the checkpoint if it names one) and load ``--weights``."""
    checkpoint: dict[str, Any] = load_checkpoint(args.weights) if args.weights else {}
    name = checkpoint.get("arch", args.model)
    num_classes = checkpoint.get("num_classes", splits.num_classes if splits else 10)
    in_channels = checkpoint.get("in_channels", splits.input_shape[0] if splits else None)
    model = build_model(name, num_classes=num_classes, in_channels=in_channels)
    if args.weights:
        load_weights(model, args.weights)
    args.model = name
    return model


def print_json(obj: Any) -> None:
    """One JSON object on stdout."""
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
