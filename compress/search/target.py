"""Targets and the renormalisation that makes every candidate meet one.

A target is a factor on the dense model: ``rate`` (conv+fc weights / nonzero ones, the paper's compression
rate), ``macs`` (dense MACs / MACs over kept rows x columns) or ``latency`` (dense time / candidate time,
measured by a callable the caller injects; ``compress`` never imports codegen or runtime). ``rescale``
multiplies all knob values by one common factor, found by bisection, so the achieved factor lies in
``[factor, factor * (1 + tolerance)]``; knob bounds clip the scaled values, and a short per-knob bisection
closes gaps left by whole-filter steps.

>>> goal = make_goal(space, Target("rate", 4.0))
>>> action = rescale(space, goal, np.full(len(space.knobs), 0.3))
>>> goal.holds(action), round(goal.achieved(action), 2)
(True, 4.02)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .action import Action, ActionSpace

TARGET_KINDS = ("rate", "macs", "latency")
LatencyFn = Callable[[Action], float]  # seconds (any unit) of the model pruned by an action


@dataclass(frozen=True)
class Target:
    """What one round must reach."""

    kind: str = "rate"  # rate: fewer conv+fc weights; macs: fewer MACs; latency: faster, via a callable
    factor: float = 4.0  # e.g. 4.0 = 4x fewer weights / MACs, or 4x less time
    tolerance: float = 0.01  # a candidate's factor must lie in [factor, factor * (1 + tolerance)]
    reference: float | None = None  # dense weights / MACs / time the factor divides (None: the model's own)

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}; expected one of: {', '.join(TARGET_KINDS)}")
        if not self.factor >= 1.0:
            raise ValueError(f"target factor {self.factor!r} must be >= 1 (e.g. 4.0 for 4x)")
        if not self.tolerance > 0.0:
            raise ValueError(f"target tolerance {self.tolerance!r} must be > 0 (e.g. 0.01 for 1%)")


@dataclass
class Goal:
    """A target bound to a model: its reference value and the cost of an action."""

    target: Target
    reference: float
    cost: Callable[[Action], float]

    def achieved(self, action: Action) -> float:
        """The factor an action reaches: reference / cost."""
        return self.reference / max(self.cost(action), 1e-12)

    def holds(self, action: Action) -> bool:
        """Whether the action meets the target within the tolerance."""
        achieved, factor = self.achieved(action), self.target.factor
        return factor <= achieved <= factor * (1.0 + self.target.tolerance)


def make_goal(space: ActionSpace, target: Target, latency: LatencyFn | None = None) -> Goal:
    """Bind ``target`` to the model behind ``space`` (a latency target needs ``latency``)."""
    if target.kind == "latency":
        if latency is None:
            raise ValueError("a latency target needs a latency callable (action -> time)")
        cost = latency
    elif target.kind == "macs":
        cost = lambda action: float(action.macs)  # noqa: E731
    else:
        cost = lambda action: float(action.weights)  # noqa: E731
    reference = target.reference
    if reference is None:
        reference = cost(space.action(np.zeros(len(space.knobs))))
    return Goal(target, float(reference), cost)


def meets(goal: Goal, action: Action) -> bool:
    """Whether the action reaches at least the target's factor (past the tolerance is fine)."""
    return goal.achieved(action) >= goal.target.factor


def smallest_meeting(space: ActionSpace, goal: Goal, at: Callable[[float], Action], hi: float,
                     iterations: int) -> float:
    """Bisection for the smallest ``s`` in [0, hi] with ``at(s)`` meeting the target (``at(hi)`` does; meeting
    must not get rarer as ``s`` grows)."""
    lo = 0.0
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if meets(goal, at(mid)):
            hi = mid
        else:
            lo = mid
    return hi


def _refine(space: ActionSpace, goal: Goal, values: np.ndarray, passes: int = 4) -> np.ndarray:
    """Lower single knobs (one at a time, by bisection) to bring an over-compressed action into tolerance."""
    for _ in range(passes):
        best, best_cost = values, goal.cost(space.action(values))
        for i in np.flatnonzero(values > 0):
            def at(s: float, i: int = i) -> Action:
                trial = values.copy()
                trial[i] = s
                return space.action(trial)
            s = smallest_meeting(space, goal, at, float(values[i]), 12)
            cost = goal.cost(at(s))
            if cost > best_cost:
                best = values.copy()
                best[i] = s
                best_cost = cost
        if best is values:
            break
        values = best
        if goal.holds(space.action(values)):
            break
    return values


def rescale(space: ActionSpace, goal: Goal, values: np.ndarray, iterations: int = 40) -> Action:
    """The action nearest to ``values`` (one common scale factor) that meets the goal.

    Raises ``ValueError`` when the target is out of reach even with every knob at its bound. A latency goal
    gets the bisection only (each call is a measurement), so it may end slightly past the tolerance.
    """
    v = space.clip(values)
    if not v.any():
        v = space.upper.copy()  # nothing to scale: start from the bounds' shape
    positive = v > 0
    s_max = float(np.max(space.upper[positive] / v[positive]))

    def at(s: float) -> Action:
        return space.action(np.minimum(s * v, space.upper))

    top = at(s_max)
    if not meets(goal, top):
        raise ValueError(f"target {goal.target.kind} {goal.target.factor:g}x is out of reach: at most "
                         f"{goal.achieved(top):.2f}x with every rate at its bound (raise max_rate or lower min_kept)")
    s = smallest_meeting(space, goal, at, s_max, iterations)
    values = np.minimum(s * v, space.upper)
    action = space.action(values)
    if not goal.holds(action) and goal.target.kind != "latency":
        action = space.action(_refine(space, goal, values))
    return action
