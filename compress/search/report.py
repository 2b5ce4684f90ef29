"""Markdown views of the pipeline's JSON reports (the JSON is the record; these are for reading).

>>> (run_dir / "round.md").write_text(round_markdown(round_report))
>>> (out / "report.md").write_text(run_markdown(report))
"""
from __future__ import annotations

from ..pruning.admm import describe


def _rate_cell(rate: dict) -> str:
    parts = [f"{k} {v:.3f}" for k, v in rate.items() if v]
    return ", ".join(parts) or "0"


def round_markdown(r: dict) -> str:
    """One round: target, outcome, time per phase and the chosen per-layer rates."""
    s, t = r["search"], r["seconds"]
    lines = [f"# Round {r['round']}: {r['target']['kind']} {r['target']['factor']:g}x", "",
             "| | value |", "| --- | --- |",
             f"| compression rate (conv+fc weights, vs dense) | {r['compression_rate']:.2f}x |",
             f"| MAC reduction (kept rows x columns, vs dense) | {r['mac_reduction']:.2f}x |",
             f"| validation accuracy | {r['val_accuracy']:.4f} |",
             *_accuracy_rows(r.get("accuracy", {})), f"| ADMM converged | {describe(r.get('admm'))} |",
             f"| test accuracy | {r['test_accuracy']:.4f} |",
             f"| search: candidates / evaluated | {s['candidates']} / {s['evaluations']} |",
             f"| search: best quick-eval score | {s['quick_score']:.4f} |",
             f"| seconds: search / ADMM / retrain / purify+compact+eval | {t['search']:.0f} / {t['admm']:.0f} / "
             f"{t['retrain']:.0f} / {t['purify_compact_eval']:.0f} |", *_latency_rows(r.get("latency")),
             *_check_rows(r.get("latency_checks", [])), "",
             "Rates are fractions removed from this round's input model (the previous round's result).", "",
             "| layer | rates (fraction removed) |", "| --- | --- |"]
    lines += [f"| {name} | {_rate_cell(rate)} |" for name, rate in r["rates"].items()]
    return "\n".join(lines) + "\n"


def _accuracy_rows(acc: dict) -> list[str]:
    """Test accuracy along the round: its input model, hard-pruned (statistics recalibrated), retrained."""
    names = (("dense", "test accuracy of the round's input model"),
             ("projected", "test accuracy after hard pruning (BatchNorm recalibrated)"),
             ("retrained", "test accuracy after masked retraining"))
    return [f"| {label} | {acc[key]:.4f} |" for key, label in names if key in acc]


def _latency_rows(latency: dict | None) -> list[str]:
    if not latency:
        return []
    unit = latency["unit"]
    rows = [f"| cost predicted by the latency table ({unit}) | {latency['predicted']:.4g} |"]
    if latency.get("goal"):
        rows.append(f"| cost goal of this round ({unit}) | {latency['goal']:.4g} |")
    if "measured" in latency:
        rows.append(f"| cost measured on the compiled model ({unit}) | {latency['measured']:.4g} "
                    f"(prediction {latency['prediction_error']:+.1%}) |")
    return rows


def _check_rows(checks: list[dict]) -> list[str]:
    """One row per measurement of the searched rates before training (see ``device_check``)."""
    return [f"| searched rates, check {i} before training ({c['unit']}): predicted / measured / goal | "
            f"{c['predicted']:.4g} / {c['measured']:.4g} / {c['goal']:.4g} (aimed at {c['aim']:.3g}x) |"
            for i, c in enumerate(checks, 1)]


def run_markdown(report: dict) -> str:
    """The whole run: one row per round, then each round's table."""
    target = report["target"]
    lines = [f"# AutoCompress: {report.get('arch') or 'model'} to {target['kind']} {target['factor']:g}x "
             f"({report['scheme']})", "", f"data: {report['data']}", "",
             "| round | target | compression | MAC reduction | val acc | test acc | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["rounds"]:
        lines.append(f"| {r['round']} | {r['target']['factor']:g}x | {r['compression_rate']:.2f}x | "
                     f"{r['mac_reduction']:.2f}x | {r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} | "
                     f"{r['seconds']['total_wall']:.0f} |")
    lines.append("")
    for r in report["rounds"]:
        lines.append(round_markdown(r).replace("# Round", "## Round"))
    return "\n".join(lines)
