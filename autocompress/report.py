"""The run report: Markdown with tables, plus PNG plots of per-layer structure, MACs and accuracy by round."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from compress.files import atomic_path, write_text  # noqa: E402


def _layer_rows(report: dict) -> list[dict]:
    """Per layer: filters and columns kept (fractions of the dense layer), MACs before/after, and the cost of the
    layer's kernel measured in each binary (profiled) and predicted by the latency table (when there is one)."""
    dense = {layer["name"]: layer for layer in report["layers"]["dense"]}
    compressed = report["layers"]["compressed"]
    measured = {k: _aligned(report["bench"][k].get("layer_cost"), len(compressed)) for k in ("dense", "compressed")}
    predicted = _aligned([p["cost"] for p in report.get("predicted_layer_cost") or []][:len(compressed)],
                         len(compressed))
    rows = []
    for i, layer in enumerate(compressed):
        d = dense[layer["name"]]
        rows.append({"name": layer["name"], "filters": layer["kept_rows"] / d["rows"],
                     "columns": layer["kept_cols"] / d["cols"], "dense_macs": d["macs"],
                     "macs": layer["structured_macs"], "dense_cost": measured["dense"][i],
                     "cost": measured["compressed"][i], "predicted": predicted[i]})
    return rows


def _aligned(costs: list | None, count: int) -> list:
    """Per-layer costs when the binary's layers line up with the model's, else unknowns."""
    return list(costs) if costs and len(costs) == count else [None] * count


def _cost(value) -> str:
    return "" if value is None else f"{value:.4g}"


def plot_layers(rows: list[dict], path: Path) -> None:
    """Kept fractions and MACs per layer, two panels."""
    names = [r["name"] for r in rows]
    x = range(len(rows))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6, 0.45 * len(rows)), 7), sharex=True)
    top.bar([i - 0.2 for i in x], [r["filters"] for r in rows], 0.4, label="filters kept")
    top.bar([i + 0.2 for i in x], [r["columns"] for r in rows], 0.4, label="columns kept")
    top.set_ylabel("fraction of the dense layer")
    top.set_ylim(0, 1.05)
    top.legend()
    bottom.bar([i - 0.2 for i in x], [r["dense_macs"] / 1e6 for r in rows], 0.4, label="dense")
    bottom.bar([i + 0.2 for i in x], [r["macs"] / 1e6 for r in rows], 0.4, label="compressed")
    bottom.set_ylabel("MMACs per image")
    bottom.legend()
    bottom.set_xticks(list(x), names, rotation=70, fontsize=7)
    _save(fig, path)


def plot_rounds(report: dict, path: Path) -> None:
    """Test and validation accuracy against compression, from the baseline through every round."""
    rates = [1.0] + [r["stats"]["compression_rate"] for r in report["rounds"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(rates, [report["baseline_test_accuracy"]] + [r["accuracy"]["compacted"] for r in report["rounds"]], "o-",
            label="test")
    ax.plot(rates[1:], [r["accuracy"]["val"] for r in report["rounds"]], "s--", label="validation")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("compression (dense / nonzero conv+fc weights)")
    ax.set_ylabel("accuracy")
    ax.legend()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _latency_line(name: str, result: dict) -> str:
    if result["emulated"]:
        count = result.get("emulated_instructions_per_inference")
        cost = f"{count:,} emulated AArch64 instructions per inference" if count else "no latency (emulated)"
        return f"| {name} | {cost} | {result['max_abs_error']:.1e} | {result['binary_bytes'] / 1e6:.2f} MB |"
    return (f"| {name} | median {result['median_ms']:.3f} ms (min {result['min_ms']:.3f}, p90 {result['p90_ms']:.3f}) | "
            f"{result['max_abs_error']:.1e} | {result['binary_bytes'] / 1e6:.2f} MB |")


def render_markdown(report: dict) -> str:
    """The human-readable report."""
    cfg, stats, bench = report["config"], report["stats"], report["bench"]
    lines = [f"# AutoCompress run: {report['arch']} on {report['data']}", "",
             f"Baseline test accuracy **{report['baseline_test_accuracy']:.4f}**; after {len(report['rounds'])} round(s): "
             f"**{report['accuracy']['compacted']:.4f}** at **{stats['compression_rate']:.2f}x** fewer weights and "
             f"**{stats['mac_reduction']:.2f}x** fewer MACs. Total time {report['seconds']:.0f} s.", "",
             "## Rounds", "", "| round | target | compression | MAC reduction | val acc | test acc |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in report["rounds"]:
        t, s, a = r["target"], r["stats"], r["accuracy"]
        lines.append(f"| {r['round']} | {t['factor']:.2f}x {t['kind']} | {s['compression_rate']:.2f}x | "
                     f"{s['mac_reduction']:.2f}x | {a['val']:.4f} | {a['compacted']:.4f} |")
    lines += ["", "![accuracy by round](rounds.png)", "",
              f"## Latency ({cfg['target']} binary on {cfg['device']}, {cfg['threads']} thread(s))", "",
              "Each binary's output was checked against onnxruntime on the same input before it was timed.", "",
              "| model | latency | max abs error vs onnxruntime | binary |", "| --- | --- | --- | --- |",
              _latency_line("dense", bench["dense"]), _latency_line("compressed", bench["compressed"])]
    if not bench["compressed"]["emulated"]:
        lines += ["", f"Measured speed-up: **{bench['dense']['median_ms'] / bench['compressed']['median_ms']:.2f}x** "
                      "(median over median)."]
    unit = report.get("layer_cost_unit", "ms")
    lines += ["", "## Layers", "", "![per-layer structure](layers.png)", "",
              f"Cost per layer ({unit}): its kernel in the dense and the compressed binary (profiled on the device), "
              "and the latency table's prediction when the run had a latency goal.", "",
              "| layer | filters kept | columns kept | MACs dense | MACs compressed | dense cost | compressed cost | "
              "predicted |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in _layer_rows(report):
        lines.append(f"| {row['name']} | {row['filters']:.2f} | {row['columns']:.2f} | {row['dense_macs']:,} | "
                     f"{row['macs']:,} | {_cost(row['dense_cost'])} | {_cost(row['cost'])} | "
                     f"{_cost(row['predicted'])} |")
    lines += ["", "## Files", ""] + [f"- {k}: `{v}`" for k, v in report["files"].items()]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: Path) -> None:
    """report.md, layers.png and rounds.png into ``out``."""
    plot_layers(_layer_rows(report), out / "layers.png")
    plot_rounds(report, out / "rounds.png")
    write_text(out / "report.md", render_markdown(report))
