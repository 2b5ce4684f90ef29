"""``autocompress info``: layers, parameters and MACs of a model."""
from __future__ import annotations

import argparse

from compress.counting import count_model
from compress.models import MODELS, get_spec

from .common import load_model, print_json

HELP = "Show a model's conv/linear layers, parameter count and multiply-accumulates per image."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=sorted(MODELS), help="registered architecture")
    parser.add_argument("--weights", help="count the zeros of these weights too (pruned checkpoints)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the per-layer table")


def run(args: argparse.Namespace) -> int:
    spec = get_spec(args.model)
    model = load_model(argparse.Namespace(model=args.model, weights=args.weights), None)
    counts = count_model(model, spec.input_shape)
    if args.json:
        print_json({"model": args.model, "input_shape": spec.input_shape, **counts.to_dict()})
        return 0
    print(f"{args.model}: {spec.description}; input {spec.input_shape}")
    print(f"{'layer':28s} {'kind':6s} {'weight shape':20s} {'weights':>10s} {'nonzero':>10s} {'MACs':>12s}")
    for layer in counts.layers:
        print(f"{layer.name:28s} {layer.kind:6s} {str(layer.weight_shape):20s} {layer.weights:10,d} "
              f"{layer.nonzero_weights:10,d} {layer.macs:12,d}")
    print(f"parameters {counts.params:,} ({counts.params / 1e6:.2f}M); conv+linear weights {counts.weights:,}; "
          f"MACs {counts.macs:,} ({counts.macs / 1e6:.1f}M); nonzero weights {counts.nonzero_weights:,} "
          f"(compression {counts.compression_rate:.2f}x)")
    return 0
