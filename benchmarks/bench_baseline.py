"""Fine-tuned baseline: ResNet-20 from the shared pretrained weights, a few epochs on the JPEG CIFAR-10 train split.

The pretrained weights lose 10 points on the lossy JPEG images (81.0% vs 91.8% on the lossless test set); a short
fine-tune recovers most of it, and later pruning results are compared with this model.

    python benchmarks/bench_baseline.py --data ../shared/data/cifar10-jpeg.tar.gz \
        --weights ../shared/data/resnet20-cifar10.pt --epochs 30 --device cuda

Writes the checkpoint to --out (default runs/resnet20-jpeg-finetune/model.pt) and
benchmarks/results/baseline_resnet20_jpeg.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from compress.checkpoint import load_weights, save_checkpoint
from compress.data import load_data
from compress.models import build_model
from compress.train import TrainConfig, evaluate, train

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--train-limit", type=int, default=None, help="train on a fixed subset (smoke runs)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    splits = load_data(args.data)
    model = build_model(args.model, splits.num_classes)
    load_weights(model, args.weights)
    before = evaluate(model.to(args.device), splits.loader("test", 500, device=args.device), args.device)
    config = TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, device=args.device,
                         threads=args.threads, train_limit=args.train_limit, progress=False)
    out = Path(args.out or f"runs/{args.model}-jpeg-finetune")
    start = time.time()
    history = train(model, splits, config, run_dir=out)
    seconds = time.time() - start
    after = evaluate(model, splits.loader("test", 500, device=args.device), args.device)
    meta = {"arch": args.model, "num_classes": splits.num_classes, "in_channels": splits.input_shape[0]}
    save_checkpoint(out / "model.pt", {**meta, "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                                       "metrics": {"test": after}, "config": asdict(config)})
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    result = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "model": args.model,
              "data": args.data, "device": device, "torch": torch.__version__, "config": asdict(config),
              "test_accuracy_before": before["accuracy"], "test_accuracy_after": after["accuracy"],
              "final_val_accuracy": history[-1].get("val_accuracy"), "train_seconds": seconds,
              "checkpoint": str(out / "model.pt"), "history": history}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"baseline_{args.model}_jpeg.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"baseline_{args.model}_jpeg.md").write_text(
        f"# Fine-tuned {args.model} baseline on JPEG CIFAR-10\n\n```\n{result['command']}\n```\n\n"
        f"| test accuracy before | after | epochs | lr | device | train time |\n|---|---|---|---|---|---|\n"
        f"| {before['accuracy']:.4f} | {after['accuracy']:.4f} | {args.epochs} | {args.lr} | {device} | "
        f"{seconds:.0f} s |\n\nTest split: the 10,000 JPEG test images. Validation ({len(splits.val)} images) is "
        "carved from train, which the pretrained weights saw: its accuracy is optimistic and only used to rank.\n")
    print(json.dumps({k: result[k] for k in ("test_accuracy_before", "test_accuracy_after", "train_seconds")}))


if __name__ == "__main__":
    main()
