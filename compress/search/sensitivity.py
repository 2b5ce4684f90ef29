"""Per-knob sensitivity: rates allocated by what each knob costs in loss when it is pruned alone.

At 4x and beyond nearly every one-shot candidate of the whole model lands near chance on the quick evaluation
(ResNet-20 at 4x: 0.12-0.27 over the 60 candidates of one search), so ranking whole candidates ranks noise.
Pruning *one* knob at a time keeps the model working and its loss increase is a clean signal: the classic
sensitivity analysis (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017, section 4.3). Each knob
is scored alone at a few shares of its bound (everything else dense; the quick evaluation's BatchNorm
recalibration and validation subset), the curves are interpolated, and one Lagrange multiplier trades the
summed loss increase against what the target counts: each knob takes the rate minimising
``increase(r) - lam * share * r``, with ``lam`` bisected until the target holds (``rescale`` then brings the
values into the target's tolerance). It assumes the knobs' harms add up, which holds less the further the target.

>>> curves = sensitivity_curves(space, evaluator)            # (knobs, levels) loss increases
>>> values = allocate(space, goal, curves)                   # knob values that meet the goal
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..progress import progress
from .action import Action, ActionSpace
from .quick_eval import Evaluation, evaluate_spread
from .target import Goal, meets, smallest_meeting

LEVELS = (0.25, 0.5, 0.75, 1.0)  # shares of each knob's upper bound scored alone
FINE = 101  # rates per knob the allocation chooses from (0 to its bound)


def sensitivity_curves(space: ActionSpace, evaluate: Callable[[Action], Evaluation],
                       show: bool = False, levels: tuple[float, ...] = LEVELS) -> np.ndarray:
    """Loss increase over the unpruned model of each knob pruned alone at ``levels`` x its bound, as a
    (knobs, levels) array that never decreases along a row (evaluations spread over the processes)."""
    alone = np.zeros((len(space.knobs), len(space.knobs)))
    actions = [space.action(np.zeros(len(space.knobs)))]
    for level in levels:
        np.fill_diagonal(alone, level * space.upper)
        actions += [space.action(row) for row in alone]
    bar = progress(total=len(actions), enabled=show, desc="sensitivity")

    def scored_one(action: Action) -> Evaluation:
        bar.update(1)
        return evaluate(action)

    scored = evaluate_spread(scored_one, actions)
    bar.close()
    loss = np.array([scored[a.key].loss for a in actions[1:]]).reshape(len(levels), -1).T
    return np.maximum.accumulate(np.maximum(loss - scored[actions[0].key].loss, 0.0), axis=1)


def allocate(space: ActionSpace, goal: Goal, curves: np.ndarray, levels: tuple[float, ...] = LEVELS,
             iterations: int = 40) -> np.ndarray:
    """Knob values meeting ``goal`` from the sensitivity ``curves``: per knob, the rate on a fine grid minimising
    its interpolated increase - lam * share * rate, with the one multiplier ``lam`` bisected."""
    shares = space.weight_of(goal.target.kind)
    shares = shares / shares.sum()
    rates = np.linspace(0.0, 1.0, FINE)[None, :] * space.upper[:, None]  # (knobs, FINE)
    increase = np.array([np.interp(r, np.concatenate(([0.0], np.asarray(levels) * upper)),
                                   np.concatenate(([0.0], curve)))
                         for r, upper, curve in zip(rates, space.upper, curves)])

    def values(lam: float) -> np.ndarray:
        best = np.argmin(increase - lam * shares[:, None] * rates, axis=1)
        return rates[np.arange(len(rates)), best]

    def at(lam: float) -> Action:
        return space.action(values(lam))

    hi = 1.0
    while not meets(goal, at(hi)) and hi < 1e12:
        hi *= 4.0
    return values(smallest_meeting(space, goal, at, hi, iterations))
