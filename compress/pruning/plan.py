"""Per-layer rates and the whole-model projection: weights -> ``Masks`` for one scheme.

Filter pruning works on spaces (see structure.py): removing channel ``c`` of a space zeroes row ``c`` of
every conv/linear writing it (and its bias), channel ``c`` of every BatchNorm and depthwise conv on it, and
the columns of channel ``c`` in every layer reading it. In a ResNet the convs feeding one residual stream form
one group: a channel is chosen by the summed squared norms of its filters in the group, and the group's rate
is the *smallest* filter rate among its layers (no layer loses more than asked). Column pruning is per layer
and counts only live columns (those whose input channel survived filter pruning). Depthwise convs have no
rate of their own: they follow the channels of their space.

>>> s = trace_structure(model, (3, 32, 32))
>>> rates = uniform_rates(s, LayerRate(filter=0.5, column=0.3))
>>> masks = project_masks(s, layer_weights(model), "filter+column", rates)
>>> masks.apply(model)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .masks import Masks
from .projection import check_scheme, column_mask, kept, row_scores, unstructured_mask
from .structure import Structure


@dataclass(frozen=True)
class LayerRate:
    """Fractions removed in one layer; a scheme uses only its own fields."""

    filter: float = 0.0  # filters (rows / output channels) removed: "filter", "filter+column"
    column: float = 0.0  # live columns ((channel, kh, kw) taps) removed: "column", "filter+column"
    weight: float = 0.0  # single weights removed: "unstructured"

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            kept(1, value)  # raises with the bad value

    @classmethod
    def parse(cls, value: float | list | dict, scheme: str) -> LayerRate:
        """A rate from JSON: a number (the scheme's own rate), ``[filter, column]`` or ``{"filter": ...}``."""
        if isinstance(value, dict):
            unknown = set(value) - {"filter", "column", "weight"}
            if unknown:
                raise ValueError(f"unknown rate keys {sorted(unknown)}; expected: filter, column, weight")
            return cls(**{k: float(v) for k, v in value.items()})
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError(f"a rate list must be [filter, column], got {value!r}")
            return cls(filter=float(value[0]), column=float(value[1]))
        field = {"filter": "filter", "column": "column", "unstructured": "weight"}.get(check_scheme(scheme))
        if field is None:
            raise ValueError(f"scheme {scheme!r} needs [filter, column] or a dict per layer, got {value!r}")
        return cls(**{field: float(value)})


FILTER_SCHEMES = ("filter", "filter+column")
COLUMN_SCHEMES = ("column", "filter+column")


def layer_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Conv/linear weights by layer name (detached)."""
    return {n: m.weight.detach() for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def uniform_rates(structure: Structure, rate: LayerRate, include_linear: bool = False) -> dict[str, LayerRate]:
    """The same rate on every conv (and linear layer when asked)."""
    kinds = ("conv", "linear") if include_linear else ("conv",)
    return {n.target: rate for n in structure.nodes.values() if n.kind in kinds}


def removed_channels(structure: Structure, weights: dict[str, torch.Tensor],
                     rates: dict[str, LayerRate]) -> dict[int, torch.Tensor]:
    """Per prunable space, a bool tensor marking removed channels (groups share one choice)."""
    removed: dict[int, torch.Tensor] = {}
    for group in structure.filter_groups():
        rate = min(rates.get(layer, LayerRate()).filter for layer in group)
        if rate == 0.0:
            continue
        sid = structure.space_of_output(group[0])
        scores = sum(row_scores(weights[layer]) for layer in group)
        keep = torch.zeros(structure.spaces[sid].size, dtype=torch.bool)
        keep[torch.topk(scores, kept(len(keep), rate)).indices.cpu()] = True
        removed[sid] = ~keep
    return removed


def _channel_cols(channels: torch.Tensor, weight: torch.Tensor, expand: int) -> torch.Tensor:
    """Per column of ``weight``'s matrix: True where its input channel is marked in ``channels``."""
    taps = weight[0].numel() // (len(channels) * expand) if weight.dim() == 4 else 1
    return channels.repeat_interleave(expand * taps)


def project_masks(structure: Structure, weights: dict[str, torch.Tensor], scheme: str,
                  rates: dict[str, LayerRate]) -> Masks:
    """Masks of the projection of ``weights`` onto ``scheme`` at ``rates`` (layers missing from ``rates``: 0)."""
    check_scheme(scheme)
    unknown = sorted(set(rates) - set(weights))
    if unknown:
        raise ValueError(f"rates for unknown layers {unknown[:5]}; prunable layers: {', '.join(list(weights)[:8])} ...")
    removed = removed_channels(structure, weights, rates) if scheme in FILTER_SCHEMES else {}
    masks: dict[str, dict[str, torch.Tensor]] = {}
    for layer in structure.layers():
        w = weights[layer]
        rate = rates.get(layer, LayerRate())
        out_sid, read = structure.space_of_output(layer), structure.read_of(layer)
        rows = ~removed[out_sid] if out_sid in removed else torch.ones(w.shape[0], dtype=torch.bool)
        dead_in = removed.get(structure.space_of_input(layer))
        live_cols = ~_channel_cols(dead_in, w, read.expand) if dead_in is not None else None
        mask = rows.to(w.device).reshape(-1, *[1] * (w.dim() - 1)).expand_as(w).clone()
        if live_cols is not None:
            mask &= live_cols.to(w.device).expand(w.shape[0], -1).reshape(w.shape)
        if scheme in COLUMN_SCHEMES and rate.column > 0:
            mask &= column_mask(w * mask, rate.column, live_cols)
        if scheme == "unstructured" and rate.weight > 0:
            mask &= unstructured_mask(w, rate.weight)
        if not bool(mask.all()):
            masks[layer] = {"weight": mask.cpu()}
            if out_sid in removed and structure.has_bias(layer):
                masks[layer]["bias"] = rows.clone()
    for sid, dead in removed.items():
        for bn in structure.spaces[sid].bns:
            masks[bn] = {"weight": ~dead, "bias": ~dead}
        for layer in structure.spaces[sid].depthwise:
            masks[layer] = {"weight": (~dead).reshape(-1, 1, 1, 1).expand_as(weights[layer]).clone()}
            if structure.has_bias(layer):
                masks[layer]["bias"] = ~dead
    return Masks(masks)
