"""Latency as the pipeline sees it: injected callables, never a compiler or a device (``compress`` imports
neither). The search calls ``predict`` for every candidate, so it must be fast (a latency table); each round ends
with ``measure`` on the round's compacted model (a real build and run) when one is given.

>>> objective = LatencyObjective(predict=table_predict, measure=build_and_bench, unit="ms")
>>> autocompress(model, splits, CompressConfig(target_latency=3.0), latency=objective)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

ModuleLatencyFn = Callable[[nn.Module], float]  # cost of a (pruned, eval-mode, CPU) model


@dataclass(frozen=True)
class LatencyObjective:
    """A fast predictor for the search, an optional measurement per round, and the unit both report in
    (``ms``, or ``emulated AArch64 instructions`` for the qemu cost, which is never a time)."""

    predict: ModuleLatencyFn
    measure: ModuleLatencyFn | None = None
    unit: str = "ms"

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
