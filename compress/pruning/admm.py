"""ADMM pruning and masked retraining, as hooks into the one training loop (``compress.train``).

ADMM splits ``min loss(W) s.t. W in S`` into W and Z = W: the loop trains on
``loss(W) + (rho/2) sum_p ||W_p - Z_p + U_p||^2`` and every update (each epoch, or every
``update_every_steps`` steps) sets ``Z = Proj_S(W + U)`` and ``U = U + W - Z``. The variables are every
parameter the projection masks: conv/linear weights, and the BatchNorm scale/shift (and conv bias) of removed
filters, so ADMM makes a filter's removal harmless before hard pruning instead of only shrinking the conv.

rho is set from the training run: the penalty's pull over one update, ``lr / (1 - momentum) * rho * steps``,
starts at ``pull`` (a fraction ``1 - exp(-pull)`` of the gap to Z closed per update) and grows by
``rho_growth`` after every update whose residual ``||W - Z|| / ||W||`` exceeds ``tolerance``, up to one full
closing per step. U is the scaled dual, so it is rescaled by old/new rho when rho grows (Boyd et al. 2011,
section 3.4.1). Each update logs the residual, rho and the fraction of the kept set that changed. Once
``early_finish`` updates in a row have converged, the phase ends (``finished``) and the prune sequence gives its
remaining epochs to retraining: the same budget, spent where it still changes the model. With ``stall`` set, the
phase also ends once rho has sat at its cap for that many updates without lowering the residual by 5%: the loss then
holds W off Z and more ADMM epochs cannot reach the tolerance.
Then hard pruning ``W = Proj_S(W)`` and masked retraining with ``MaskHooks`` (pruned entries stay exactly zero).

>>> hooks = AdmmHooks(model, structure, "filter+column", rates, AdmmConfig(), TrainConfig(lr=0.01), steps=352)
>>> train(model, splits, TrainConfig(lr=0.01, schedule="constant", epochs=6), hooks=hooks)
>>> hooks.log[-1]                              # {"update": 6, "rho": ..., "residual": ..., "changed": ...}
>>> masks = hooks.final_masks(model)          # = project_masks(structure, W, ...)
>>> train(model, splits, TrainConfig(epochs=3), hooks=MaskHooks(masks.apply(model)))
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..progress import note
from ..train import TrainConfig, TrainHooks
from .masks import Masks
from .plan import LayerRate, layer_weights, project_masks
from .structure import Structure


@dataclass
class AdmmConfig:
    """ADMM settings; the defaults work without tuning because rho is derived from the training run."""

    rho: float = 0.0  # initial penalty weight; 0: automatic, so that the first update's pull is `pull`
    pull: float = 0.5  # automatic rho: lr / (1 - momentum) * rho * steps per update, at the start
    rho_growth: float = 1.5  # rho is multiplied by this after each update whose residual exceeds `tolerance`
    tolerance: float = 0.01  # converged: residual ||W - Z|| / ||W|| and changed share of the kept set both below
    update_every_steps: int = 0  # update Z and U every this many steps (0: after each epoch)
    early_finish: int = 2  # ADMM ends once this many updates in a row converged (0: never before its last epoch)
    stall: int = 0  # ADMM also ends after this many updates at the rho cap without a 5% lower residual (0: never)

    def __post_init__(self) -> None:
        if (self.rho < 0 or self.pull <= 0 or self.rho_growth < 1 or self.tolerance <= 0
                or self.update_every_steps < 0 or self.early_finish < 0 or self.stall < 0):
            raise ValueError(f"invalid ADMM settings {self}: need rho >= 0, pull > 0, rho_growth >= 1, "
                             "tolerance > 0, update_every_steps >= 0, early_finish >= 0, stall >= 0")


def describe(summary: dict | None) -> str:
    """One line for a report: whether ADMM converged, from ``AdmmHooks.summary()`` (None: no ADMM ran)."""
    if not summary or not summary["updates"]:
        return "no ADMM"
    last, moved = summary["updates"][-1], summary.get("moved_epochs", 0)
    return (f"{'yes' if summary['converged'] else 'no'}: residual {last['residual']:.4f}, kept set changed "
            f"{last['changed']:.1%} at the last of {len(summary['updates'])} updates (rho {last['rho']:.3g})"
            + (f"; {'stalled at the rho cap' if summary.get('stalled') else 'ended early'}, its last {moved} epochs "
               "retrained instead" if moved else ""))


class MaskHooks(TrainHooks):
    """Masked retraining: gradients and weights of pruned entries are zeroed around every step.

    Masking the gradient keeps momentum buffers and weight decay at zero there; re-masking the weight after
    the step makes the zeros exact whatever the optimizer does.
    """

    def __init__(self, masks: Masks) -> None:
        self.masks = masks
        self._device: torch.device | None = None

    def _on_device(self, model: nn.Module) -> Masks:
        device = next(model.parameters()).device
        if self._device != device:  # once: no host-to-device copies on every step
            self.masks, self._device = self.masks.to(device), device
        return self.masks

    def after_backward(self, model: nn.Module) -> None:
        self._on_device(model).mask_grads(model)

    def after_step(self, model: nn.Module) -> None:
        self._on_device(model).apply(model)

    def state_dict(self) -> dict[str, Any]:
        return {"masks": self.masks.to_data()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "masks" in state:
            self.masks, self._device = Masks.from_data(state["masks"]), None


def rho_bounds(config: AdmmConfig, train: TrainConfig, steps_per_update: int) -> tuple[float, float]:
    """(initial rho, largest rho): the pull ``lr / (1 - momentum) * rho * steps`` starts at ``config.pull``
    (or rho is ``config.rho``) and never exceeds one full closing of the gap per step."""
    per_step = train.lr / max(1.0 - train.momentum, 1e-3)
    largest = 1.0 / per_step
    start = config.rho or config.pull / (per_step * max(steps_per_update, 1))
    return min(start, largest), max(largest, start)


class AdmmHooks(TrainHooks):
    """The ADMM augmented term and the Z/U/rho updates; ``steps`` is the number of training steps per epoch."""

    def __init__(self, model: nn.Module, structure: Structure, scheme: str, rates: dict[str, LayerRate],
                 config: AdmmConfig, train: TrainConfig, steps: int) -> None:
        self.structure, self.scheme, self.rates, self.config = structure, scheme, rates, config
        self.rho, self.rho_max = rho_bounds(config, train, config.update_every_steps or steps)
        self.steps = 0
        self.log: list[dict] = []
        masks = self.project(layer_weights(model))
        self.names = sorted(f"{layer}.{p}" for layer, params in masks.layers.items() for p in params)
        params = self._params(model)
        self.Z = {n: params[n].detach().clone() for n in self.names}
        self.U = {n: torch.zeros_like(params[n]) for n in self.names}
        self.update(model, dual=False)  # Z = Proj(W), U = 0

    def project(self, weights: dict[str, torch.Tensor]) -> Masks:
        return project_masks(self.structure, weights, self.scheme, self.rates)

    def _params(self, model: nn.Module) -> dict[str, torch.Tensor]:
        modules = dict(model.named_modules())
        return {n: getattr(modules[n.rsplit(".", 1)[0]], n.rsplit(".", 1)[1]) for n in self.names}

    @torch.no_grad()
    def update(self, model: nn.Module, dual: bool = True) -> None:
        """Z = Proj(W + U); U = U + W - Z (skipped for the initial Z); log the residual; grow rho.

        The projection sees every layer (it needs all weights to choose shared channels); only the masked
        parameters carry U, Z and the penalty.
        """
        params = self._params(model)
        v = {n: p + self.U[n].to(p.device) for n, p in params.items()}
        weights = {layer: v.get(f"{layer}.weight", w) for layer, w in layer_weights(model).items()}
        masks = self.project(weights).layers
        changed = kept = 0
        for n in self.names:
            layer, pname = n.rsplit(".", 1)
            mask = masks[layer][pname].to(v[n].device) if pname in masks.get(layer, {}) else torch.ones_like(
                v[n], dtype=torch.bool)
            if pname == "weight" and not isinstance(model.get_submodule(layer), nn.modules.batchnorm._BatchNorm):
                changed += int((mask & (self.Z[n] == 0)).sum()) if dual else 0
                kept += int(mask.sum())
            self.Z[n] = v[n] * mask
            self.U[n] = (v[n] - self.Z[n]) if dual else torch.zeros_like(v[n])
        if dual:
            residual = self.residual(model)
            self.log.append({"update": len(self.log) + 1, "step": self.steps, "rho": self.rho, "residual": residual,
                             "changed": changed / max(kept, 1)})
            note(f"admm update {len(self.log)}: rho {self.rho:.3g} residual {residual:.4f} kept set changed "
                 f"{changed / max(kept, 1):.1%}")
            self.grow(residual)

    def grow(self, residual: float) -> None:
        """After an update: rho *= rho_growth while the residual exceeds the tolerance, U rescaled to match."""
        if residual > self.config.tolerance and self.rho < self.rho_max:
            grown = min(self.rho * self.config.rho_growth, self.rho_max)
            for n in self.names:  # U is the scaled dual lambda / rho
                self.U[n] *= self.rho / grown
            self.rho = grown

    def residual(self, model: nn.Module) -> float:
        """||W - Z|| / ||W|| over every ADMM variable: how far W still is from the sparsity set."""
        params = self._params(model)
        gap = sum(float((params[n] - self.Z[n].to(params[n].device)).pow(2).sum()) for n in self.names)
        norm = sum(float(params[n].pow(2).sum()) for n in self.names)
        return math.sqrt(gap / max(norm, 1e-24))

    def _within(self, update: dict) -> bool:
        return update["residual"] <= self.config.tolerance and update["changed"] <= self.config.tolerance

    def converged(self) -> bool:
        """The last update's residual and changed share of the kept set are both within tolerance."""
        return bool(self.log) and self._within(self.log[-1])

    def finished(self) -> bool:
        """The last ``config.early_finish`` updates all converged (more ADMM epochs would only hold W at Z), or
        ADMM stalled."""
        n = self.config.early_finish
        return (0 < n <= len(self.log) and all(self._within(u) for u in self.log[-n:])) or self.stalled()

    def stalled(self) -> bool:
        """The last ``config.stall`` updates ran at the rho cap and none lowered the residual 5% below the one
        before them."""
        n = self.config.stall
        if n == 0 or len(self.log) <= n:
            return False
        last, before = self.log[-n:], self.log[-n - 1]["residual"]
        capped = all(u["rho"] >= self.rho_max * (1 - 1e-9) for u in last)
        return capped and min(u["residual"] for u in last) > 0.95 * before

    def summary(self) -> dict[str, Any]:
        """What the report keeps: convergence, the rho the next update would use, the per-update log."""
        return {"converged": self.converged(), "stalled": self.stalled(), "rho": self.rho, "updates": self.log}

    def loss_term(self, model: nn.Module) -> torch.Tensor | None:
        params = self._params(model)
        total = None
        for n, p in params.items():
            if self.Z[n].device != p.device:  # the loop moved the model after the hooks were made
                self.Z[n], self.U[n] = self.Z[n].to(p.device), self.U[n].to(p.device)
            term = (p - self.Z[n] + self.U[n]).pow(2).sum()
            total = term if total is None else total + term
        return None if total is None else 0.5 * self.rho * total

    def after_step(self, model: nn.Module) -> None:
        self.steps += 1
        if self.config.update_every_steps and self.steps % self.config.update_every_steps == 0:
            self.update(model)

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        if not self.config.update_every_steps:
            self.update(model)

    def final_masks(self, model: nn.Module) -> Masks:
        """Hard pruning: the masks of Proj_S(W) (BatchNorm of removed filters included)."""
        return self.project(layer_weights(model))

    def state_dict(self) -> dict[str, Any]:
        return {"rho": self.rho, "steps": self.steps, "log": self.log,
                "Z": {n: t.cpu() for n, t in self.Z.items()}, "U": {n: t.cpu() for n, t in self.U.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.rho, self.steps, self.log = float(state["rho"]), int(state["steps"]), list(state.get("log", []))
            self.Z, self.U = dict(state["Z"]), dict(state["U"])
