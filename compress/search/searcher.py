"""One round's search in one call: model + data + target -> the best per-layer rates.

>>> result = search(model, splits, Target("rate", 4.0), SearchConfig(candidates=100))
>>> result.best.layer_rates()["layer1.0.conv1"], result.best_eval.accuracy, result.achieved
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from ..data import Splits
from ..pruning.compaction import compacted_count
from ..pruning.structure import Structure, trace_structure
from .action import Action, ActionSpace
from .annealing import SearchConfig, SearchResult, anneal, uniform_values
from .cost import CostModel
from .latency import KeptLatencyFn, LatencyObjective, ModuleLatencyFn
from .quick_eval import QuickEvalConfig, QuickEvaluator
from .target import Goal, LatencyFn, Target, make_goal, rescale

@dataclass
class SearchSetup:
    """Everything a search over one model needs, built once."""

    structure: Structure
    cost: CostModel
    space: ActionSpace
    goal: Goal
    evaluator: QuickEvaluator


def action_latency(latency: LatencyFn | ModuleLatencyFn | LatencyObjective | None, latency_on: str,
                   evaluator: QuickEvaluator, space: ActionSpace) -> LatencyFn | None:
    """The cost of an action, from what the caller gave: a callable on actions, one on modules (it gets the
    projected working copy), or a :class:`LatencyObjective` (its ``predict_kept`` on the action's kept rows and
    columns when it has one and the scheme is structured; else its ``predict`` on the projected model)."""
    if latency_on not in ("action", "module"):
        raise ValueError(f"unknown latency_on {latency_on!r}; expected one of: action, module")
    if isinstance(latency, LatencyObjective):
        if latency.predict_kept is not None and space.scheme != "unstructured":
            return kept_latency(latency.predict_kept, list(space.cost.layers))
        latency, latency_on = latency.predict, "module"
    if latency is None or latency_on == "action":
        return latency
    module_fn = latency
    return lambda action: module_fn(evaluator.project(action))


def kept_latency(fn: KeptLatencyFn, layers: list[str]) -> LatencyFn:
    """Adapt a cost on per-layer kept (rows, columns) to one on actions (their ``key`` lists those counts)."""
    return lambda action: fn({n: action.key[2 * i:2 * i + 2] for i, n in enumerate(layers)})


def prepare(model: nn.Module, splits: Splits, target: Target, config: SearchConfig, scheme: str,
            quick: QuickEvalConfig | None = None, device: str = "cpu",
            latency: LatencyFn | ModuleLatencyFn | LatencyObjective | None = None,
            latency_on: str = "action") -> SearchSetup:
    """Trace the model, build the cost model, the knobs, the goal and the quick evaluator.

    ``latency_on`` says what a bare latency callable takes: "action" or "module" (the pruned model).
    """
    shape = splits.input_shape
    model = model.to(device)
    structure = trace_structure(model, shape)
    cost = CostModel(model, structure, shape)
    space = ActionSpace(cost, scheme, config.max_rate, config.min_kept, config.include_linear)
    evaluator = QuickEvaluator(model, structure, splits, quick or QuickEvalConfig(), device)
    latency = action_latency(latency, latency_on, evaluator, space)
    compacted = lambda action: compacted_count(evaluator.project(action), structure, shape)  # noqa: E731
    return SearchSetup(structure, cost, space, make_goal(space, target, latency, compacted), evaluator)


def search(model: nn.Module, splits: Splits, target: Target, config: SearchConfig | None = None,
           scheme: str = "filter+column", quick: QuickEvalConfig | None = None, device: str = "cpu",
           log_path: str | Path | None = None, resume: bool = False,
           callback: Callable[[dict], None] | None = None,
           latency: LatencyFn | ModuleLatencyFn | LatencyObjective | None = None,
           latency_on: str = "action") -> SearchResult:
    """Simulated-annealing search for per-layer rates of ``model`` meeting ``target`` (model unchanged);
    ``latency`` is a :class:`LatencyObjective`, or a callable on actions, or on the projected model when
    ``latency_on="module"``."""
    config = config or SearchConfig()
    setup = prepare(model, splits, target, config, scheme, quick, device, latency, latency_on)
    return anneal(setup.space, setup.goal, setup.evaluator, config, log_path, resume, callback)


def uniform_action(space: ActionSpace, goal: Goal) -> Action:
    """The baseline: one rate for every knob, scaled to the target (bounds still clip it)."""
    return rescale(space, goal, uniform_values(space))
