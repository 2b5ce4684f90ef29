"""Latency as the pipeline sees it: injected callables, never a compiler or a device (``compress`` imports
neither). The search asks for the cost of every candidate, dozens of times each while it scales the candidate
to the goal, so it must be fast: ``predict_kept`` (cost from each layer's kept rows and columns, as the search
counts them) when given, else ``predict`` on the projected model. Each round ends with ``predict`` and, when
given, ``measure`` on the round's compacted model (a real build and run).

>>> objective = LatencyObjective(predict=table_predict, measure=build_and_bench, unit="ms")
>>> autocompress(model, splits, CompressConfig(target_latency=3.0), latency=objective)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from torch import nn

ModuleLatencyFn = Callable[[nn.Module], float]  # cost of a (pruned, eval-mode, CPU) model
KeptLatencyFn = Callable[[Mapping[str, tuple[int, int]]], float]  # cost from per-layer kept (rows, columns)


@dataclass(frozen=True)
class LatencyObjective:
    """A predictor, an optional faster one on kept counts for the search, an optional measurement per round,
    and the unit they report in (``ms``, or ``emulated AArch64 instructions`` for the qemu cost, never a time)."""

    predict: ModuleLatencyFn
    measure: ModuleLatencyFn | None = None
    unit: str = "ms"
    predict_kept: KeptLatencyFn | None = None

    def report(self, model: nn.Module, goal: float | None = None) -> dict:
        """Predicted and (when available) measured cost of ``model``, against the round's ``goal`` if it has one."""
        out = {"unit": self.unit, "goal": goal, "predicted": float(self.predict(model))}
        if self.measure is not None:
            out["measured"] = float(self.measure(model))
            out["prediction_error"] = out["predicted"] / out["measured"] - 1.0
            if goal:
                out["measured_vs_goal"] = out["measured"] / goal
        return out


def as_objective(latency) -> LatencyObjective | None:
    """A bare callable is a predictor without measurement."""
    if latency is None or isinstance(latency, LatencyObjective):
        return latency
    return LatencyObjective(predict=latency)
