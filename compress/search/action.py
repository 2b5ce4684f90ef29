"""Actions: per prunable layer a filter and a column rate (or a non-structured rate), as the search moves them.

The search moves *knobs*, not layers: one filter knob per filter group (layers writing one residual stream
share one filter rate, ``Structure.filter_groups()``), one column knob (or weight knob for
'unstructured') per conv/linear layer. Each knob is bounded by ``max_rate`` and by keeping at least
``min_kept`` filters/columns. ``ActionSpace.action(values)`` turns knob values into an ``Action``: the
per-layer ``LayerRate`` dict that ``project_masks`` takes, with its analytic weight and MAC counts.

>>> space = ActionSpace(cost, "filter+column")
>>> action = space.action(np.full(len(space.knobs), 0.5))
>>> action.rates["layer1.0.conv1"], action.weights, action.macs
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..pruning.plan import COLUMN_SCHEMES, FILTER_SCHEMES, LayerRate
from ..pruning.projection import check_scheme
from .cost import CostModel, RateTuple, layer_rates

KNOB_KINDS = ("filter", "column", "weight")


@dataclass(frozen=True)
class Knob:
    """One number the search moves: a shared filter rate, or one layer's column / weight rate."""

    name: str  # "filter:<first layer of the group>", "column:<layer>" or "weight:<layer>"
    kind: str  # filter | column | weight
    layers: tuple[str, ...]  # layers whose rate it sets
    units: int  # channels / columns / weights it removes from
    size: int  # weights of its layers (experience: larger layers can take higher rates)
    macs: int  # MACs of its layers (the "size" that matters for a MAC or latency target)
    max_rate: float  # upper bound: min(max_rate, 1 - min_kept / units)


@dataclass(frozen=True)
class Action:
    """A candidate: per-layer rates (ready for ``project_masks``), knob values, analytic counts."""

    scheme: str
    rates: dict[str, RateTuple]  # per layer (filter, column, weight); ``layer_rates()`` for the LayerRate dict
    values: tuple[float, ...]
    key: tuple[int, ...]  # kept rows/columns per layer: the cache key
    weights: int  # nonzero conv+fc weights after projection
    macs: int  # MACs over kept rows x kept columns (nonzero MACs for 'unstructured')

    def layer_rates(self) -> dict[str, LayerRate]:
        """Per-layer ``LayerRate`` (what ``project_masks`` and ``PruneConfig.rates`` take)."""
        return layer_rates(self.rates)

    def to_data(self) -> dict:
        """JSON-ready: scheme, per-layer rates, knob values and counts."""
        return {"scheme": self.scheme, "rates": {n: r._asdict() for n, r in self.rates.items()},
                "values": list(self.values), "weights": self.weights, "macs": self.macs}


class ActionSpace:
    """The knobs of one model and scheme, and the map from knob values to actions."""

    def __init__(self, cost: CostModel, scheme: str, max_rate: float = 0.95, min_kept: int = 2,
                 include_linear: bool = True) -> None:
        if not 0.0 < max_rate < 1.0:
            raise ValueError(f"max_rate {max_rate!r} out of range; expected 0 < max_rate < 1")
        self.cost, self.scheme = cost, check_scheme(scheme)
        layers = [n for n, layer in cost.layers.items() if include_linear or layer.kind != "linear"]
        knobs: list[Knob] = []
        if scheme in FILTER_SCHEMES:
            for g, group in enumerate(cost.groups):
                size = sum(cost.layers[n].weights for n in group)
                macs = sum(cost.layers[n].weights * cost.layers[n].out_pixels for n in group)
                knobs.append(Knob(f"filter:{group[0]}", "filter", tuple(group), cost.group_size[g], size, macs,
                                  self._bound(max_rate, min_kept, cost.group_size[g])))
        kind = "column" if scheme in COLUMN_SCHEMES else "weight" if scheme == "unstructured" else None
        if kind:
            for n in layers:
                units = cost.layers[n].cols if kind == "column" else cost.layers[n].weights
                layer = cost.layers[n]
                knobs.append(Knob(f"{kind}:{n}", kind, (n,), units, layer.weights, layer.weights * layer.out_pixels,
                                  self._bound(max_rate, min_kept, units)))
        self.knobs = knobs
        self.upper = np.array([k.max_rate for k in knobs])
        self.sizes = np.array([k.size for k in knobs], dtype=float)
        self.macs = np.array([k.macs for k in knobs], dtype=float)

    def weight_of(self, kind: str) -> np.ndarray:
        """Each knob's share of what a target of ``kind`` counts: weights for 'rate', MACs otherwise."""
        return self.sizes if kind == "rate" else self.macs

    @staticmethod
    def _bound(max_rate: float, min_kept: int, units: int) -> float:
        return max(0.0, min(max_rate, 1.0 - min_kept / units))

    def clip(self, values: np.ndarray) -> np.ndarray:
        """Values inside [0, each knob's max rate]."""
        return np.clip(np.asarray(values, dtype=float), 0.0, self.upper)

    def rates(self, values: np.ndarray) -> dict[str, RateTuple]:
        """Per-layer rates of knob values, raised to keep only nonzero rows/columns (``CostModel.floor_rates``)."""
        fields: dict[str, dict[str, float]] = {n: {} for n in self.cost.layers}
        for knob, value in zip(self.knobs, self.clip(values)):
            for layer in knob.layers:
                fields[layer][knob.kind] = float(value)
        return self.cost.floor_rates({n: RateTuple(**f) for n, f in fields.items()}, self.scheme)

    def action(self, values: np.ndarray) -> Action:
        """The action of knob values (clipped to their bounds), with its analytic counts."""
        values = self.clip(values)
        rates = self.rates(values)
        table = self.cost.kept_table(rates, self.scheme)
        weights, macs = self.cost.totals(table)
        key = tuple(k for pair in table for k in pair)  # the action rounded to whole rows/columns
        return Action(self.scheme, rates, tuple(float(v) for v in values), key, weights, macs)
