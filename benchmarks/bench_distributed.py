"""Data-parallel overhead: wall time per training epoch of ``autocompress train``, and of one ``autocompress search``
from the trained weights, in one process against ``torchrun --nproc-per-node N`` (gloo on CPU), same global
batch, same total threads (one process with ``--threads T`` against N processes with T / N each); the searches
must choose the same rates. Random 32x32 RGB images stand in for CIFAR: the time of a step does not depend on
the pixels.

    PYTHONPATH=. python benchmarks/bench_distributed.py --model resnet20 --processes 2 --threads 2

On one CPU the processes share the cores one process would use, so the best to hope for is parity; what it
measures is the cost of DDP's gradient all-reduce, the per-epoch weight broadcast and the validation pass every
rank repeats, and for the search the gather of each round of candidate scores. On a machine with one GPU per
process each rank computes 1/N of every batch, and ResNet-20's 0.27 M gradients all-reduce in well under a
millisecond over NVLink, so epochs should approach N times faster; a search, whose candidates are scored
independently, N times faster too.

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


def autocompress(processes: int, threads: int, args: list[str]) -> str:
    """stdout of ``autocompress ARGS --threads T``: in this process's interpreter, under torchrun when N > 1."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"] if processes > 1 else []
    done = subprocess.run([sys.executable, *launcher, "-m", "autocompress", *args, "--threads", str(threads)],
                          cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(threads)}, check=True,
                          capture_output=True, text=True, timeout=24 * 3600)
    return done.stdout


def run_training(processes: int, threads: int, flags: list[str], out: Path) -> dict:
    """One ``autocompress train`` run; its wall time and per-epoch seconds."""
    t0 = time.perf_counter()
    autocompress(processes, threads, ["train", *flags, "--out", str(out), "--no-progress"])
    wall = time.perf_counter() - t0
    epochs = [h["seconds"] for h in json.loads((out / "report.json").read_text())["history"]]
    return {"processes": processes, "threads_each": threads, "wall_seconds": wall, "epoch_seconds": epochs,
            "median_epoch_seconds": statistics.median(epochs[1:] or epochs)}  # epoch 1 pays the warm-up


def run_search(processes: int, threads: int, flags: list[str], weights: Path) -> dict:
    """One ``autocompress search`` from ``weights`` (``--json``): its wall time and the rates it chose."""
    t0 = time.perf_counter()
    result = json.loads(autocompress(processes, threads, ["search", *flags, "--weights", str(weights), "--json",
                                                          "--no-progress"]))
    return {"processes": processes, "threads_each": threads, "wall_seconds": time.perf_counter() - t0,
            "search_seconds": result["seconds"], "evaluations": result["evaluations"], "rates": result["rates"]}


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
    searches = report["searches"]
    lines += ["", f"Search from the 1-process run's weights: target {report['search_target']}x weights, "
              f"{searches[0]['evaluations']} quick evaluations of {report['search_images']} validation images; "
              f"the same rates chosen: {'yes' if report['same_rates'] else 'NO'}.", "",
              "| processes | threads each | search s | wall s (with start-up) |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['processes']} | {r['threads_each']} | {r['search_seconds']:.1f} | {r['wall_seconds']:.1f} |"
              for r in searches]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="total CPU threads, shared out over the processes")
    p.add_argument("--images", type=int, default=5000, help="training images per epoch")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128, help="the global batch")
    p.add_argument("--candidates", type=int, default=40, help="search candidates")
    p.add_argument("--search-images", type=int, default=500, help="validation images per quick evaluation")
    p.add_argument("--out", default=str(RESULTS / "training" / "distributed"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        data = fake_cifar(Path(tmp) / "data.npz", args.images)
        flags = ["--model", args.model, "--data", str(data), "--epochs", str(args.epochs), "--batch-size",
                 str(args.batch_size), "--val-fraction", "0.05"]
        rows = [run_training(n, max(args.threads // n, 1), flags, Path(tmp) / f"run-{n}")
                for n in (1, args.processes)]
        search_flags = ["--data", str(data), "--val-fraction", "0.1", "--target-rate", "4", "--candidates",
                        str(args.candidates), "--val-images", str(args.search_images)]
        searches = [run_search(n, max(args.threads // n, 1), search_flags, Path(tmp) / "run-1" / "model.pt")
                    for n in (1, args.processes)]
    report = {"command": command(), "model": args.model, "images": args.images, "batch_size": args.batch_size,
              "threads": args.threads, "rows": rows, "searches": searches, "search_target": 4,
              "search_images": args.search_images, "same_rates": searches[0]["rates"] == searches[-1]["rates"]}
    text = markdown(report)
    write_report(args.out, report, text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
