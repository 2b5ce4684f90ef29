"""The multi-round AutoCompress pipeline: targets grow round by round (e.g. 2x, 4x, 8x), and each round runs
search -> ADMM with the searched rates -> hard prune -> masked retrain -> purification -> compaction
(``rounds.run_round``), starting from the previous round's compacted model.

Every factor is relative to the *original* dense model. A run folder holds ``round-K/search.jsonl``,
``round-K/{admm,retrain}/last.pt`` (a checkpoint per epoch), and ``round-K/result.pt`` + ``round.json`` once
the round is done;
``resume=True`` skips finished rounds, replays the search log and continues training from the last epoch.
With a latency target and a measurement, each round's searched rates are built and measured before training and
searched again when they miss the goal (``device_check``), and each round after the first aims past its goal by
the previous round's measured / predicted cost (``_aim``).
The final ``model.pt`` stores one compaction record against the dense architecture
(``compress.restore.restore_model`` rebuilds it), plus ``report.json`` and ``report.md``.

>>> report = autocompress(model, splits, CompressConfig(target_rate=8, rounds=3), out="runs/ac", arch="resnet20")
>>> [r.stats.compression_rate for r in report.rounds]          # about [2, 4, 8]
>>> report.model, report.accuracy["compacted"]
"""
from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from torch import nn

from ..checkpoint import save_checkpoint
from ..counting import count_model
from ..data import Splits
from ..files import write_json, write_text
from ..pruning.compaction import compose_records
from ..run_folder import record_config
from .config import CompressConfig
from .latency import LatencyObjective, ModuleLatencyFn, as_objective
from .report import run_markdown
from .results import CompressReport, RoundResult
from .rounds import RunContext, load_round, run_round
from .target import Target


def round_targets(final: float, rounds: int) -> list[float]:
    """Geometric steps to ``final``: ``round_targets(8, 3) == [2.0, 4.0, 8.0]`` (up to rounding)."""
    return [round(final ** (k / rounds), 6) for k in range(1, rounds + 1)]


def _aim(kind: str, factor: float, rounds: list[RoundResult]) -> float:
    """The factor a round's search aims at: for a latency target, ``factor`` times the last measured round's
    measured / predicted cost, so a table that under-predicts this model family is corrected in the next round."""
    last = (rounds[-1].latency or {}) if rounds else {}
    if kind != "latency" or "measured" not in last:
        return factor
    return max(1.0, factor * last["measured"] / last["predicted"])


def autocompress(model: nn.Module, splits: Splits, config: CompressConfig, out: str | Path | None = None,
                 resume: bool = False, callback: Callable[[dict], None] | None = None,
                 latency: LatencyObjective | ModuleLatencyFn | None = None,
                 arch: str | None = None, teacher: nn.Module | None = None) -> CompressReport:
    """Compress ``model`` (trained weights; not changed) in rounds; the report holds the compacted model.

    Every round distils from ``teacher`` (default: the dense input model).

    ``latency`` (a :class:`LatencyObjective`, or a bare model -> cost predictor) is needed for ``target_latency``;
    with it every round reports predicted (and measured) cost. ``arch`` (registry name) goes into ``model.pt`` so
    ``compress.restore.restore_model`` can rebuild it. Without ``out`` the run folder is temporary.
    """
    if out is None:
        with tempfile.TemporaryDirectory(prefix="autocompress-") as tmp:
            return autocompress(model, splits, config, tmp, False, callback, latency, arch, teacher)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    kind, final = config.final_target()
    dense = copy.deepcopy(model).cpu().eval()
    dense_counts = count_model(dense, splits.input_shape)
    reference = {"rate": dense_counts.weights, "macs": dense_counts.macs}.get(kind)
    objective = as_objective(latency)
    if kind == "latency":
        if objective is None:
            raise ValueError("target_latency needs a latency callable (model -> time)")
        reference = objective.predict(copy.deepcopy(dense).to(config.budget.train.device))
    record_config(out, config.to_dict())
    teacher = copy.deepcopy(dense if teacher is None else teacher)
    context = RunContext(splits, config, dense_counts, teacher, objective, resume, callback)
    current, record, rounds, earlier = dense, {}, [], 0.0
    for index, factor in enumerate(round_targets(final, config.rounds), 1):
        run_dir = out / f"round-{index}"
        target = Target(kind, _aim(kind, factor, rounds), config.tolerance, float(reference))
        goal = reference / factor if kind == "latency" else None
        if resume and (run_dir / "round.json").is_file():
            small, step_record, result = load_round(current, run_dir)
            earlier += result.seconds["total_wall"]  # a round finished by an earlier call keeps its time
        else:
            small, step_record, result = run_round(index, current, target, run_dir, context, goal)
        current, record = small.cpu().eval(), compose_records(record, step_record)
        if objective is not None and result.latency is None:
            result = replace(result, latency=objective.report(current, goal))
            write_json(run_dir / "round.json", result.to_json())
        rounds.append(result)
    report = CompressReport(current, record, config, arch, splits.source, tuple(rounds), time.time() - t0 + earlier)
    meta = {"arch": arch, "num_classes": splits.num_classes, "in_channels": splits.input_shape[0]}
    save_checkpoint(out / "model.pt", {**meta, "state_dict": current.state_dict(), "structure": record,
                                       "metrics": report.accuracy, "config": config.to_dict()})
    write_json(out / "report.json", report.to_json())
    write_text(out / "report.md", run_markdown(report))
    return report
