"""ADMM pruning and masked retraining, as hooks into the one training loop (``compress.train``).

ADMM splits ``min loss(W) s.t. W in S`` into W and Z = W: the loop trains on
``loss(W) + sum_l (rho/2) ||W_l - Z_l + U_l||^2`` and every update sets ``Z = Proj_S(W + U)`` and
``U = U + W - Z``; rho grows by ``rho_factor`` per stage so W is pulled ever harder onto S. Then hard
pruning ``W = Proj_S(W)`` and masked retraining with ``MaskHooks`` (pruned entries stay exactly zero).

>>> hooks = AdmmHooks(model, structure, "filter+column", rates, AdmmConfig(), epochs=6)
>>> train(model, splits, TrainConfig(epochs=6), hooks=hooks)
>>> masks = hooks.final_masks(model)          # = project_masks(structure, W, ...)
>>> train(model, splits, TrainConfig(epochs=3), hooks=MaskHooks(masks.apply(model)))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..train import TrainHooks
from .masks import Masks
from .plan import LayerRate, layer_weights, project_masks
from .structure import Structure


@dataclass
class AdmmConfig:
    """ADMM settings."""

    rho: float = 1e-2  # initial penalty weight of (rho/2)||W - Z + U||^2, summed over pruned layers
    rho_factor: float = 10.0  # rho is multiplied by this at each new stage
    rho_stages: int = 3  # number of rho values; the ADMM epochs are split evenly among them
    update_every_steps: int = 0  # also update Z and U every this many steps (0: only after each epoch)


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


class AdmmHooks(TrainHooks):
    """The ADMM augmented term and the Z/U/rho updates for ``epochs`` epochs of training."""

    def __init__(self, model: nn.Module, structure: Structure, scheme: str, rates: dict[str, LayerRate],
                 config: AdmmConfig, epochs: int) -> None:
        self.structure, self.scheme, self.rates, self.config = structure, scheme, rates, config
        self.epochs = max(1, epochs)
        self.rho = config.rho
        self.steps = 0
        weights = layer_weights(model)
        self.layers = sorted(self.project(weights).layers.keys() & weights.keys())
        self.Z = {n: torch.zeros_like(weights[n]) for n in self.layers}
        self.U = {n: torch.zeros_like(weights[n]) for n in self.layers}
        self.update(model, dual=False)  # Z = Proj(W), U = 0

    def project(self, weights: dict[str, torch.Tensor]) -> Masks:
        return project_masks(self.structure, weights, self.scheme, self.rates)

    @torch.no_grad()
    def update(self, model: nn.Module, dual: bool = True) -> None:
        """Z = Proj(W + U); then U = U + W - Z (skipped for the initial Z).

        The projection sees every layer (it needs all weights to choose shared channels); only the pruned
        layers in ``self.layers`` carry U, Z and the penalty.
        """
        v = {n: w + self.U[n].to(w.device) if n in self.U else w for n, w in layer_weights(model).items()}
        masks = self.project(v)
        for n in self.layers:
            mask = masks.layers[n]["weight"].to(v[n].device) if n in masks.layers else 1.0
            self.Z[n] = v[n] * mask
            self.U[n] = (v[n] - self.Z[n]) if dual else torch.zeros_like(v[n])

    def residuals(self, model: nn.Module) -> dict[str, float]:
        """||W - Z|| / ||W|| per layer: how far W still is from the sparsity set."""
        weights = layer_weights(model)
        return {n: float((weights[n] - self.Z[n].to(weights[n].device)).norm() / weights[n].norm().clamp_min(1e-12))
                for n in self.layers}

    def loss_term(self, model: nn.Module) -> torch.Tensor | None:
        modules = dict(model.named_modules())
        total = None
        for n in self.layers:
            w = modules[n].weight
            if self.Z[n].device != w.device:  # the loop moved the model after the hooks were made
                self.Z[n], self.U[n] = self.Z[n].to(w.device), self.U[n].to(w.device)
            term = (w - self.Z[n] + self.U[n]).pow(2).sum()
            total = term if total is None else total + term
        return None if total is None else 0.5 * self.rho * total

    def after_step(self, model: nn.Module) -> None:
        self.steps += 1
        if self.config.update_every_steps and self.steps % self.config.update_every_steps == 0:
            self.update(model)

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        self.update(model)
        stage = min(self.config.rho_stages - 1, (epoch + 1) * self.config.rho_stages // self.epochs)
        self.rho = self.config.rho * self.config.rho_factor ** stage

    def final_masks(self, model: nn.Module) -> Masks:
        """Hard pruning: the masks of Proj_S(W) (BatchNorm of removed filters included)."""
        return self.project(layer_weights(model))

    def state_dict(self) -> dict[str, Any]:
        return {"rho": self.rho, "steps": self.steps,
                "Z": {n: t.cpu() for n, t in self.Z.items()}, "U": {n: t.cpu() for n, t in self.U.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.rho, self.steps = float(state["rho"]), int(state["steps"])
            self.Z, self.U = dict(state["Z"]), dict(state["U"])
