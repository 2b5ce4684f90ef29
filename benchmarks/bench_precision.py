"""Training throughput by arithmetic and memory layout: fp32 against bfloat16 autocast, NCHW (contiguous)
against channels-last NHWC weights and images (``TrainConfig.channels_last``); images per second of full
training steps (forward, distillation teacher forward, backward, SGD step) on random data, the variants
alternated in rounds so that machine noise hits all alike. Also says what ``--precision auto`` picks here.

    PYTHONPATH=. python benchmarks/bench_precision.py --models resnet20 small_cnn mobilenetv2 vgg16 --threads 2

Writes benchmarks/results/training/precision.{json,md}.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_io import RESULTS, command, write_report  # noqa: E402
from compress.models import build_model  # noqa: E402
from compress.precision import autocast, native_bf16, resolve  # noqa: E402
from compress.train import Distillation, memory_layout  # noqa: E402

SHAPES = {"small_cnn": (1, 8, 8)}
VARIANTS = {"fp32 NCHW": ("fp32", False), "fp32 NHWC": ("fp32", True), "bf16 NCHW": ("bf16", False),
            "bf16 NHWC": ("bf16", True)}  # name: (precision, channels_last)


def images_per_second(model, teacher, shape: tuple, variant: str, batch: int, steps: int) -> float:
    """Throughput of ``steps`` training steps after two untimed ones."""
    precision, channels_last = VARIANTS[variant]
    with memory_layout([model, teacher], channels_last):
        return _images_per_second(model, teacher, shape, precision, channels_last, batch, steps)


def _images_per_second(model, teacher, shape: tuple, precision: str, channels_last: bool, batch: int,
                       steps: int) -> float:
    x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
    x = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    distill = Distillation(teacher)

    def step() -> None:
        with autocast("cpu", precision):
            logits = model(x)
            loss = distill.loss(x, logits, F.cross_entropy(logits.float(), y))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo (empty elsewhere)."""
    path = Path("/proc/cpuinfo")
    block = path.read_text().split("\n\n")[0] if path.is_file() else ""
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines()) if v}


def throughput_parser(doc: str, models: list[str], steps: int, out: Path) -> argparse.ArgumentParser:
    """The options of a training-throughput benchmark: models, threads, batch, steps per round, rounds, output."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--models", nargs="+", default=models)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=str(out))
    return p


def main(argv: list[str] | None = None) -> int:
    parser = throughput_parser(__doc__, ["resnet20", "small_cnn"], 10, RESULTS / "training" / "precision")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        shape = SHAPES.get(name, (3, 32, 32))
        model = build_model(name, in_channels=shape[0])
        teacher = copy.deepcopy(model).eval()
        rates = {variant: [] for variant in VARIANTS}
        for _ in range(args.rounds):
            for variant in rates:
                rates[variant].append(images_per_second(model, teacher, shape, variant, args.batch, args.steps))
        rows.append({"model": name, "images_per_s": {v: statistics.median(r) for v, r in rates.items()},
                     "all": rates})
    cpu = cpuinfo()
    flags = cpu.get("flags", "").split()
    machine = {"processor": cpu.get("model name", platform.machine()), "native_bf16": native_bf16("cpu"),
               "avx512_bf16_flag": "avx512_bf16" in flags, "amx_bf16_flag": "amx_bf16" in flags,
               "auto_picks": resolve("cpu", "auto"), "threads": args.threads, "torch": torch.__version__}
    report = {"command": command(), "machine": machine, "rows": rows}
    lines = ["# Training throughput: fp32 vs bfloat16 autocast, NCHW vs channels-last (CPU)", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {machine['processor']}, {args.threads} threads, torch {machine['torch']}; avx512_bf16 "
             f"{'yes' if machine['avx512_bf16_flag'] else 'no'}, amx_bf16 {'yes' if machine['amx_bf16_flag'] else 'no'}"
             f"; `--precision auto` picks **{machine['auto_picks']}** here.", "",
             f"Images per second of full training steps at batch {args.batch} (with a distillation teacher's forward "
             f"pass), median of {args.rounds} alternated rounds of {args.steps} steps.", "",
             "| model | " + " | ".join(VARIANTS) + " | NHWC / NCHW (fp32) | bf16 / fp32 (NHWC) |",
             "| --- |" + " --- |" * (len(VARIANTS) + 2)]
    for r in rows:
        ips = r["images_per_s"]
        lines.append(f"| {r['model']} | " + " | ".join(f"{ips[v]:.0f}" for v in VARIANTS) +
                     f" | {ips['fp32 NHWC'] / ips['fp32 NCHW']:.2f} | {ips['bf16 NHWC'] / ips['fp32 NHWC']:.2f} |")
    write_report(args.out, report, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
