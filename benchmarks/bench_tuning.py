"""The on-device kernel tuner (``latency.tuning``, ``autocompress compile --tune``): per layer, the tile setting it
picks and the cost it measured against the fixed rule's (``codegen.kernels.choose_tile``), and the whole model's
gain, predicted from the per-kernel measurements and measured on the final build against the fixed rule's build.

Under qemu costs are executed AArch64 instructions per inference (exact per kernel; a proxy for latency, not a
latency); on the host, milliseconds (median of 30 timed runs, the fastest of 3 processes, one thread). Every build
is checked against onnxruntime before it is measured. Each row tunes from an empty cache. "pruned" is
``bench_arm64.py``'s: 50% of the filters and 40% of the remaining columns of every conv removed, then compacted.

    PYTHONPATH=. python benchmarks/bench_tuning.py
    PYTHONPATH=. python benchmarks/bench_tuning.py --devices qemu --out /tmp/tuning   # one device
    PYTHONPATH=. python benchmarks/bench_tuning.py --devices host --rows vgg16:dense --out /tmp/tuning_vgg

Writes benchmarks/results/kernels/tuning.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_arm64 import VARIANTS  # noqa: E402
from results_io import RESULTS, command, write_report  # noqa: E402
from compress.models import MODELS  # noqa: E402
from latency.tuning import Tuned, tune  # noqa: E402
from latency.variants import variant  # noqa: E402
from runtime import get_device  # noqa: E402

ROWS = ("resnet20:dense", "resnet20:pruned")  # the default rows; --rows takes any registry model:variant
DEVICES = ("qemu", "host")


def row_name(text: str) -> str:
    """A --rows entry: a registry model and a variant of ``VARIANTS``."""
    name, _, kind = text.partition(":")
    if name not in MODELS or kind not in VARIANTS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MODEL:VARIANT with MODEL one of {', '.join(MODELS)} "
                                         f"and VARIANT one of {', '.join(VARIANTS)}")
    return text


def tune_row(device: str, row: str, work: Path) -> dict:
    name, kind = row.split(":")
    model, shape = variant(name, *VARIANTS[kind])
    folder = work / f"{device}-{name}-{kind}"
    tuned = tune(model, get_device(device), folder / "build", input_shape=shape, name=name, cache=folder / "cache")
    result = {"device": device, "row": row, **summary(tuned)}
    print(json.dumps({k: v for k, v in result.items() if k != "layers"}), flush=True)
    return result


def summary(tuned: Tuned) -> dict:
    """The row's numbers: the candidates, each layer's pick and costs, the whole costs and gains."""
    labels = tuned.labels
    layers = [{"kernel": layer["kernel"], "pick": labels[layer["pick"]], "tile": layer["tiles"][layer["pick"]],
               "fixed": layer["costs"][0], "tuned": layer["costs"][layer["pick"]]} for layer in tuned.record["layers"]]
    return {"unit": tuned.unit, "candidates": labels, "candidate_wholes": tuned.record["candidate_wholes"],
            "fixed_whole": tuned.fixed_whole, "predicted_whole": tuned.predicted_whole,
            "baseline_whole": tuned.baseline, "tuned_whole": tuned.whole,
            "predicted_gain": 1 - tuned.predicted_whole / tuned.fixed_whole,
            "measured_gain": 1 - tuned.whole / tuned.baseline, "layers": layers}


def markdown(report: dict) -> str:
    lines = ["# On-device kernel tuning: tuned tiles vs the fixed rule", "", f"Command: `{report['command']}`", "",
             "Candidates (one whole-model build each, the fixed rule first): on NEON (qemu) "
             f"{', '.join(_candidates(report, 'qemu'))}; "
             f"on the host (AVX-512) {', '.join(_candidates(report, 'host'))}. "
             "Predicted: the fixed rule's whole cost while tuning, less each layer's saving as measured per kernel. "
             "Measured: the final build's whole cost against the fixed rule's build measured in alternation with it "
             "(on the host; under qemu, whose counts repeat, the count while tuning). Gain: 1 - tuned / fixed rule.",
             "", "| device | model | unit | fixed rule, tuning | tuned, predicted | gain predicted | "
             "fixed rule, beside the final build | tuned, measured | gain measured | layers not on the fixed rule |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        moved = sum(layer["pick"] != "fixed rule" for layer in r["layers"])
        lines.append(f"| {r['device']} | {r['row']} | {_unit(r)} | {_cost(r, r['fixed_whole'])} | "
                     f"{_cost(r, r['predicted_whole'])} | {r['predicted_gain']:.1%} | "
                     f"{_cost(r, r['baseline_whole'])} | "
                     f"{_cost(r, r['tuned_whole'])} | {r['measured_gain']:.1%} | {moved} of {len(r['layers'])} |")
    if report.get("note"):
        lines += ["", report["note"]]
    for r in report["rows"]:
        lines += ["", f"## {r['device']}, {r['row']} ({_unit(r)})", "",
                  "| layer | pick | tile (mode, filters x pixels, lane FMA, taps per iteration, taps per block, prefetch "
                  "taps ahead) | fixed rule | tuned | change |", "| --- | --- | --- | ---: | ---: | ---: |"]
        lines += [f"| {layer['kernel']} | {layer['pick']} | {' '.join(map(str, layer['tile']))} | "
                  f"{_cost(r, layer['fixed'])} | {_cost(r, layer['tuned'])} | "
                  f"{layer['tuned'] / layer['fixed'] - 1:+.1%} |"
                  for layer in r["layers"]]
    return "\n".join(lines) + "\n"


def _candidates(report: dict, device: str) -> list[str]:
    return next((r["candidates"] for r in report["rows"] if r["device"] == device), ["not run"])


def _unit(row: dict) -> str:
    return "ms" if row["unit"] == "ms" else "instructions (M)"


def _cost(row: dict, value: float) -> str:
    return f"{value:.4f}" if row["unit"] == "ms" else f"{value / 1e6:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", nargs="+", default=list(DEVICES), choices=DEVICES)
    parser.add_argument("--rows", nargs="+", default=list(ROWS), type=row_name,
                        help="model:variant rows, e.g. vgg16:dense (variants: " + ", ".join(VARIANTS) + ")")
    parser.add_argument("--note", default="", help="a line for the Markdown, e.g. how busy the machine was")
    parser.add_argument("--out", type=Path, default=RESULTS / "kernels" / "tuning", help="OUT.json and OUT.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tuning-") as tmp:
        rows = [tune_row(device, row, Path(tmp)) for device in args.devices for row in args.rows]
    report = {"command": command(), "note": args.note, "rows": rows}
    print(write_report(args.out, report, markdown(report)))


if __name__ == "__main__":
    main()
