"""Per-layer kernel benchmark: the column-pruned kernel at keep ratios 1/2, 1/4, 1/8 of the columns against our
dense kernel on the same layer (goal: time at keep ratio r <= 1.5 x r x dense time), with GFLOP/s on useful MACs
(kept weights only), for representative ResNet and VGG layer shapes. Single thread, host, in process: each kernel
is the PrimFunc that ``compile_model`` emits for such a layer, timed with TVM's time_evaluator (min over repeats).
Kept columns are a seeded random subset of exactly round(r x columns); every kernel is checked against torch.

    PYTHONPATH=. python benchmarks/bench_kernels.py [--tiles]

Writes benchmarks/results/kernels/kernels.{json,md} (``--tiles``: kernel_tiles.{json,md}, 8 vs 12 accumulators, dense).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
import tvm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_io import RESULTS, command, write_report  # noqa: E402
from codegen.kernels import RELU, choose_tile, conv_kernel, pack  # noqa: E402
from codegen.structure import conv_spec  # noqa: E402
from codegen.targets import get_target  # noqa: E402

LAYERS = {  # name: (in channels, image side, filters, stride)
    "resnet20 stage1 16x32x32": (16, 32, 16, 1),
    "resnet20 stage2 32x16x16": (32, 16, 32, 1),
    "resnet20 stage3 64x8x8": (64, 8, 64, 1),
    "resnet20 down 16->32 s2": (16, 32, 32, 2),
    "vgg16 conv2 64x32x32": (64, 32, 64, 1),
    "vgg16 conv4 128x16x16": (128, 16, 128, 1),
    "vgg16 conv7 256x8x8": (256, 8, 256, 1),
    "resnet18 layer4 512x4x4": (512, 4, 512, 1),
}
KEEPS = (1.0, 0.5, 0.25, 0.125)


def layer_weight(c: int, f: int, keep: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((f, c, 3, 3)).astype(np.float32)
    columns = c * 9
    kept = rng.permutation(columns)[:max(1, round(keep * columns))]
    mask = np.zeros(columns, bool)
    mask[kept] = True
    return weight * mask.reshape(1, c, 3, 3)


def time_kernel(weight: np.ndarray, side: int, stride: int, accumulators: int, runs: int) -> dict:
    """Compile, check against torch and time one layer (bias + ReLU epilogue)."""
    host = get_target("host")
    lanes, registers = host.vector_shape()
    c = weight.shape[1]
    spec = conv_spec(weight, (c, side, side), (stride, stride), (1, 1, 1, 1), False, RELU)
    tile = choose_tile(spec.pixels, lanes, registers, accumulators)
    bias = np.zeros(spec.filters, np.float32)
    packed = pack(spec, tile, weight, bias)
    out_shape = (1, spec.filters, spec.out_height, spec.out_width)
    func = conv_kernel(spec, tile, "layer", packed.zero_bias, (1, c, side, side), out_shape)
    module = tvm.compile(tvm.IRModule({"layer": func}), target=host.tvm_target()).mod
    x = np.random.default_rng(1).standard_normal((1, c, side, side)).astype(np.float32)
    args = [tvm.runtime.tensor(a) for a in (x, *packed.arrays, np.zeros(out_shape, np.float32))]
    module["layer"](*args)
    want = torch.relu(torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight), None, stride, 1))
    error = float(np.abs(args[-1].numpy() - want.numpy()).max())
    seconds = min(module.time_evaluator("layer", tvm.cpu(), number=max(1, runs // 5), repeat=5)(*args).results)
    return {"taps": len(spec.taps), "total_taps": spec.total_taps, "useful_macs": spec.useful_macs,
            "tile": [tile.mode, tile.block, tile.width], "runs": len(spec.runs), "straight_line": spec.straight_line,
            "us": round(seconds * 1e6, 2), "useful_gflops": round(2 * spec.useful_macs / seconds / 1e9, 1),
            "max_abs_error": error}


def keep_rows(args) -> list[dict]:
    rows = []
    for name, (c, side, f, stride) in LAYERS.items():
        dense = None
        for keep in KEEPS:
            row = {"layer": name, "keep": keep, **time_kernel(layer_weight(c, f, keep, args.seed), side, stride,
                                                                args.accumulators, args.runs)}
            dense = dense or row["us"]
            row["ratio_to_dense"] = round(row["us"] / dense, 3)
            row["bound"] = round(1.5 * keep, 3)
            row["within_bound"] = keep == 1.0 or row["ratio_to_dense"] <= row["bound"]
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("layer", "keep", "us", "ratio_to_dense", "useful_gflops")}),
                  flush=True)
    return rows


def tile_rows(args) -> list[dict]:
    rows = []
    for name, (c, side, f, stride) in LAYERS.items():
        weight = layer_weight(c, f, 1.0, args.seed)
        for accumulators in (8, 12):
            rows.append({"layer": name, "accumulators": accumulators,
                         **time_kernel(weight, side, stride, accumulators, args.runs)})
            print(json.dumps({k: rows[-1][k] for k in ("layer", "accumulators", "tile", "us")}), flush=True)
    return rows


def keep_markdown(report: dict) -> str:
    lines = [_head("Column-pruned vs dense kernel, per layer", report),
             "| layer | keep r | kept / total columns | time (us) | time / dense | bound 1.5 r | within | useful GFLOP/s "
             "| tile |", "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for r in report["rows"]:
        lines.append(f"| {r['layer']} | {r['keep']:g} | {r['taps']} / {r['total_taps']} | {r['us']:.1f} | "
                     f"{r['ratio_to_dense']:.2f} | {r['bound']:g} | {'yes' if r['within_bound'] else 'NO'} | "
                     f"{r['useful_gflops']:.0f} | {'x'.join(map(str, r['tile']))} |")
    within = sum(r["within_bound"] for r in report["rows"] if r["keep"] < 1)
    total = sum(r["keep"] < 1 for r in report["rows"])
    lines += ["", f"{within} of {total} pruned layer kernels are within 1.5 x r x dense time.", ""]
    return "\n".join(lines)


def tile_markdown(report: dict) -> str:
    lines = [_head("Register tiles: 8 vs 12 vector accumulators (dense layers)", report),
             "| layer | accumulators | tile | time (us) |", "| --- | ---: | --- | ---: |"]
    lines += [f"| {r['layer']} | {r['accumulators']} | {'x'.join(map(str, r['tile']))} | {r['us']:.1f} |"
              for r in report["rows"]]
    return "\n".join(lines) + "\n"


def _head(title: str, report: dict) -> str:
    return (f"# {title}\n\nCommand: `{report['command']}`\n\nMachine: {report['machine']}, LLVM CPU "
            f"{report['cpu']}; TVM {report['tvm']}. Single thread, min over 5 repeats. Tile = mode x filters x "
            "pixels per micro-kernel.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", action="store_true", help="compare 8 and 12 accumulators instead")
    parser.add_argument("--accumulators", type=int, default=12)
    parser.add_argument("--runs", type=int, default=50, help="kernel calls per timing (split in 5 repeats)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = tile_rows(args) if args.tiles else keep_rows(args)
    report = {"command": command(),
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
              "cpu": get_target("host").llvm.get("mcpu", "generic"), "tvm": tvm.__version__, "rows": rows}
    text = tile_markdown(report) if args.tiles else keep_markdown(report)
    print(f"wrote {write_report(RESULTS / 'kernels' / ('kernel_tiles' if args.tiles else 'kernels'), report, text)}")


if __name__ == "__main__":
    main()
