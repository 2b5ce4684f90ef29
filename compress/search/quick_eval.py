"""Quick evaluation of a candidate: one-shot projection, BatchNorm recalibration, validation score.

By default no training: the current weights are projected with the action (``project_masks`` + ``Masks.apply`` on
a working copy), BatchNorm statistics are re-estimated on a few fixed training batches (pruning shifts them;
without this, one-shot accuracy mostly measures stale statistics), and the copy is scored on a fixed subset
of the *validation* split (never test). Results are cached by the action's key (kept rows/columns).
With ``finetune_steps`` the projected copy first takes that many SGD steps on fixed training batches (pruned entries
held at zero): at high rates one-shot scores sit near chance for every candidate and cannot rank them.

>>> evaluator = QuickEvaluator(model, structure, splits, QuickEvalConfig(val_images=1000))
>>> evaluator(action).score        # accuracy in [0, 1] (or -loss with metric="loss")
>>> evaluator.evaluations          # forward passes paid for (cache hits excluded)
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Splits
from ..distributed import spread
from ..pruning.masks import Masks
from ..pruning.plan import layer_weights, project_masks
from ..pruning.structure import Structure
from ..train import calibration_batches, recalibrate_bn
from .action import Action

METRICS = ("accuracy", "loss")


@dataclass
class QuickEvalConfig:
    """Quick-evaluation settings."""

    val_images: int | None = 1000  # validation images scored per candidate (fixed seeded subset; None: all)
    recalibrate_batches: int = 4  # training batches re-estimating BatchNorm statistics (0: keep the old ones)
    recalibrate_batch_size: int = 128  # images per recalibration batch
    batch_size: int = 500  # images per evaluation forward pass
    finetune_steps: int = 0  # SGD steps (recalibrate_batch_size images each) before scoring; 0: one-shot
    finetune_lr: float = 0.01  # their learning rate (momentum 0.9)
    metric: str = "accuracy"  # accuracy: score in [0, 1]; loss: score = -cross-entropy (higher is better)

    def __post_init__(self) -> None:
        if self.finetune_steps < 0 or self.finetune_lr <= 0:
            raise ValueError(f"need finetune_steps >= 0 and finetune_lr > 0, got {self.finetune_steps}, "
                             f"{self.finetune_lr}")
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; expected one of: {', '.join(METRICS)}")


@dataclass(frozen=True)
class Evaluation:
    """The quick-evaluation result of one action."""

    score: float  # what the search maximises (accuracy, or -loss)
    accuracy: float
    loss: float
    seconds: float  # time the evaluation took (a cache hit returns the first evaluation's record)


def _batches(splits: Splits, name: str, batch_size: int, limit: int | None, shuffle: bool, device: str):
    loader = splits.loader(name, batch_size, shuffle=shuffle, augment=False, limit=limit, device=device)
    return [(x, y) for x, y in loader]


class QuickEvaluator:
    """Scores actions on ``model``'s current weights; ``model`` itself is never changed."""

    def __init__(self, model: nn.Module, structure: Structure, splits: Splits, config: QuickEvalConfig,
                 device: str = "cpu") -> None:
        self.structure, self.config, self.device = structure, config, device
        self.work = copy.deepcopy(model).to(device).eval()
        self.base = {k: v.clone() for k, v in self.work.state_dict().items()}
        self.weights = {k: w.clone() for k, w in layer_weights(self.work).items()}
        self.val = _batches(splits, "val", config.batch_size, config.val_images, False, device)
        self.calibration = calibration_batches(splits, config.recalibrate_batches, config.recalibrate_batch_size,
                                               device)
        self.finetune_batches = calibration_batches(splits, config.finetune_steps, config.recalibrate_batch_size,
                                                    device)
        self.cache: dict[tuple[int, ...], Evaluation] = {}
        self.evaluations = 0  # evaluations paid for (cache hits excluded)

    @torch.no_grad()
    def project(self, action: Action) -> nn.Module:
        """The working copy with ``action`` applied (and BatchNorm recalibrated); valid until the next call."""
        self.work.load_state_dict(self.base)
        masks = project_masks(self.structure, self.weights, action.scheme, action.layer_rates())
        masks.apply(self.work)
        self.finetune(masks)
        recalibrate_bn(self.work, self.calibration)
        return self.work.eval()

    def finetune(self, masks: Masks) -> None:
        """One SGD step per fine-tuning batch (none by default), the pruned entries zeroed after each."""
        if not self.finetune_batches:
            return
        optimizer = torch.optim.SGD(self.work.parameters(), lr=self.config.finetune_lr, momentum=0.9)
        self.work.train()
        with torch.enable_grad():
            for x, y in self.finetune_batches:
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(self.work(x), y).backward()
                optimizer.step()
                masks.apply(self.work)

    @torch.no_grad()
    def score(self, model: nn.Module) -> tuple[float, float]:
        """(accuracy, mean cross-entropy) of ``model`` on the validation subset."""
        correct, loss, n = 0, 0.0, 0
        for x, y in self.val:
            logits = model(x)
            correct += int((logits.argmax(1) == y).sum())
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            n += len(y)
        return correct / max(n, 1), loss / max(n, 1)

    def __call__(self, action: Action) -> Evaluation:
        """The (cached) evaluation of ``action``."""
        hit = self.cache.get(action.key)
        if hit is not None:
            return hit
        t0 = time.time()
        accuracy, loss = self.score(self.project(action))
        score = accuracy if self.config.metric == "accuracy" else -loss
        result = Evaluation(score, accuracy, loss, time.time() - t0)
        self.cache[action.key] = result
        self.evaluations += 1
        return result


def evaluate_spread(evaluate: Callable[[Action], Evaluation], actions: list[Action]) -> dict[tuple, Evaluation]:
    """The evaluations of the distinct ``actions`` by key, spread over the processes."""
    distinct: dict[tuple, Action] = {}
    for action in actions:
        distinct.setdefault(action.key, action)
    return dict(zip(distinct, spread(evaluate, list(distinct.values()))))
