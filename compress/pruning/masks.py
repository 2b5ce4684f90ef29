"""Pruning masks keyed by layer name: ``{layer: {param: bool tensor}}``, never by module object.

A mask of ``True`` keeps the entry. Conv/linear layers carry a ``weight`` mask (and ``bias`` when a whole
filter is removed); the BatchNorm after a removed filter carries ``weight``/``bias`` masks so the channel
is exactly zero, as removing the filter means.

>>> masks = Masks({"conv1": {"weight": torch.ones(4, 3, 3, 3, dtype=torch.bool)}})
>>> masks.apply(model)            # zero the pruned entries in place
>>> masks.count()["conv1"]        # {'kept': 108, 'total': 108}
>>> Masks.from_data(masks.to_data()) == masks
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_checkpoint, save_checkpoint


@dataclass
class Masks:
    """One boolean mask per (layer name, parameter name)."""

    layers: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    def _params(self, model: nn.Module):
        modules = dict(model.named_modules())
        for layer, params in self.layers.items():
            if layer not in modules:
                raise ValueError(f"mask for unknown layer {layer!r}; the model has no module of that name")
            for pname, mask in params.items():
                param = getattr(modules[layer], pname, None)
                if not isinstance(param, torch.Tensor) or param.shape != mask.shape:
                    got = None if param is None else tuple(param.shape)
                    raise ValueError(f"mask {layer}.{pname} has shape {tuple(mask.shape)}, parameter has {got}")
                yield param, mask

    @classmethod
    def of_zeros(cls, model: nn.Module) -> Masks:
        """Masks keeping every nonzero conv/linear weight: the pattern a compacted, column-pruned model holds."""
        kept = {n: m.weight.detach().ne(0).cpu() for n, m in model.named_modules()
                if isinstance(m, (nn.Conv2d, nn.Linear))}
        return cls({n: {"weight": mask} for n, mask in kept.items() if not bool(mask.all())})

    @torch.no_grad()
    def apply(self, model: nn.Module) -> nn.Module:
        """Zero every masked-out entry of ``model`` in place; returns ``model``."""
        for param, mask in self._params(model):
            param.mul_(mask if mask.device == param.device else mask.to(param.device))
        return model

    @torch.no_grad()
    def mask_grads(self, model: nn.Module) -> None:
        """Zero the gradients of masked-out entries (so the optimizer state never grows there)."""
        for param, mask in self._params(model):
            if param.grad is not None:
                param.grad.mul_(mask if mask.device == param.device else mask.to(param.device))

    def to(self, device: str | torch.device) -> Masks:
        """The same masks on ``device`` (masked training keeps them next to the weights)."""
        return Masks({layer: {p: m.to(device) for p, m in params.items()} for layer, params in self.layers.items()})

    def count(self) -> dict[str, dict[str, int]]:
        """Kept and total entries of each layer's weight mask."""
        return {layer: {"kept": int(p["weight"].sum()), "total": p["weight"].numel()}
                for layer, p in self.layers.items() if "weight" in p}

    def merge(self, other: Masks) -> Masks:
        """The intersection: an entry is kept only if both keep it."""
        merged = {layer: dict(params) for layer, params in self.layers.items()}
        for layer, params in other.layers.items():
            for pname, mask in params.items():
                mine = merged.setdefault(layer, {}).get(pname)
                merged[layer][pname] = mask.clone() if mine is None else mine & mask
        return Masks(merged)

    def to_data(self) -> dict[str, dict[str, torch.Tensor]]:
        """Plain nested dict of CPU bool tensors (safe for ``torch.load(weights_only=True)``)."""
        return {layer: {p: m.detach().cpu().bool() for p, m in params.items()} for layer, params in self.layers.items()}

    @classmethod
    def from_data(cls, data: dict[str, dict[str, torch.Tensor]]) -> Masks:
        return cls({layer: {p: m.bool() for p, m in params.items()} for layer, params in data.items()})

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(path, {"masks": self.to_data()})

    @classmethod
    def load(cls, path: str | Path) -> Masks:
        return cls.from_data(load_checkpoint(path)["masks"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Masks) or self.layers.keys() != other.layers.keys():
            return False
        return all(a.keys() == other.layers[k].keys() and all(torch.equal(a[p], other.layers[k][p]) for p in a)
                   for k, a in self.layers.items())
