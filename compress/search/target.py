"""Targets and the renormalisation that makes every candidate meet one.

A target is a factor on the dense model: ``rate`` (conv+fc weights / nonzero ones, the paper's compression
rate), ``macs`` (dense MACs / MACs over kept rows x columns) or ``latency`` (dense time / candidate time,
measured by a callable the caller injects; ``compress`` never imports codegen or runtime). ``rescale``
multiplies all knob values by one common factor, found by bisection, so the achieved factor lies in
``[factor, factor * (1 + tolerance)]``; knob bounds clip the scaled values, and a short per-knob bisection
closes gaps left by whole-filter steps. ``settle`` then holds the search's pick to the target on its compacted
model, which purification may have made smaller than the analytic count.

>>> goal = make_goal(space, Target("rate", 4.0))
>>> action = rescale(space, goal, np.full(len(space.knobs), 0.3))
>>> goal.holds(action), round(goal.achieved(action), 2)
(True, 4.02)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..counting import ModelCount
from .action import Action, ActionSpace

TARGET_KINDS = ("rate", "macs", "latency")
# what a rate / MAC target counts: on an Action (analytic), and on the compacted model's ModelCount
COUNTED = {"rate": ("weights", "nonzero_weights"), "macs": ("macs", "structured_macs")}
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

    def within(self, achieved: float) -> bool:
        """Whether an achieved factor lies in ``[factor, factor * (1 + tolerance)]``."""
        return self.factor <= achieved <= self.factor * (1.0 + self.tolerance)


@dataclass
class Goal:
    """A target bound to a model: its reference value and the cost of an action."""

    target: Target
    reference: float
    cost: Callable[[Action], float]  # analytic: every candidate pays it
    final_cost: Callable[[Action], float] | None = None  # of the compacted model (purification included); slow
    finals: dict[tuple[int, ...], float] = field(default_factory=dict, repr=False)  # final factor by action key

    def achieved(self, action: Action) -> float:
        """The factor an action reaches: reference / cost."""
        return self.reference / max(self.cost(action), 1e-12)

    def final(self, action: Action) -> float:
        """The factor the compacted model of an action reaches (the analytic one without ``final_cost``)."""
        if self.final_cost is None:
            return self.achieved(action)
        if action.key not in self.finals:
            self.finals[action.key] = self.reference / max(self.final_cost(action), 1e-12)
        return self.finals[action.key]

    def holds(self, action: Action) -> bool:
        """Whether the action meets the target within the tolerance."""
        return self.target.within(self.achieved(action))


def make_goal(space: ActionSpace, target: Target, latency: LatencyFn | None = None,
              compacted: Callable[[Action], ModelCount] | None = None) -> Goal:
    """Bind ``target`` to the model behind ``space`` (a latency target needs ``latency``); ``compacted`` counts
    an action's compacted model, which ``settle`` then holds to the target."""
    final_cost = None
    if target.kind == "latency":
        if latency is None:
            raise ValueError("a latency target needs a latency callable (action -> time)")
        cost = latency
    else:
        counted, counted_compacted = COUNTED[target.kind]
        cost = lambda action: float(getattr(action, counted))  # noqa: E731
        if compacted is not None:
            final_cost = lambda action: float(getattr(compacted(action), counted_compacted))  # noqa: E731
    reference = target.reference
    if reference is None:
        reference = cost(space.action(np.zeros(len(space.knobs))))
    return Goal(target, float(reference), cost, final_cost)


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


def settle(space: ActionSpace, goal: Goal, action: Action, tries: int = 12) -> Action:
    """``action`` rescaled until its compacted model meets the goal within tolerance.

    The analytic count misses what purification removes (filters whose channel no later layer reads any more:
    ~9% of the weights of a searched ResNet-20 at 4x), so a candidate meeting the analytic target ends
    over-compressed. The analytic factor to aim ``rescale`` at is found by the Illinois variant of regula falsi
    on log factors. Returns the least compressed try that meets the target (``action`` itself if none does).
    """
    if goal.final_cost is None:
        return action
    target, values = goal.target, np.asarray(action.values)
    goal_log = math.log(target.factor)
    # brackets (log aimed factor, log final factor - log target): aiming at 1x prunes nothing
    lo, hi = [0.0, -goal_log], [goal_log, math.log(goal.final(action)) - goal_log]
    best, best_gap, kept_side = action, hi[1], None
    for _ in range(tries):
        if target.within(math.exp(best_gap + goal_log)) or hi[0] - lo[0] < 1e-6:
            break
        x = lo[0] - lo[1] * (hi[0] - lo[0]) / (hi[1] - lo[1])
        candidate = rescale(space, replace(goal, target=replace(target, factor=math.exp(x))), values)
        gap = math.log(goal.final(candidate)) - goal_log
        side, other = (hi, lo) if gap >= 0 else (lo, hi)
        side[:] = [x, gap]
        if kept_side is side:  # the other end stayed twice: halve its value so the secant moves it
            other[1] /= 2
        kept_side = side
        if 0 <= gap < best_gap:
            best, best_gap = candidate, gap
    return best
