"""The prune sequence at fixed rates, the one core that ``prune`` and every ``compress`` round call:
ADMM (learning rate held constant; once it has converged, its remaining epochs go to retraining) -> hard prune
-> BatchNorm recalibration -> compaction of the removed filters (widths rounded up to multiples of
``PruneBudget.align`` with zero channels, which train faster) -> masked retraining of the smaller model (cosine;
its pruned columns and those zero channels held at zero) -> purification -> compaction, with knowledge
distillation from a teacher in both training phases.

Each training phase checkpoints into ``run_dir/admm`` and ``run_dir/retrain`` and resumes from there; the
accuracies go under the keys ``dense``, ``projected`` (hard-pruned, statistics recalibrated), ``retrained``
and ``compacted`` (test split), plus ``val`` (compacted, validation split) for the search.

>>> pruned = prune_sequence(model, splits, structure, "filter+column", rates, PruneBudget(), Path("run"), teacher=dense)
>>> pruned.accuracy["projected"], pruned.admm["converged"]
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from torch import nn

from ..data import Splits
from ..distributed import sync_module
from ..train import (ChainHooks, Distillation, TrainConfig, TrainHooks, calibration_batches, recalibrate_bn,
                     split_accuracy, steps_per_epoch, train_phase)
from .admm import AdmmConfig, AdmmHooks, MaskHooks
from .compaction import compose_records, purify_and_compact
from .masks import Masks
from .plan import FILTER_SCHEMES, LayerRate, layer_weights, project_masks, removed_channels
from .purification import PurifyConfig
from .structure import Structure, trace_structure

CALIBRATION_BATCHES = 16  # training batches re-estimating BatchNorm statistics after hard pruning

Callback = Callable[[dict], None]


@dataclass
class PruneBudget:
    """How one prune at fixed rates trains and checks: the settings ``prune`` and every ``compress`` round share."""

    admm_epochs: int = 10  # epochs of ADMM-regularised training (0: one-shot projection, magnitude pruning)
    retrain_epochs: int = 10  # epochs of masked retraining after hard pruning
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=0.01, progress=False))  # both phases
    admm: AdmmConfig = field(default_factory=AdmmConfig)
    distill_weight: float = 0.5  # knowledge distillation from the dense model in both phases (0: off)
    distill_temperature: float = 4.0
    align: int = 16  # retrain at widths rounded up to a multiple of this with zero channels (1: exact widths)
    purify_tolerance: float | None = 0.002  # val-accuracy drop allowed for remnant removal; None skips it
    check_limit: int | None = 2000  # validation images used by the remnant check
    eval_limit: int | None = None  # test images for the reported accuracies (None: all)

    def __post_init__(self) -> None:
        if self.align < 1:
            raise ValueError(f"PruneBudget.align must be at least 1 (1: exact widths), got {self.align}")


@dataclass
class Pruned:
    """What ``prune_sequence`` returns."""

    model: nn.Module  # compacted
    record: dict  # compaction record against the input model
    accuracy: dict  # test accuracies along the way (dense, projected, retrained, compacted) and val
    history: dict  # per-epoch training records of each phase
    admm: dict | None  # AdmmHooks.summary() and moved_epochs (ADMM epochs retrained instead); None without ADMM
    purification: dict  # what the last purification removed, the aligned_channels zero ones of retraining included
    difference: float  # largest |f(x)| change compaction made on a test batch
    seconds: float  # purification, compaction and evaluation time


class _EpochCallback(TrainHooks):
    def __init__(self, callback: Callback | None, **event) -> None:
        self.callback, self.event = callback, event

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        if self.callback is not None:
            self.callback({**self.event, "epoch": epoch + 1})


def distillation(budget: PruneBudget, teacher: nn.Module | None) -> Distillation | None:
    """The distillation the budget asks for, from ``teacher`` (None when off or without a teacher)."""
    if teacher is None or budget.distill_weight <= 0:
        return None
    return Distillation(teacher.eval(), budget.distill_weight, budget.distill_temperature)


def prune_sequence(work: nn.Module, splits: Splits, structure: Structure, scheme: str, rates: dict[str, LayerRate],
                   budget: PruneBudget, run_dir: Path | None, resume: bool = False, *,
                   teacher: nn.Module | None = None, stream: str = "prune", callback: Callback | None = None,
                   event: dict | None = None) -> Pruned:
    """Prune ``work`` (trained weights; changed in place into the hard-pruned model) at ``rates``; returns the
    compacted, retrained model. ``callback`` sees every training epoch as ``{**event, "phase": ..., "epoch": ...}``."""
    device, limit = budget.train.device, budget.eval_limit
    folder = (lambda name: run_dir / name) if run_dir else (lambda name: None)
    distill, event = distillation(budget, teacher), event or {}
    acc = {"dense": split_accuracy(work, splits, "test", limit, device)}
    history, admm = {}, None
    if budget.admm_epochs > 0:
        admm = AdmmHooks(work, structure, scheme, rates, budget.admm, budget.train,
                         steps_per_epoch(splits, budget.train))
        history["admm"] = train_phase(work, splits, replace(budget.train, schedule="constant"), budget.admm_epochs,
                                      folder("admm"), resume, ChainHooks(admm, _EpochCallback(
                                          callback, **event, phase="admm")), distill, f"{stream}/admm")
    moved = budget.admm_epochs - len(history["admm"]) if admm else 0  # ADMM converged early: retrain longer
    weights = layer_weights(work)
    masks = project_masks(structure, weights, scheme, rates)  # hard pruning
    spare = removed_channels(structure, weights, rates) if scheme in FILTER_SCHEMES else {}  # zero from now on
    masks.apply(work)
    recalibrate_bn(work, calibration_batches(splits, CALIBRATION_BATCHES, device=device))
    sync_module(work)  # every rank compacts and retrains the same model, whatever its arithmetic did
    acc["projected"] = split_accuracy(work, splits, "test", limit, device)
    x = next(iter(splits.loader("test", 64, limit=64, device=device)))[0]  # compaction must not change f(x)
    # removes what hard pruning cut, so retraining runs fewer MACs, at aligned widths (zero channels, held)
    slim = purify_and_compact(work, structure, x, spare=spare, multiple=budget.align)
    model = slim.model.to(device)
    history["retrain"] = train_phase(model, splits, budget.train, budget.retrain_epochs + moved, folder("retrain"),
                                     resume, ChainHooks(MaskHooks(Masks.of_zeros(model).merge(slim.zero)),
                                                        _EpochCallback(callback, **event, phase="retrain")),
                                     distill, f"{stream}/retrain")
    acc["retrained"] = split_accuracy(model, splits, "test", limit, device)
    t0 = time.time()
    has_val = splits.val is not None and len(splits.val) > 0
    check = None
    if budget.purify_tolerance is not None and has_val:
        check = lambda m: split_accuracy(m, splits, "val", budget.check_limit, device)  # noqa: E731
    final = purify_and_compact(model, trace_structure(model, splits.input_shape), x, check,
                               PurifyConfig(tolerance=budget.purify_tolerance or 0.0))
    acc["compacted"] = split_accuracy(final.model, splits, "test", limit, device)
    if has_val:
        acc["val"] = split_accuracy(final.model, splits, "val", None, device)
    return Pruned(final.model, compose_records(slim.record, final.record), acc, history,
                  {**admm.summary(), "moved_epochs": moved} if admm else None,
                  {**final.purification.summary(), "aligned_channels": slim.aligned},
                  max(slim.difference, final.difference), time.time() - t0)
