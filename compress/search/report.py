"""Markdown views of the pipeline's results (their JSON is the record; these are for reading).

>>> (run_dir / "round.md").write_text(round_markdown(round_result))
>>> (out / "report.md").write_text(run_markdown(report))
"""
from __future__ import annotations

from ..pruning.admm import describe
from .results import CompressReport, RoundResult


def _rate_cell(rate: dict) -> str:
    parts = [f"{k} {v:.3f}" for k, v in rate.items() if v]
    return ", ".join(parts) or "0"


def round_markdown(r: RoundResult) -> str:
    """One round: target, outcome, time per phase and the chosen per-layer rates."""
    s, t, (kind, factor) = r.search, r.seconds, r.target
    lines = [f"# Round {r.round}: {kind} {factor:g}x", "",
             "| | value |", "| --- | --- |",
             f"| compression rate (conv+fc weights, vs dense) | {r.stats.compression_rate:.2f}x |",
             f"| MAC reduction (kept rows x columns, vs dense) | {r.stats.mac_reduction:.2f}x |",
             f"| validation accuracy | {r.accuracy['val']:.4f} |",
             *_accuracy_rows(r.accuracy), f"| ADMM converged | {describe(r.admm)} |",
             f"| test accuracy | {r.accuracy['compacted']:.4f} |",
             f"| search: candidates / evaluated | {s['candidates']} / {s['evaluations']} |",
             f"| search: best quick-eval score | {s['quick_score']:.4f} |",
             f"| seconds: search / ADMM / retrain / purify+compact+eval | {t['search']:.0f} / {t['admm']:.0f} / "
             f"{t['retrain']:.0f} / {t['purify_compact_eval']:.0f} |", *_latency_rows(r.latency),
             *_check_rows(r.latency_checks), "",
             "Rates are fractions removed from this round's input model (the previous round's result).", "",
             "| layer | rates (fraction removed) |", "| --- | --- |"]
    lines += [f"| {name} | {_rate_cell(rate)} |" for name, rate in r.rates.items()]
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


def run_markdown(report: CompressReport) -> str:
    """The whole run: one row per round, then each round's table."""
    kind, factor = report.target
    lines = [f"# AutoCompress: {report.arch or 'model'} to {kind} {factor:g}x ({report.config.scheme})", "",
             f"data: {report.data}", "",
             "| round | target | compression | MAC reduction | val acc | test acc | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in report.rounds:
        lines.append(f"| {r.round} | {r.target[1]:g}x | {r.stats.compression_rate:.2f}x | "
                     f"{r.stats.mac_reduction:.2f}x | {r.accuracy['val']:.4f} | {r.accuracy['compacted']:.4f} | "
                     f"{r.seconds['total_wall']:.0f} |")
    lines.append("")
    for r in report.rounds:
        lines.append(round_markdown(r).replace("# Round", "## Round"))
    return "\n".join(lines)
