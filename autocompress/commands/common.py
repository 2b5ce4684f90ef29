"""Arguments and loading steps shared by several subcommands."""
from __future__ import annotations

import argparse
import json
import sys
from torch import nn

from compress.data import Splits, load_data
from compress.models import MODELS
from compress.restore import restore_model


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
    """The model named by ``--model`` or by the checkpoint, compaction replayed, ``--weights`` loaded."""
    model, args.model = restore_model(args.weights, args.model, splits.num_classes if splits else None,
                                      splits.input_shape[0] if splits else None)
    return model


def print_json(obj: object) -> None:
    """One JSON object on stdout."""
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
