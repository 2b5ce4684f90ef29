"""Simulated annealing over per-layer rates, as a few small functions and one loop.

``initial_values`` (experience: larger layers take higher rates), ``perturb`` (a few knobs, chosen by size,
moved by a small Gaussian step), ``accept`` (a worse candidate with probability exp(-delta/T)) and ``cool``
(geometric). The first ``explore`` share of the candidates samples the space (the sensitivity allocation of
``sensitivity.py``, the experience-guided start, the uniform one, then random actions) and annealing starts from
the best of them, so it never ends worse than any of them on the quick evaluation: started from one point with
small moves, annealing stayed near it and lost to plain random search with the same number of evaluations
(``benchmarks/results/search-ab-cpu.md``). The sensitivity allocation costs 1 + 4 x knobs evaluations of its own.

The sampled candidates depend on no candidate's score, so they are drawn first and evaluated as one batch, spread
over the processes of a data-parallel run (``compress.distributed.spread``); each annealing step's candidate is
evaluated on rank 0 and shared. Every process then makes the same choices as a single-process search.

Each annealing step proposes ``screen`` neighbours (free: only ``rescale`` runs) and evaluates the one that a
ridge fit of score on knob values, learnt from every candidate evaluated so far, ranks highest
(``surrogate.py``): experience learnt on the model at hand. Every candidate is renormalised to the round's
target (``rescale``) before it is evaluated, so all candidates meet it; the best one is then ``settle``d: rescaled
until its compacted model (after purification) meets the target too, and evaluated once more.

The temperature is in the *score's* units: with accuracy in [0, 1], T starts around 0.02, so a candidate
1 point worse (delta = 0.01) is accepted with probability exp(-0.5) = 0.61 at the start and almost never at the
end. (NNI's SimulatedAnnealingPruner cooled from T = 100 on the same score, which accepts nearly every move.)

>>> result = anneal(space, goal, evaluator, SearchConfig(candidates=100, seed=0), log_path="search.jsonl")
>>> result.best.rates, result.best_eval.score, result.evaluations
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..distributed import spread
from ..progress import progress
from .action import Action, ActionSpace
from .quick_eval import Evaluation, evaluate_spread
from .sensitivity import allocate, sensitivity_curves
from .search_log import SearchLog
from .surrogate import fit_ridge
from .target import Goal, rescale, settle

METHODS = ("annealing", "sensitivity", "size", "random", "uniform")


@dataclass
class SearchConfig:
    """Simulated-annealing settings; temperatures are in the score's units (accuracy in [0, 1])."""

    candidates: int = 100  # annealing steps, one candidate each (a cache hit costs no evaluation)
    t_start: float = 0.02  # initial T: a move 1 point of accuracy worse is accepted with p = exp(-0.5) = 0.61
    t_stop: float = 0.0005  # stop once T falls below this; there p(1 point worse) = exp(-20) ~ 0
    cooling: float | None = None  # T *= cooling per step; None: (t_stop / t_start) ** (1 / (candidates - 1))
    explore: float = 0.25  # share of the candidates sampled at random before annealing starts from the best
    perturb_knobs: int = 2  # knobs moved per step
    perturb_scale: float = 0.1  # std of one knob's move (rate units, before renormalisation)
    screen: int = 8  # neighbours proposed per annealing step; a ridge fit on the candidates evaluated so far
    # picks the one to evaluate (1: evaluate the only proposal, plain annealing)
    size_power: float = 0.5  # experience: initial rate ~ (size / largest) ** size_power; move odds ~ size ** it
    # (size = a knob's weights for a 'rate' target, its MACs for 'macs' and 'latency' targets)
    max_rate: float = 0.95  # no layer loses more than this fraction of its filters / columns / weights
    min_kept: int = 2  # every layer keeps at least this many filters and columns
    include_linear: bool = True  # also prune fully-connected layers' columns
    method: str = "annealing"  # or "sensitivity" / "size" (the sensitivity or experience-guided start alone), or the
    # baselines: "random" (candidates random actions), "uniform" (one action)
    seed: int = 0  # the whole search is a function of the seed and the scores
    progress: bool = True  # a bar with the best score so far (on a terminal)

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"candidates {self.candidates!r} must be >= 1")
        if not 0.0 < self.t_stop <= self.t_start:
            raise ValueError(f"temperatures must satisfy 0 < t_stop <= t_start, got t_start={self.t_start!r}, "
                             f"t_stop={self.t_stop!r}")
        if not 0.0 <= self.explore < 1.0:
            raise ValueError(f"explore {self.explore!r} out of range; expected 0 <= explore < 1")
        if self.cooling is not None and not 0.0 < self.cooling < 1.0:
            raise ValueError(f"cooling {self.cooling!r} out of range; expected 0 < cooling < 1")
        if self.screen < 1:
            raise ValueError(f"screen {self.screen!r} must be >= 1")
        if self.method not in METHODS:
            raise ValueError(f"unknown search method {self.method!r}; expected one of: {', '.join(METHODS)}")

    @property
    def steps(self) -> int:
        """Candidates the search proposes (one for uniform rates and for each allocation alone)."""
        return 1 if self.method in ("uniform", "sensitivity", "size") else self.candidates

    @property
    def explore_steps(self) -> int:
        """Candidates sampled before annealing (at least the sensitivity, experience-guided and uniform starts);
        all of them for the others."""
        if self.method != "annealing":
            return self.steps
        return min(self.candidates, max(3, int(self.explore * self.candidates)))

    def cooling_factor(self) -> float:
        """The geometric factor: given, or the one that reaches t_stop at the last candidate."""
        if self.cooling is not None:
            return self.cooling
        return (self.t_stop / self.t_start) ** (1.0 / max(self.candidates - self.explore_steps - 1, 1))


@dataclass
class SearchResult:
    """The best action found and how the search went."""

    best: Action
    best_eval: Evaluation
    achieved: float  # the best action's factor on its compacted model (weights or MACs; latency: analytic)
    steps: int
    evaluations: int  # candidates actually evaluated (cache hits and replayed steps excluded)
    seconds: float  # search time, replayed steps included as logged
    history: list[dict] = field(default_factory=list)  # the step records (as in the log)


def initial_values(space: ActionSpace, config: SearchConfig, kind: str = "rate") -> np.ndarray:
    """Experience-guided start: a knob's rate grows with its layers' mean share of what the target counts
    (weights for a 'rate' target, MACs for 'macs'/'latency'; a residual stream's filters, one knob over several
    layers, count as one of its layers); ``rescale`` then sets the level."""
    size = space.weight_of(kind) / np.array([len(knob.layers) for knob in space.knobs])
    return space.upper * (size / size.max()) ** config.size_power


def start_values(space: ActionSpace, goal: Goal, config: SearchConfig,
                 curves: Callable[[], np.ndarray]) -> list[np.ndarray]:
    """The first candidates, before random ones: the sensitivity allocation, the experience-guided start, then
    uniform rates (annealing); one of them alone (sensitivity, size, uniform); none (random)."""
    if config.method == "random":
        return []
    if config.method == "uniform":
        return [uniform_values(space)]
    if config.method == "size":
        return [initial_values(space, config, goal.target.kind)]
    allocated = allocate(space, goal, curves())
    if config.method == "sensitivity":
        return [allocated]
    return [allocated, initial_values(space, config, goal.target.kind), uniform_values(space)]


def uniform_values(space: ActionSpace) -> np.ndarray:
    """One rate for every knob (``rescale`` sets the level; bounds still clip it)."""
    return np.ones(len(space.knobs))


def random_values(space: ActionSpace, rng: np.random.Generator) -> np.ndarray:
    """Uniform knob values within their bounds (``rescale`` then meets the target)."""
    return rng.random(len(space.knobs)) * space.upper


def explore_actions(space: ActionSpace, goal: Goal, config: SearchConfig, rng: np.random.Generator,
                    curves: Callable[[], np.ndarray]) -> list[Action]:
    """The candidates sampled before annealing, in order: the starts, then random actions; ``curves()`` gives
    the sensitivity curves (only called by the methods that start from them)."""
    starts = start_values(space, goal, config, curves)[:config.explore_steps]
    drawn = [random_values(space, rng) for _ in range(config.explore_steps - len(starts))]
    return [rescale(space, goal, values) for values in starts + drawn]


def perturb(values: np.ndarray, space: ActionSpace, rng: np.random.Generator, config: SearchConfig,
            kind: str = "rate") -> np.ndarray:
    """Move ``perturb_knobs`` knobs (larger ones more often) by N(0, perturb_scale), clipped to their bounds."""
    odds = space.weight_of(kind) ** config.size_power
    count = min(config.perturb_knobs, len(values))
    chosen = rng.choice(len(values), size=count, replace=False, p=odds / odds.sum())
    moved = values.copy()
    moved[chosen] += rng.normal(0.0, config.perturb_scale, size=count)
    return space.clip(moved)


def acceptance_probability(delta: float, temperature: float) -> float:
    """exp(-delta / T) for a worse candidate (delta = current score - candidate score > 0), else 1."""
    return 1.0 if delta <= 0 else math.exp(-delta / temperature)


def accept(delta: float, temperature: float, rng: np.random.Generator) -> bool:
    """Metropolis rule; always draws one number so the random stream does not depend on the scores' signs."""
    return bool(rng.random() < acceptance_probability(delta, temperature))


def cool(temperature: float, config: SearchConfig) -> float:
    """One step of the geometric schedule."""
    return temperature * config.cooling_factor()


def _propose(values: np.ndarray, space: ActionSpace, goal: Goal, rng: np.random.Generator,
             config: SearchConfig, current_key: tuple, tries: int = 5) -> Action:
    """A renormalised neighbour; re-drawn (up to ``tries``) if it equals the current action."""
    for _ in range(tries):
        action = rescale(space, goal, perturb(values, space, rng, config, goal.target.kind))
        if action.key != current_key:
            break
    return action


def _screened(current: Action, space: ActionSpace, goal: Goal, rng: np.random.Generator, config: SearchConfig,
              history: list[dict], cache: dict) -> Action:
    """Of ``config.screen`` neighbours of ``current``, the one a ridge fit on the evaluated candidates ranks
    highest (not yet evaluated ones first)."""
    proposals = [_propose(np.array(current.values), space, goal, rng, config, current.key)
                 for _ in range(config.screen)]
    if len(proposals) == 1:
        return proposals[0]
    model = fit_ridge(np.array([r["values"] for r in history]), np.array([r["score"] for r in history]))
    predicted = model.predict(np.array([a.values for a in proposals]))
    return min(zip(proposals, predicted), key=lambda p: (p[0].key in cache, -p[1]))[0]


def _record(step: int, t: float, action: Action, ev: Evaluation, goal: Goal, cached: bool) -> dict:
    return {"kind": "step", "step": step, "T": t, "values": list(action.values), "key": list(action.key),
            "score": ev.score, "accuracy": ev.accuracy, "loss": ev.loss, "eval_seconds": ev.seconds,
            "cached": cached, "factor": goal.achieved(action), "holds": goal.holds(action),
            "weights": action.weights, "macs": action.macs}


def _header(space: ActionSpace, goal: Goal, config: SearchConfig) -> dict:
    settings = {k: v for k, v in asdict(config).items() if k != "progress"}
    return {"config": settings, "scheme": space.scheme, "target": {**asdict(goal.target), "reference": goal.reference},
            "knobs": [k.name for k in space.knobs]}


def _curves(log: SearchLog, space: ActionSpace, evaluate: Callable[[Action], Evaluation], show: bool) -> np.ndarray:
    """The sensitivity curves: read back from a resumed log, else scored now and logged."""
    if log.sensitivity is None:
        log.write_sensitivity(sensitivity_curves(space, evaluate, show).tolist())
    return np.array(log.sensitivity)


def anneal(space: ActionSpace, goal: Goal, evaluate: Callable[[Action], Evaluation], config: SearchConfig,
           log_path: str | Path | None = None, resume: bool = False,
           callback: Callable[[dict], None] | None = None) -> SearchResult:
    """Simulated annealing from the experience-guided start; returns the best candidate seen. With
    ``config.method`` "random" or "uniform" the same loop (log, resume, cache) runs those baselines instead.

    ``log_path`` gets one JSON line per step; with ``resume`` the logged steps are replayed (their scores
    read back, not recomputed) and the search continues after them. ``callback(record)`` runs after each
    step is logged (progress reporting, or a test's simulated kill).
    """
    rng = np.random.default_rng(config.seed)
    log = SearchLog(log_path, _header(space, goal, config), resume)
    cache: dict[tuple, Evaluation] = {}
    history: list[dict] = []
    evaluations, seconds = 0, 0.0
    temperature = config.t_start
    bar = progress(total=config.steps, enabled=config.progress, desc=f"search ({config.method})")
    current = best = None
    current_eval = best_eval = None
    explore = explore_actions(space, goal, config, rng, lambda: _curves(log, space, evaluate, config.progress))
    ready = evaluate_spread(evaluate, [a for step, a in enumerate(explore) if log.replayed(step) is None])
    for step in range(config.steps):
        t0 = time.time()
        exploring = step < config.explore_steps
        if exploring:
            action = explore[step]
        else:
            action = _screened(current, space, goal, rng, config, history, cache)
        logged = log.replayed(step)
        cached = action.key in cache
        if logged is not None:
            if logged["key"] != list(action.key):
                raise ValueError(f"cannot resume: step {step} of the log is a different candidate; the model or "
                                 "the code changed since it was written. Start afresh without resume.")
            ev = Evaluation(logged["score"], logged["accuracy"], logged["loss"], logged["eval_seconds"])
        elif cached:
            ev = cache[action.key]
        elif action.key in ready:
            ev = ready.pop(action.key)
            t0 -= ev.seconds  # evaluated ahead, in the spread batch: its own time counts here
        else:
            ev = spread(evaluate, [action])[0]
        evaluations += 0 if cached else 1
        cache[action.key] = ev
        if best is None or ev.score > best_eval.score:
            best, best_eval = action, ev
        accepted = exploring or accept(current_eval.score - ev.score, temperature, rng)
        if exploring:
            current, current_eval = best, best_eval  # annealing starts from the best sample
        elif accepted:
            current, current_eval = action, ev
        record = _record(step, temperature, action, ev, goal, cached)
        record.update(accepted=accepted, current=current_eval.score, best=best_eval.score)
        record["seconds"] = logged["seconds"] if logged is not None else time.time() - t0
        seconds += record["seconds"]
        history.append(record)
        if logged is None:
            log.write(record)
        bar.update(1)
        bar.set_postfix(best=f"{best_eval.score:.4f}", cur=f"{current_eval.score:.4f}", T=f"{temperature:.2g}")
        if callback is not None:
            callback(record)
        if not exploring:
            temperature = cool(temperature, config)
        if temperature < config.t_stop * (1 - 1e-9):
            break
    bar.close()
    settled = settle(space, goal, best)
    if settled.key != best.key:
        best, best_eval = settled, cache.get(settled.key) or spread(evaluate, [settled])[0]
    result = SearchResult(best, best_eval, goal.final(best), len(history), evaluations, seconds, history)
    log.write({"kind": "final", "best": best.to_data(), "score": best_eval.score, "factor": result.achieved,
               "steps": result.steps, "evaluations": evaluations, "seconds": seconds})
    return result
