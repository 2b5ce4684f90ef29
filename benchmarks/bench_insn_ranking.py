"""Does the qemu instruction count rank kernels like native time does? For a few ResNet-20 and VGG-16 layer
shapes (conv + BatchNorm + ReLU, batch 1), three variants each: our dense kernel, our kernel at half of the columns
(random, seeded), and TVM's unscheduled lowering of the dense layer. Native: host single-thread median ms of the
x86 executable; emulated: AArch64 instructions per inference of the ARM64 executable under qemu (repeated twice to
show it repeats). Every executable is checked against onnxruntime first.

    PYTHONPATH=. python benchmarks/bench_insn_ranking.py

Writes benchmarks/results/latency/insn_ranking.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from results_io import RESULTS, command, write_report  # noqa: E402
from codegen import compile_model  # noqa: E402
from latency.variants import calibrate  # noqa: E402
from runtime import get_device  # noqa: E402
from runtime.insn_count import instructions_per_inference  # noqa: E402

LAYERS = {"resnet20 16x32x32": (16, 32), "resnet20 64x8x8": (64, 8), "vgg16 128x16x16": (128, 16)}
VARIANTS = ("dense", "half columns", "unscheduled")


def layer(channels: int, side: int, half: bool) -> tuple[nn.Module, tuple[int, ...]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
    if half:
        keep = torch.rand(channels, 3, 3, generator=torch.Generator().manual_seed(1)) < 0.5
        with torch.no_grad():
            model[0].weight *= keep
    shape = (1, channels, side, side)
    return calibrate(model, shape), shape


def measure(name: str, variant: str, work: Path) -> dict:
    channels, side = LAYERS[name]
    model, shape = layer(channels, side, variant == "half columns")
    schedule = "none" if variant == "unscheduled" else "auto"
    tag = f"{name.replace(' ', '-')}-{variant.replace(' ', '-')}"
    host = compile_model(model, "host", work / f"{tag}-host", input_shape=shape, name="layer", schedule=schedule)
    arm = compile_model(model, "linux-aarch64", work / f"{tag}-arm", input_shape=shape, name="layer",
                        schedule=schedule)
    native = get_device("host").bench(host, runs=50, warmup=5)
    get_device("qemu").bench(arm, runs=1, warmup=0)  # numerics on ARM64 before counting
    counts = [instructions_per_inference(arm.binary, runs=2).instructions for _ in range(2)]
    row = {"layer": name, "variant": variant, "native_ms": native.median_ms, "instructions": counts[0],
           "repeat_difference": abs(counts[1] - counts[0]) / counts[0]}
    print(json.dumps(row), flush=True)
    return row


def ranks(values: list[float]) -> list[int]:
    return [sorted(values).index(v) for v in values]


def markdown(report: dict) -> str:
    lines = ["# Emulated instruction counts vs native time: do they rank kernels the same way?", "",
             f"Command: `{report['command']}`", "",
             "Native: x86 host, one thread, median of 50 runs. Emulated: AArch64 instructions per inference under "
             "qemu-aarch64 (our TCG plugin), the same layer compiled for linux-aarch64.", "",
             "| layer | variant | native (ms) | AArch64 instructions | repeat difference | native rank | emulated rank |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in LAYERS:
        rows = [r for r in report["rows"] if r["layer"] == name]
        native, emulated = ranks([r["native_ms"] for r in rows]), ranks([r["instructions"] for r in rows])
        for r, a, b in zip(rows, native, emulated):
            lines.append(f"| {name} | {r['variant']} | {r['native_ms']:.4f} | {r['instructions']:,} | "
                         f"{r['repeat_difference']:.2e} | {a + 1} | {b + 1} |")
    lines += ["", f"Same order on every layer: {'yes' if report['same_order'] else 'NO'}.", ""]
    return "\n".join(lines)


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-insn-") as tmp:
        rows = [measure(name, variant, Path(tmp)) for name in LAYERS for variant in VARIANTS]
    same = all(ranks([r["native_ms"] for r in rows if r["layer"] == n]) ==
               ranks([r["instructions"] for r in rows if r["layer"] == n]) for n in LAYERS)
    report = {"command": command(), "rows": rows, "same_order": same}
    write_report(RESULTS / "latency" / "insn_ranking", report, markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
