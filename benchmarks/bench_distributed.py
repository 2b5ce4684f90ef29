"""Data-parallel overhead: wall time per training epoch of ``autocompress train`` in one process against
``torchrun --nproc-per-node N`` (gloo on CPU), same global batch, same total threads (one process with
``--threads T`` against N processes with T / N each). Random 32x32 RGB images stand in for CIFAR: the time of a
step does not depend on the pixels.

    PYTHONPATH=. python benchmarks/bench_distributed.py --model resnet20 --processes 2 --threads 2

On one CPU the processes share the cores one process would use, so the best to hope for is parity; what it
measures is the cost of DDP's gradient all-reduce, the per-epoch weight broadcast and the validation pass every
rank repeats. On a machine with one GPU per process each rank computes 1/N of every batch, and ResNet-20's
0.27 M gradients all-reduce in well under a millisecond over NVLink, so epochs should approach N times faster.

Writes benchmarks/results/training/distributed.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_io import RESULTS, ROOT, command, write_report  # noqa: E402


def fake_cifar(path: Path, images: int, seed: int = 0) -> Path:
    """An .npz of random 32x32 RGB training and test images with 10 classes."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (images, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, images).astype(np.int64)
    np.savez(path, x_train=x, y_train=y, x_test=x[:256], y_test=y[:256])
    return path


def run_training(processes: int, threads: int, flags: list[str], out: Path) -> dict:
    """One ``autocompress train`` run; its wall time and per-epoch seconds."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"] if processes > 1 else []
    cmd = [sys.executable, *launcher, "-m", "autocompress", "train", *flags, "--threads", str(threads),
           "--out", str(out), "--no-progress"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(threads)}, check=True,
                   capture_output=True, timeout=24 * 3600)
    wall = time.perf_counter() - t0
    epochs = [h["seconds"] for h in json.loads((out / "report.json").read_text())["history"]]
    return {"processes": processes, "threads_each": threads, "wall_seconds": wall, "epoch_seconds": epochs,
            "median_epoch_seconds": statistics.median(epochs[1:] or epochs)}  # epoch 1 pays the warm-up


def markdown(report: dict) -> str:
    """The result table, one row per process count."""
    rows = report["rows"]
    title = f"# Data-parallel training overhead: {report['model']}, 1 vs {rows[-1]['processes']} processes"
    lines = [f"{title} (CPU, gloo)", "", f"Command: `{report['command']}`", "",
             f"{report['images']} random 32x32 images per epoch, global batch {report['batch_size']}, "
             f"{report['threads']} threads in all; median epoch after the first.", "",
             "| processes | threads each | median s / epoch | wall s (with start-up) |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['processes']} | {r['threads_each']} | {r['median_epoch_seconds']:.2f} | {r['wall_seconds']:.1f} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="total CPU threads, shared out over the processes")
    p.add_argument("--images", type=int, default=5000, help="training images per epoch")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128, help="the global batch")
    p.add_argument("--out", default=str(RESULTS / "training" / "distributed"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        data = fake_cifar(Path(tmp) / "data.npz", args.images)
        flags = ["--model", args.model, "--data", str(data), "--epochs", str(args.epochs), "--batch-size",
                 str(args.batch_size), "--val-fraction", "0.05"]
        rows = [run_training(n, max(args.threads // n, 1), flags, Path(tmp) / f"run-{n}")
                for n in (1, args.processes)]
    report = {"command": command(), "model": args.model, "images": args.images, "batch_size": args.batch_size,
              "threads": args.threads, "rows": rows}
    text = markdown(report)
    write_report(args.out, report, text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
