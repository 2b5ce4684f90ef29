"""A latency-targeted round checks its searched rates on the device before it spends its training budget.

The search prices candidates with a latency table, which can be off by a few percent for a given model. The
structure a round ends with is fixed by the searched rates (hard pruning keeps the same number of filters and
columns per layer; purification only removes more), so the one-shot projection of the current weights,
compacted, costs what the round's result will cost. ``search_checked`` builds and measures it; when the
measurement misses the goal by more than ``tolerance``, it searches again aiming past the goal by
measured / predicted, at most ``retries`` times. Measurements go to ``latency-checks.json`` and are reused on resume
(a re-measurement could differ by noise and change which rates training resumes with).

>>> structure, result, checks = search_checked(search, model, target, goal=0.30, latency=objective,
...                                            scheme="filter+column", inputs=x, log=run_dir / "latency-checks.json")
>>> [(c["predicted"], c["measured"]) for c in checks]
"""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..files import write_json
from ..pruning.compaction import purify_and_compact
from ..pruning.plan import LayerRate, layer_weights, project_masks
from ..pruning.structure import Structure
from .annealing import SearchResult
from .latency import LatencyObjective
from .target import Target

SearchFn = Callable[[Target, int], tuple[Structure, SearchResult]]  # (target, attempt) -> structure, result


def pruned_copy(model: nn.Module, structure: Structure, scheme: str, rates: dict[str, LayerRate],
                inputs: torch.Tensor) -> nn.Module:
    """``model`` projected at ``rates`` (one shot), purified and compacted: a CPU copy, ``model`` unchanged."""
    masked = project_masks(structure, layer_weights(model), scheme, rates).apply(copy.deepcopy(model)).eval()
    return purify_and_compact(masked, structure, inputs).model.cpu()


def _replayed(log: Path, resume: bool) -> list[dict]:
    return json.loads(log.read_text()) if resume and log.is_file() else []


def search_checked(search: SearchFn, model: nn.Module, target: Target, goal: float, latency: LatencyObjective,
                   scheme: str, inputs: torch.Tensor, log: Path, resume: bool = False, tolerance: float = 0.05,
                   retries: int = 2) -> tuple[Structure, SearchResult, list[dict]]:
    """Search, measure the result's model, and re-aim while it is over ``goal * (1 + tolerance)``.

    Returns the last search's structure and result and one record per measurement (aimed factor, predicted
    and measured cost, goal). ``latency.measure`` must be given.
    """
    done = _replayed(log, resume)
    checks: list[dict] = []
    structure, result = search(target, 0)
    for attempt in range(retries + 1):
        key = list(result.best.key)
        record = done[attempt] if attempt < len(done) and done[attempt]["key"] == key else None
        if record is None:
            small = pruned_copy(model, structure, scheme, result.best.layer_rates(), inputs)
            record = {"key": key, "aim": target.factor, "predicted": float(latency.predict(small)),
                      "measured": float(latency.measure(small)), "goal": goal, "unit": latency.unit}
        checks.append(record)
        write_json(log, checks, indent=1)
        if record["measured"] <= goal * (1.0 + tolerance) or attempt == retries:
            break
        target = replace(target, factor=target.reference / goal * record["measured"] / record["predicted"])
        structure, result = search(target, attempt + 1)
    return structure, result, checks
