"""Training and evaluation: one readable loop (SGD, cosine schedule), a checkpoint every epoch, resume.

Pruning plugs in through ``TrainHooks`` (ADMM adds a loss term and updates Z/U after each epoch; masked
retraining masks gradients and weights), so there is one training loop, not one per method.

>>> splits = load_data("digits")
>>> model = build_model("small_cnn")
>>> history = train(model, splits, TrainConfig(epochs=2))
>>> evaluate(model, splits.loader("test"))["accuracy"]
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .data import Splits


@dataclass
class TrainConfig:
    """Training settings; every field has a CLI flag of the same name."""

    epochs: int = 10  # passes over the (possibly limited) train split
    lr: float = 0.05  # peak learning rate, cosine-decayed to 0 per step
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    label_smoothing: float = 0.0  # 0 disables
    warmup_epochs: float = 0.0  # linear warm-up before the cosine decay
    seed: int = 0  # shuffling, augmentation and initial weights
    threads: int | None = None  # torch CPU threads; None keeps torch's default (all cores)
    train_limit: int | None = None  # use a fixed seeded subset of this many training images
    device: str = "cpu"  # "cpu" or "cuda"
    progress: bool = True  # tqdm bars (the one-line epoch summary on stderr is always printed)


class TrainHooks:
    """No-op hooks the loop calls; pruning methods override what they need."""

    def loss_term(self, model: nn.Module) -> torch.Tensor | None:
        """An extra term added to the loss each step (e.g. the ADMM augmented term)."""
        return None

    def after_backward(self, model: nn.Module) -> None:
        """Called between backward and the optimizer step (e.g. mask gradients)."""

    def after_step(self, model: nn.Module) -> None:
        """Called after each optimizer step (e.g. re-apply masks)."""

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        """Called after each epoch, before the checkpoint (e.g. ADMM Z/U update)."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to restore."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved."""


def setup_torch(seed: int, threads: int | None) -> None:
    """Seed torch and set its thread count (None keeps the default)."""
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


def lr_at(step: int, total: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """Linear warm-up, then cosine decay from ``config.lr`` to 0."""
    warmup = int(config.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: nn.Module, loader, device: str = "cpu") -> dict[str, float]:
    """Accuracy (a fraction), mean cross-entropy loss and the number of images."""
    was_training = model.training
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        n += len(y)
    model.train(was_training)
    return {"accuracy": correct / max(n, 1), "loss": loss_sum / max(n, 1), "n": n}


def split_accuracy(model: nn.Module, splits: Splits, split: str, limit: int | None = None,
                   device: str = "cpu") -> float:
    """Accuracy on the first ``limit`` images (None: all) of ``split`` ("train", "val" or "test")."""
    return evaluate(model, splits.loader(split, 256, limit=limit, device=device), device)["accuracy"]


def _resume_state(run_dir: Path | None, resume: bool, model: nn.Module, optimizer, hooks: TrainHooks) -> dict:
    last = run_dir / "last.pt" if run_dir else None
    if not (resume and last and last.is_file()):
        return {"epoch": 0, "history": []}
    state = load_checkpoint(last)
    model.load_state_dict(state["state_dict"])
    optimizer.load_state_dict(state["optimizer"])
    hooks.load_state_dict(state.get("hooks", {}))
    return {"epoch": state["epoch"], "history": state.get("history", [])}


def train(model: nn.Module, splits: Splits, config: TrainConfig, run_dir: str | Path | None = None,
          resume: bool = False, hooks: TrainHooks | None = None, extra: dict | None = None) -> list[dict]:
    """Train ``model`` in place; returns the per-epoch history (train loss, val accuracy, seconds).

    With ``run_dir``, ``last.pt`` is written after every epoch (model, optimizer, hooks, history, ``extra``),
    and ``resume=True`` continues from it.
    """
    setup_torch(config.seed, config.threads)
    hooks = hooks or TrainHooks()
    run_dir = Path(run_dir) if run_dir else None
    device = config.device
    model.to(device)
    train_loader = splits.loader("train", config.batch_size, shuffle=True, augment=True,
                                 limit=config.train_limit, device=device)
    val_loader = splits.loader("val", 256, device=device) if splits.val is not None and len(splits.val) else None
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.dim() > 1 else no_decay).append(p)  # no weight decay on BN and biases
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=config.lr,
                                momentum=config.momentum, nesterov=config.momentum > 0)
    state = _resume_state(run_dir, resume, model, optimizer, hooks)
    history: list[dict] = state["history"]
    steps_per_epoch, total = len(train_loader), len(train_loader) * config.epochs
    train_loader.epoch = state["epoch"]  # the same shuffles as an uninterrupted run
    for epoch in range(state["epoch"], config.epochs):
        t0, loss_sum, seen = time.time(), 0.0, 0
        model.train()
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                   disable=not config.progress, mininterval=1.0)
        for i, (x, y) in enumerate(bar):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch * steps_per_epoch + i, total, config, steps_per_epoch)
            loss = F.cross_entropy(model(x), y, label_smoothing=config.label_smoothing)
            extra_loss = hooks.loss_term(model)
            total_loss = loss if extra_loss is None else loss + extra_loss
            optimizer.zero_grad(set_to_none=True)
            total_loss.backward()
            hooks.after_backward(model)
            optimizer.step()
            hooks.after_step(model)
            loss_sum += float(loss.detach()) * len(y)  # note: a sync point on GPU, once per step is fine
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        hooks.after_epoch(model, epoch)
        record = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "seconds": time.time() - t0}
        if val_loader is not None:
            record["val_accuracy"] = evaluate(model, val_loader, device)["accuracy"]
        history.append(record)
        tqdm.write(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()),
                   file=sys.stderr)
        if run_dir:
            save_checkpoint(run_dir / "last.pt", {
                **(extra or {}), "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                "hooks": hooks.state_dict(), "epoch": epoch + 1, "history": history, "config": asdict(config)})
    return history


def train_phase(model: nn.Module, splits: Splits, config: TrainConfig, epochs: int, run_dir: Path | None = None,
                resume: bool = False, hooks: TrainHooks | None = None) -> list[dict]:
    """``train`` for ``epochs`` epochs instead of ``config.epochs``; for 0 epochs nothing at all (no seeding)."""
    if epochs <= 0:
        return []
    return train(model, splits, replace(config, epochs=epochs), run_dir=run_dir, resume=resume, hooks=hooks)
