"""Training and evaluation: one readable loop (SGD, cosine or constant schedule, optional knowledge
distillation and bfloat16 autocast), a checkpoint every epoch, resume.

Pruning plugs in through ``TrainHooks`` (ADMM adds a loss term and updates Z/U after each epoch; masked
retraining masks gradients and weights), so there is one training loop, not one per method. Each epoch
reads ``train_limit`` images sampled from the whole training split, a different sample and order per
epoch and per ``stream`` (a phase's name), all from ``seed``.

Under ``torchrun`` (``compress.distributed``) the loop runs data-parallel: the model in DistributedDataParallel,
each process a contiguous share of every global batch of ``batch_size`` images, the loss weighted so the
gradient is the global batch's mean. BatchNorm normalises each process's share with its own statistics (DDP's
default; SyncBatchNorm is CUDA-only), so a run matches a single-process one closely, not bit for bit. After
every epoch rank 0's weights and BatchNorm statistics are copied to every rank before the hooks run, so hooks
see identical models; only rank 0 prints and writes (``compress.files``).

>>> splits = load_data("digits")
>>> model = build_model("small_cnn")
>>> history = train(model, splits, TrainConfig(epochs=2))
>>> evaluate(model, splits.loader("test"))["accuracy"]
"""
from __future__ import annotations

import contextlib
import math
import time
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .data import Splits
from .precision import PRECISIONS, autocast
from .progress import note, progress


SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    """Training settings; every field has a CLI flag of the same name."""

    epochs: int = 10  # passes over the train split (or over train_limit images sampled from it)
    lr: float = 0.05  # peak learning rate, cosine-decayed to 0 per step (schedule "cosine")
    schedule: str = "cosine"  # cosine: decay to 0 over the epochs; constant: lr throughout (after warm-up)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128  # the global batch: under torchrun each process takes batch_size / processes
    label_smoothing: float = 0.0  # 0 disables
    warmup_epochs: float = 0.0  # linear warm-up before the cosine decay
    seed: int = 0  # shuffling, augmentation and initial weights
    threads: int | None = None  # torch CPU threads; None keeps torch's default (all cores)
    train_limit: int | None = None  # images per epoch, sampled anew each epoch from the whole train split
    device: str = "cpu"  # "cpu" or "cuda"
    precision: str = "auto"  # auto: bf16 autocast where the device has native bf16 (see precision.py); bf16; fp32
    channels_last: bool = True  # NHWC weights and images while training (faster on CPU: results/training/precision.md)
    progress: bool = True  # bars on a terminal (the one-line epoch summary on stderr is always printed)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; expected one of: {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; expected one of: {', '.join(PRECISIONS)}")
        distributed.check_batch(self.batch_size)


@dataclass
class Distillation:
    """Knowledge distillation: the loss becomes ``(1 - weight) * CE + weight * T^2 * KL(teacher_T || student_T)``
    with both logits softened by temperature ``T`` (Hinton et al. 2015)."""

    teacher: nn.Module
    weight: float = 0.5
    temperature: float = 4.0

    def loss(self, x: torch.Tensor, logits: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = F.log_softmax(self.teacher(x).float() / self.temperature, 1)
        soft = F.kl_div(F.log_softmax(logits.float() / self.temperature, 1), target, reduction="batchmean",
                        log_target=True)
        return (1.0 - self.weight) * hard + self.weight * self.temperature ** 2 * soft


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

    def finished(self) -> bool:
        """True when the phase may end before its last epoch (asked before each epoch, also on resume)."""
        return False

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to restore."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved."""


class ChainHooks(TrainHooks):
    """Several hooks as one, called in order; their states are saved side by side."""

    def __init__(self, *hooks: TrainHooks) -> None:
        self.hooks = hooks

    def loss_term(self, model: nn.Module) -> torch.Tensor | None:
        terms = [t for t in (h.loss_term(model) for h in self.hooks) if t is not None]
        return sum(terms) if terms else None

    def after_backward(self, model: nn.Module) -> None:
        for h in self.hooks:
            h.after_backward(model)

    def after_step(self, model: nn.Module) -> None:
        for h in self.hooks:
            h.after_step(model)

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        for h in self.hooks:
            h.after_epoch(model, epoch)

    def finished(self) -> bool:
        return any(h.finished() for h in self.hooks)

    def state_dict(self) -> dict[str, Any]:
        return {str(i): h.state_dict() for i, h in enumerate(self.hooks)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for i, h in enumerate(self.hooks):
            h.load_state_dict(state.get(str(i), {}))


def setup_torch(seed: int, threads: int | None) -> None:
    """Seed torch and set its thread count (None keeps the default)."""
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


def lr_at(step: int, total: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """Linear warm-up, then ``config.lr`` held (constant) or cosine-decayed to 0."""
    warmup = int(config.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    if config.schedule == "constant":
        return config.lr
    done = (step - warmup) / max(total - warmup, 1)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * done))


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


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Replace every BatchNorm's running statistics by their exact average over ``batches``.

    Pruning shifts the statistics a layer sees; without this, accuracy right after pruning mostly measures
    stale statistics.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or not batches:
        return
    saved = [(m.momentum, m.training) for m in norms]
    was_training = model.training
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches, not an exponential one
        m.train()
    for x, _ in batches:
        model(x)
    for m, (momentum, training) in zip(norms, saved):
        m.momentum = momentum
        m.train(training)
    model.train(was_training)


def calibration_batches(splits: Splits, batches: int, batch_size: int = 128,
                        device: str = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``batches`` batches of a fixed seeded sample of training images, unaugmented."""
    loader = splits.loader("train", batch_size, shuffle=True, limit=batches * batch_size, device=device)
    return [batch for batch, _ in zip(loader, range(batches))]


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


def stream_seed(seed: int, stream: str) -> int:
    """The data-order seed of one training stream (a phase such as "round-2/admm"): distinct per stream."""
    return zlib.crc32(f"{seed}/{stream}".encode())


def train(model: nn.Module, splits: Splits, config: TrainConfig, run_dir: str | Path | None = None,
          resume: bool = False, hooks: TrainHooks | None = None, extra: dict | None = None,
          distill: Distillation | None = None, stream: str = "train") -> list[dict]:
    """Train ``model`` in place; returns the per-epoch history (train loss, val accuracy, seconds).

    With ``run_dir``, ``last.pt`` is written after every epoch (model, optimizer, hooks, history, ``extra``),
    and ``resume=True`` continues from it. ``distill`` adds a teacher's soft targets to the loss; ``stream``
    names this run's data order (shuffles, samples and augmentation differ per stream and epoch).
    Under torchrun ``config.batch_size`` is the global batch, shared out over the processes.
    """
    setup_torch(config.seed, config.threads)
    model.to(config.device)
    if distill is not None:
        distill.teacher.to(config.device).eval()
    with memory_layout([model] + ([distill.teacher] if distill else []), config.channels_last):
        return _train(model, splits, config, run_dir, resume, hooks or TrainHooks(), extra, distill, stream)


@contextlib.contextmanager
def memory_layout(modules: list[nn.Module], channels_last: bool) -> Iterator[None]:
    """Inside: the modules' 4-d weights channels-last (NHWC) when ``channels_last``; after: contiguous (NCHW)
    again, as compaction, export and the compiler expect them."""
    if channels_last:
        for module in modules:
            module.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        if channels_last:
            for module in modules:
                module.to(memory_format=torch.contiguous_format)


def _train(model: nn.Module, splits: Splits, config: TrainConfig, run_dir: str | Path | None, resume: bool,
           hooks: TrainHooks, extra: dict | None, distill: Distillation | None, stream: str) -> list[dict]:
    run_dir = Path(run_dir) if run_dir else None
    device = config.device
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    train_loader = splits.loader("train", config.batch_size, shuffle=True, augment=True, device=device,
                                 per_epoch=config.train_limit, seed=stream_seed(config.seed, stream),
                                 shard=distributed.shard())
    val_loader = splits.loader("val", 256, device=device) if splits.val is not None and len(splits.val) else None
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.dim() > 1 else no_decay).append(p)  # no weight decay on BN and biases
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=config.lr,
                                momentum=config.momentum, nesterov=config.momentum > 0)
    state = _resume_state(run_dir, resume, model, optimizer, hooks)
    history: list[dict] = state["history"]
    net = distributed.wrap(model)  # what the steps run; hooks, evaluation and checkpoints see model itself
    steps_per_epoch, total = len(train_loader), len(train_loader) * config.epochs
    train_loader.epoch = state["epoch"]  # the same shuffles as an uninterrupted run
    for epoch in range(state["epoch"], config.epochs):
        if hooks.finished():
            break
        t0, loss_sum, seen = time.time(), 0.0, 0
        model.train()
        bar = progress(train_loader, config.progress, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False)
        for i, (x, y) in enumerate(bar):
            x = x.contiguous(memory_format=layout) if x.dim() == 4 else x
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch * steps_per_epoch + i, total, config, steps_per_epoch)
            with autocast(device, config.precision):
                logits = net(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
                objective = loss if distill is None else distill.loss(x, logits, loss)
            share = distributed.share_weight(len(y), train_loader.global_size(i))
            if share != 1.0:  # a ragged last batch split unequally: weight this rank's mean by its share
                objective = objective * share
            extra_loss = hooks.loss_term(model)
            total_loss = objective if extra_loss is None else objective + extra_loss
            optimizer.zero_grad(set_to_none=True)
            total_loss.backward()
            hooks.after_backward(model)
            optimizer.step()
            hooks.after_step(model)
            loss_sum += float(loss.detach()) * len(y)  # note: a sync point on GPU, once per step is fine
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        distributed.sync_module(model)  # BatchNorm statistics differ per rank; rank 0's go everywhere
        hooks.after_epoch(model, epoch)
        loss_sum, seen = distributed.all_sum([loss_sum, seen])
        record = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "seconds": time.time() - t0,
                  "images_per_second": seen / max(time.time() - t0, 1e-9)}
        if val_loader is not None:
            record["val_accuracy"] = evaluate(model, val_loader, device)["accuracy"]
        history.append(record)
        note(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
        if run_dir:
            save_checkpoint(run_dir / "last.pt", {
                **(extra or {}), "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                "hooks": hooks.state_dict(), "epoch": epoch + 1, "history": history, "config": asdict(config)})
    return history


def steps_per_epoch(splits: Splits, config: TrainConfig) -> int:
    """Optimizer steps in one epoch of ``train`` with ``config``."""
    images = len(splits.dataset("train"))
    images = min(images, config.train_limit) if config.train_limit else images
    return math.ceil(images / config.batch_size)


def train_phase(model: nn.Module, splits: Splits, config: TrainConfig, epochs: int, run_dir: Path | None = None,
                resume: bool = False, hooks: TrainHooks | None = None, distill: Distillation | None = None,
                stream: str = "train") -> list[dict]:
    """``train`` for ``epochs`` epochs instead of ``config.epochs``; for 0 epochs nothing at all (no seeding)."""
    if epochs <= 0:
        return []
    return train(model, splits, replace(config, epochs=epochs), run_dir=run_dir, resume=resume, hooks=hooks,
                 distill=distill, stream=stream)
