"""The multi-round AutoCompress pipeline: targets grow round by round (e.g. 2x, 4x, 8x), and each round runs
search -> ADMM with the searched rates -> hard prune -> masked retrain -> purification -> compaction
(``rounds.run_round``), starting from the previous round's compacted model.

Every factor is relative to the *original* dense model. A run folder holds ``round-K/search.jsonl``,
``round-K/{admm,retrain}/last.pt`` (a checkpoint per epoch), and ``round-K/result.pt`` + ``round.json`` once
the round is done;
``resume=True`` skips finished rounds, replays the search log and continues training from the last epoch.
With a latency target and a measurement, each round's searched rates are built and measured before training and
searched again when they miss the goal (``device_check``), and each round after the first aims past its goal by
the previous round's measured / predicted cost (``_aim``).
The final ``model.pt`` stores one compaction record against the dense architecture
(``compress.restore.restore_model`` rebuilds it), plus ``report.json`` and ``report.md``.

>>> small, report = autocompress(model, splits, CompressConfig(target_rate=8, rounds=3), out="runs/ac", arch="resnet20")
>>> [r["compression_rate"] for r in report["rounds"]]          # about [2, 4, 8]
"""
from __future__ import annotations

import copy
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn

from ..checkpoint import save_checkpoint
from ..counting import count_model
from ..data import Splits
from ..files import write_json, write_text
from ..pruning.admm import AdmmConfig
from ..pruning.compaction import compose_records
from ..pruning.projection import check_scheme
from ..run_folder import record_config
from ..train import TrainConfig
from .annealing import SearchConfig
from .quick_eval import QuickEvalConfig
from .report import run_markdown
from .rounds import load_round, run_round
from .latency import LatencyObjective, ModuleLatencyFn, as_objective
from .target import Target


@dataclass
class CompressConfig:
    """The whole pipeline; give exactly one of the three final targets."""

    target_rate: float | None = None  # final conv+fc weight compression (dense / nonzero), e.g. 8.0
    target_macs: float | None = None  # final MAC reduction (dense / MACs over kept rows x columns)
    target_latency: float | None = None  # final speed-up, measured by the latency callable
    rounds: int = 3  # round k aims at final ** (k / rounds): 8x in 3 rounds is 2x, 4x, 8x
    tolerance: float = 0.01  # every candidate's factor lies in [target, target * (1 + tolerance)]
    latency_retries: int = 2  # latency target with a measurement: searches re-aimed when the searched rates,
    # built and measured before training, miss the round's goal by more than latency_check_tolerance (0: no check)
    latency_check_tolerance: float = 0.05
    scheme: str = "filter+column"  # filter | column | filter+column | unstructured
    admm_epochs: int = 10  # ADMM epochs per round (0: one-shot projection instead)
    retrain_epochs: int = 10  # masked-retraining epochs per round
    search: SearchConfig = field(default_factory=SearchConfig)
    quick_eval: QuickEvalConfig = field(default_factory=QuickEvalConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=0.01, progress=False))  # both phases
    admm: AdmmConfig = field(default_factory=AdmmConfig)
    distill_weight: float = 0.5  # knowledge distillation from the original dense model in every phase (0: off)
    distill_temperature: float = 4.0
    purify_tolerance: float | None = 0.002  # val-accuracy drop allowed for remnant removal; None skips it
    check_limit: int | None = 2000  # validation images used by the remnant check
    eval_limit: int | None = None  # test images for the reported accuracies (None: all)

    def __post_init__(self) -> None:
        check_scheme(self.scheme)
        if self.rounds < 1:
            raise ValueError(f"rounds {self.rounds!r} must be >= 1")
        self.final_target()

    def final_target(self) -> tuple[str, float]:
        """(kind, factor) of the one final target given."""
        given = {k: v for k, v in (("rate", self.target_rate), ("macs", self.target_macs),
                                   ("latency", self.target_latency)) if v is not None}
        if len(given) != 1:
            raise ValueError(f"give exactly one of target_rate, target_macs, target_latency; got {given or 'none'}")
        return next(iter(given.items()))

    def to_dict(self) -> dict:
        return asdict(self)


def round_targets(final: float, rounds: int) -> list[float]:
    """Geometric steps to ``final``: ``round_targets(8, 3) == [2.0, 4.0, 8.0]`` (up to rounding)."""
    return [round(final ** (k / rounds), 6) for k in range(1, rounds + 1)]


def _aim(kind: str, factor: float, rounds: list[dict]) -> float:
    """The factor a round's search aims at: for a latency target, ``factor`` times the last measured round's
    measured / predicted cost, so a table that under-predicts this model family is corrected in the next round."""
    last = rounds[-1].get("latency", {}) if rounds else {}
    if kind != "latency" or "measured" not in last:
        return factor
    return max(1.0, factor * last["measured"] / last["predicted"])


def autocompress(model: nn.Module, splits: Splits, config: CompressConfig, out: str | Path | None = None,
                 resume: bool = False, callback: Callable[[dict], None] | None = None,
                 latency: LatencyObjective | ModuleLatencyFn | None = None,
                 arch: str | None = None) -> tuple[nn.Module, dict]:
    """Compress ``model`` (trained weights; not changed) in rounds; returns the compacted model and the report.

    ``latency`` (a :class:`LatencyObjective`, or a bare model -> cost predictor) is needed for ``target_latency``;
    with it every round reports predicted (and measured) cost. ``arch`` (registry name) goes into ``model.pt`` so
    ``compress.restore.restore_model`` can rebuild it. Without ``out`` the run folder is temporary.
    """
    if out is None:
        with tempfile.TemporaryDirectory(prefix="autocompress-") as tmp:
            return autocompress(model, splits, config, tmp, False, callback, latency, arch)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    kind, final = config.final_target()
    dense = copy.deepcopy(model).cpu().eval()
    dense_counts = count_model(dense, splits.input_shape)
    reference = {"rate": dense_counts.weights, "macs": dense_counts.macs}.get(kind)
    objective = as_objective(latency)
    if kind == "latency":
        if objective is None:
            raise ValueError("target_latency needs a latency callable (model -> time)")
        reference = objective.predict(copy.deepcopy(dense).to(config.train.device))
    record_config(out, config.to_dict())
    current, record, rounds = dense, {}, []
    for index, factor in enumerate(round_targets(final, config.rounds), 1):
        run_dir = out / f"round-{index}"
        target = Target(kind, _aim(kind, factor, rounds), config.tolerance, float(reference))
        if resume and (run_dir / "round.json").is_file():
            small, step_record = load_round(current, run_dir)
            report = json.loads((run_dir / "round.json").read_text())
        else:
            goal = reference / factor if kind == "latency" else None
            small, step_record, report = run_round(index, current, splits, target, config, run_dir, dense_counts,
                                                   resume, callback, objective, goal, copy.deepcopy(dense))
        current, record = small.cpu(), compose_records(record, step_record)
        if objective is not None and "latency" not in report:
            report["latency"] = objective.report(current.eval(), reference / factor if kind == "latency" else None)
            write_json(run_dir / "round.json", report)
        rounds.append(report)
    meta = {"arch": arch, "num_classes": splits.num_classes, "in_channels": splits.input_shape[0]}
    report = {**meta, "data": splits.source, "scheme": config.scheme, "target": {"kind": kind, "factor": final},
              "rounds": rounds, "final": {k: rounds[-1][k] for k in (
                  "compression_rate", "mac_reduction", "val_accuracy", "test_accuracy", "params",
                  "nonzero_weights", "structured_macs")},
              "dense": {"weights": dense_counts.weights, "macs": dense_counts.macs, "params": dense_counts.params},
              "seconds": time.time() - t0, "config": config.to_dict()}
    save_checkpoint(out / "model.pt", {**meta, "state_dict": current.state_dict(), "structure": record,
                                       "metrics": report["final"], "config": report["config"]})
    write_json(out / "report.json", report)
    write_text(out / "report.md", run_markdown(report))
    return current.eval(), report
