"""Analytic weight and MAC counts of a candidate: from layer shapes, kept fractions and the coupling.

No forward pass per candidate: ``CostModel`` reads the model once (shapes, output pixels, which rows and
columns are already zero, and the channel order the filter projection will use) and then counts any set of
per-layer rates with a few integer operations per layer. It follows ``project_masks`` exactly:

* a filter group (layers writing one residual stream) keeps ``kept(C, r)`` channels, ``r`` = the smallest
  filter rate of its layers, chosen by the summed row norms of the group;
* a layer reading removed channels loses their columns; the column rate counts only the live columns;
* zeros already in the weights (an earlier round) stay zero: rows and columns are counted as nonzero only
  where the weights are. ``floor_rates`` raises rates that would "keep" zero rows/columns to the level that
  keeps only nonzero ones, so the count stays exact after ADMM, whatever W does in between.

>>> cost = CostModel(model, trace_structure(model, (3, 32, 32)), (3, 32, 32))
>>> rates = {name: RateTuple(filter=0.5, column=0.3) for name in cost.layers}
>>> cost.count(cost.floor_rates(rates, "filter+column"), "filter+column")   # (weights, MACs)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple

import numpy as np
import torch
from torch import nn

from ..counting import count_model
from ..pruning.plan import COLUMN_SCHEMES, FILTER_SCHEMES, LayerRate, layer_weights
from ..pruning.projection import check_scheme, kept, row_scores
from ..pruning.structure import Structure


class RateTuple(NamedTuple):
    """A light ``LayerRate`` for the inner loop (``LayerRate`` validates itself on every construction)."""

    filter: float = 0.0
    column: float = 0.0
    weight: float = 0.0


Rates = Mapping[str, "RateTuple | LayerRate"]
NO_RATE = RateTuple()


def layer_rates(rates: Rates) -> dict[str, LayerRate]:
    """The ``LayerRate`` dict ``project_masks`` takes."""
    return {n: LayerRate(r.filter, r.column, r.weight) for n, r in rates.items()}


@dataclass
class LayerShape:
    """What the counts of one conv/linear layer depend on."""

    name: str
    kind: str  # "conv" or "linear"
    rows: int  # filters / output units
    cols: int  # in_channels * taps
    taps: int  # columns per input channel (kh*kw; H*W for a linear reading a flattened map)
    out_pixels: int  # output positions per image (1 for linear)
    out_group: int | None  # filter group it writes (None: its filters are never removed)
    in_group: int | None  # filter group whose channels it reads (None: all inputs stay)
    nz_rows: np.ndarray  # nz_rows[k]: nonzero rows among the first k output channels in group order
    nz_cols: np.ndarray  # nz_cols[k]: nonzero columns among the first k input channels in group order
    nonzero: int  # nonzero weights now

    @property
    def weights(self) -> int:
        return self.rows * self.cols


def _order(scores: torch.Tensor) -> torch.Tensor:
    """Channels by decreasing score, ties by index (the order top-k keeps them in)."""
    return torch.sort(-scores, stable=True).indices


def _prefix(counts: torch.Tensor, order: torch.Tensor | None) -> np.ndarray:
    ordered = counts if order is None else counts[order]
    return np.concatenate([[0], np.cumsum(ordered.numpy())]).astype(np.int64)


class CostModel:
    """Weights and MACs of ``model`` under any per-layer rates, counted analytically."""

    def __init__(self, model: nn.Module, structure: Structure, input_shape: tuple[int, ...]) -> None:
        weights = {n: w.detach().float().cpu() for n, w in layer_weights(model).items()}
        pixels = {layer.name: layer.out_pixels for layer in count_model(model, input_shape).layers}
        self.groups: list[list[str]] = structure.filter_groups()
        group_of_space = {structure.space_of_output(g[0]): i for i, g in enumerate(self.groups)}
        orders, self.group_size, self.group_live = {}, [], []
        for i, group in enumerate(self.groups):
            scores = sum(row_scores(weights[layer]) for layer in group)
            orders[i] = _order(scores)
            self.group_size.append(len(scores))
            self.group_live.append(int((scores > 0).sum()))
        self.layers: dict[str, LayerShape] = {}
        for name in structure.layers():
            matrix = weights[name].reshape(weights[name].shape[0], -1) != 0
            out_g = group_of_space.get(structure.space_of_output(name))
            in_g = group_of_space.get(structure.space_of_input(name))
            channels = structure.spaces[structure.space_of_input(name)].size
            taps = matrix.shape[1] // channels
            col_nz = matrix.any(0).reshape(channels, taps).sum(1)
            self.layers[name] = LayerShape(
                name, structure.nodes[structure.layer_node[name]].kind, matrix.shape[0], matrix.shape[1], taps,
                pixels[name], out_g, in_g, _prefix(matrix.any(1).long(), orders.get(out_g)),
                _prefix(col_nz, orders.get(in_g)), int(matrix.sum()))

    def group_kept(self, rates: Rates) -> list[int]:
        """Channels each filter group keeps: its smallest filter rate decides, as in ``project_masks``."""
        return [kept(size, min(rates.get(layer, NO_RATE).filter for layer in group))
                for group, size in zip(self.groups, self.group_size)]

    @staticmethod
    def _kept_io(layer: LayerShape, group_kept: list[int] | None) -> tuple[int, int]:
        """(kept output channels, kept input channels) of a layer; ``group_kept`` None: no filter pruning."""
        k_out, k_in = layer.rows, layer.cols // layer.taps
        if group_kept is not None:
            k_out = k_out if layer.out_group is None else group_kept[layer.out_group]
            k_in = k_in if layer.in_group is None else group_kept[layer.in_group]
        return k_out, k_in

    def floor_rates(self, rates: Rates, scheme: str) -> dict[str, RateTuple]:
        """``rates`` raised where they would keep rows/columns that are already zero (see module doc)."""
        check_scheme(scheme)
        out = {n: RateTuple(r.filter, r.column, r.weight) for n, r in rates.items()}
        if scheme in FILTER_SCHEMES:
            for g, group in enumerate(self.groups):
                floor = 1.0 - max(self.group_live[g], 1) / self.group_size[g]
                for layer in group:
                    rate = out.get(layer, NO_RATE)
                    if rate.filter < floor:
                        out[layer] = rate._replace(filter=floor)
        group_kept = self.group_kept(out) if scheme in FILTER_SCHEMES else None
        for name, layer in self.layers.items():
            rate = out.get(name, NO_RATE)
            if scheme in COLUMN_SCHEMES:
                k_in = self._kept_io(layer, group_kept)[1]
                floor = 1.0 - max(int(layer.nz_cols[k_in]), 1) / (k_in * layer.taps)
                if rate.column < floor:
                    out[name] = rate._replace(column=floor)
            elif scheme == "unstructured":
                floor = 1.0 - max(layer.nonzero, 1) / layer.weights
                if rate.weight < floor:
                    out[name] = rate._replace(weight=floor)
        return out

    def kept_table(self, rates: Rates, scheme: str) -> list[tuple[int, int]]:
        """Per layer, (nonzero rows, nonzero columns) kept; for 'unstructured', (nonzero weights, 1)."""
        if scheme == "unstructured":
            return [(min(kept(layer.weights, rates.get(n, NO_RATE).weight), layer.nonzero), 1)
                    for n, layer in self.layers.items()]
        group_kept = self.group_kept(rates) if scheme in FILTER_SCHEMES else None
        table = []
        for name, layer in self.layers.items():
            k_out, k_in = self._kept_io(layer, group_kept)
            cols = int(layer.nz_cols[k_in])
            if scheme in COLUMN_SCHEMES:
                cols = min(cols, kept(k_in * layer.taps, rates.get(name, NO_RATE).column))
            table.append((int(layer.nz_rows[k_out]), cols))
        return table

    def totals(self, table: list[tuple[int, int]]) -> tuple[int, int]:
        """(nonzero conv+fc weights, structured MACs) of a ``kept_table``."""
        weights = sum(rows * cols for rows, cols in table)
        macs = sum(rows * cols * layer.out_pixels for (rows, cols), layer in zip(table, self.layers.values()))
        return weights, macs

    def count(self, rates: Rates, scheme: str) -> tuple[int, int]:
        """(nonzero conv+fc weights, structured MACs) of the whole model at ``rates``."""
        return self.totals(self.kept_table(rates, scheme))

    @property
    def dense_weights(self) -> int:
        return sum(layer.weights for layer in self.layers.values())

    @property
    def dense_macs(self) -> int:
        return sum(layer.weights * layer.out_pixels for layer in self.layers.values())
