"""One round of the pipeline: search -> ADMM -> hard prune -> masked retrain -> purify -> compact.

Built from ``compress.pruning`` (``AdmmHooks``, ``MaskHooks``, ``project_masks``, ``purify_and_compact``)
and the one training loop; this module only orders them, checkpoints them and reports. A callback sees
every search step and every training epoch (progress, or a test's simulated kill).

>>> context = RunContext(splits, config, count_model(dense, splits.input_shape), teacher=dense)
>>> small, record, result = run_round(1, model, Target("rate", 2.0, reference=270896), Path("r1"), context)
>>> result.stats.compression_rate, result.accuracy["compacted"]
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..checkpoint import load_checkpoint, save_checkpoint
from ..counting import ModelCount, count_model
from ..data import Splits
from ..files import write_json, write_text
from ..pruning.accounting import CompressionStats
from ..pruning.compaction import replay
from ..pruning.sequence import prune_sequence
from ..pruning.structure import Structure
from .annealing import anneal
from .config import CompressConfig
from .device_check import search_checked
from .latency import LatencyObjective
from .report import round_markdown
from .results import RoundResult
from .searcher import prepare
from .target import Target

Callback = Callable[[dict], None]


@dataclass
class RunContext:
    """What every round of one run shares."""

    splits: Splits
    config: CompressConfig
    dense: ModelCount  # the original model's counts: every factor is against it
    teacher: nn.Module | None = None  # distilled from in both training phases (the original dense model by default)
    latency: LatencyObjective | None = None
    resume: bool = False
    callback: Callback | None = None


def load_round(previous: nn.Module, run_dir: Path) -> tuple[nn.Module, dict, RoundResult]:
    """A finished round's compacted model (its record replayed on the previous round's model), record and result."""
    data = load_checkpoint(run_dir / "result.pt")
    model = replay(copy.deepcopy(previous).cpu(), data["structure"])
    model.load_state_dict(data["state_dict"])
    result = RoundResult.from_json(json.loads((run_dir / "round.json").read_text()))
    return model.eval(), data["structure"], result


def _search(index: int, model: nn.Module, target: Target, log: Path, context: RunContext):
    config, callback = context.config, context.callback
    setup = prepare(model, context.splits, target, config.search, config.scheme, config.quick_eval,
                    config.budget.train.device, context.latency)
    step_cb = None if callback is None else (lambda record: callback({"phase": "search", "round": index, **record}))
    result = anneal(setup.space, setup.goal, setup.evaluator, config.search, log, context.resume, step_cb)
    return setup.structure, result


def _check_input(splits: Splits, device: str) -> torch.Tensor:
    """A validation batch: compaction must not change what the model computes on it."""
    return next(iter(splits.loader("val", 64, limit=64, device=device)))[0]


def search_round(index: int, model: nn.Module, target: Target, run_dir: Path, context: RunContext,
                 goal: float | None = None) -> tuple[Structure, Any, list[dict]]:
    """The round's search; with a latency ``goal`` and a measurement, checked on the device before training
    (``device_check.search_checked``). Returns the structure, the search result and the device checks."""
    config, latency = context.config, context.latency

    def search(aimed: Target, attempt: int):
        log = run_dir / ("search.jsonl" if attempt == 0 else f"search-{attempt + 1}.jsonl")
        return _search(index, model, aimed, log, context)

    if not (target.kind == "latency" and goal and latency is not None and latency.measure is not None
            and config.latency_retries > 0):
        return (*search(target, 0), [])
    return search_checked(search, model, target, goal, latency, config.scheme,
                          _check_input(context.splits, config.budget.train.device), run_dir / "latency-checks.json",
                          context.resume, config.latency_check_tolerance, config.latency_retries)


def run_round(index: int, model: nn.Module, target: Target, run_dir: Path, context: RunContext,
              goal: float | None = None) -> tuple[nn.Module, dict, RoundResult]:
    """One round on ``model`` (not changed); returns the compacted model, its record and the round's result.

    ``goal`` is a latency target's cost goal for this round, which the searched rates are measured against before
    training.
    """
    t0 = time.time()
    config, splits = context.config, context.splits
    work = copy.deepcopy(model).to(config.budget.train.device)
    structure, found, checks = search_round(index, work, target, run_dir, context, goal)
    search_wall = time.time() - t0
    pruned = prune_sequence(work, splits, structure, config.scheme, found.best.layer_rates(), config.budget, run_dir,
                            context.resume, teacher=context.teacher, stream=f"round-{index}",
                            callback=context.callback, event={"round": index})
    small, history = pruned.model.cpu(), pruned.history
    seconds = {"search": found.seconds, "search_wall": search_wall,
               "admm": sum(h["seconds"] for h in history.get("admm", [])),
               "retrain": sum(h["seconds"] for h in history["retrain"]),
               "purify_compact_eval": pruned.seconds, "total_wall": time.time() - t0}
    result = RoundResult(
        round=index, target=(target.kind, target.factor), rates=found.best.to_data()["rates"],
        search={"candidates": found.steps, "evaluations": found.evaluations, "quick_score": found.best_eval.score,
                "factor": found.achieved, "seconds_per_candidate": found.seconds / max(found.steps, 1)},
        stats=CompressionStats.of(context.dense, count_model(small, splits.input_shape)),
        accuracy=pruned.accuracy | {"quick_eval": found.best_eval.accuracy}, admm=pruned.admm,
        purification=pruned.purification, history=history, seconds=seconds, latency_checks=checks)
    save_checkpoint(run_dir / "result.pt", {"state_dict": small.state_dict(), "structure": pruned.record,
                                            "metrics": result.accuracy})
    write_json(run_dir / "round.json", result.to_json())
    write_text(run_dir / "round.md", round_markdown(result))
    if context.callback is not None:
        context.callback({"phase": "round-done", "round": index})
    return small, pruned.record, result
