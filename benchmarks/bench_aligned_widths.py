"""Retraining throughput by layer widths: a pruned model trained as the masked dense model, compacted to its exact
widths, or compacted with widths rounded up to multiples of 16 by zero channels (``PruneBudget.align``, what the
prune sequence retrains); images per second of full training steps (``bench_precision.images_per_second``:
forward, distillation teacher forward, backward, SGD step; channels-last) on random data, fp32 and bf16 autocast,
the variants alternated in rounds so that machine noise hits all alike.

    PYTHONPATH=. python benchmarks/bench_aligned_widths.py --models resnet20 --threads 2

Writes benchmarks/results/training/aligned_widths.{json,md}.
"""
from __future__ import annotations

import copy
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_precision import cpuinfo, images_per_second, throughput_parser  # noqa: E402
from results_io import RESULTS, command, write_report  # noqa: E402
from compress.models import build_model  # noqa: E402
from compress.pruning import purify_and_compact, trace_structure  # noqa: E402
from compress.pruning.plan import (FILTER_SCHEMES, LayerRate, layer_weights, project_masks,  # noqa: E402
                                   removed_channels, uniform_rates)

SCHEMES = {"filter+column 4x": ("filter+column", LayerRate(filter=0.367, column=0.367)),
           "column 4x": ("column", LayerRate(column=0.72))}  # the uniform rates of the 4x rows in accuracy.md
PRECISIONS = ("fp32 NHWC", "bf16 NHWC")


def variants(name: str, scheme: str, rate: LayerRate) -> dict[str, nn.Module]:
    """The same hard-pruned model three ways: masked dense, exact widths, widths aligned to 16."""
    torch.manual_seed(0)
    model = build_model(name)
    structure = trace_structure(model, (3, 32, 32))
    rates = uniform_rates(structure, rate)
    weights = layer_weights(model)
    spare = removed_channels(structure, weights, rates) if scheme in FILTER_SCHEMES else {}
    project_masks(structure, weights, scheme, rates).apply(model)
    x = torch.randn(8, 3, 32, 32)
    return {"masked dense": model, "exact widths": purify_and_compact(model, structure, x).model,
            "aligned to 16": purify_and_compact(model, structure, x, spare=spare, multiple=16).model}


def widths(model: nn.Module) -> str:
    return "/".join(str(w) for w in sorted({m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)}))


def main(argv: list[str] | None = None) -> int:
    args = throughput_parser(__doc__, ["resnet20"], 8, RESULTS / "training" / "aligned_widths").parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        teacher = build_model(name).eval()
        for label, (scheme, rate) in SCHEMES.items():
            models = variants(name, scheme, rate)
            runs = {(v, prec): [] for prec in PRECISIONS for v in models}
            for _ in range(args.rounds):
                for v, prec in runs:
                    runs[v, prec].append(images_per_second(copy.deepcopy(models[v]).train(), teacher, (3, 32, 32),
                                                           prec, args.batch, args.steps))
            for v, model in models.items():
                rows.append({"model": name, "pruning": label, "variant": v, "widths": widths(model),
                             **{prec: statistics.median(runs[v, prec]) for prec in PRECISIONS},
                             "all": {prec: runs[v, prec] for prec in PRECISIONS}})
    cpu = cpuinfo()
    report = {"command": command(), "processor": cpu.get("model name", ""), "threads": args.threads, "rows": rows}
    lines = ["# Retraining throughput: masked dense vs exact widths vs widths aligned to 16", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {report['processor']}, {args.threads} threads, torch {torch.__version__}. Images per second of "
             f"full training steps at batch {args.batch} (distillation teacher's forward included, channels-last), "
             f"median of {args.rounds} alternated rounds of {args.steps} steps; aligned / exact in brackets.", "",
             "| model | pruning | variant | conv widths | fp32 | bf16 |", "| --- | --- | --- | --- | ---: | ---: |"]
    for r in rows:
        exact = next(e for e in rows if e["pruning"] == r["pruning"] and e["model"] == r["model"]
                     and e["variant"] == "exact widths")
        cells = [f"{r[prec]:.0f}" + (f" ({r[prec] / exact[prec]:.2f}x)" if r["variant"] == "aligned to 16" else "")
                 for prec in PRECISIONS]
        lines.append(f"| {r['model']} | {r['pruning']} | {r['variant']} | {r['widths']} | {' | '.join(cells)} |")
    write_report(args.out, report, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
