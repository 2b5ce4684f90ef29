"""The pruning pipeline in one call: ADMM (or one-shot magnitude) -> hard prune -> masked retrain ->
purify -> compact -> account, with a run folder that a killed run resumes from.

>>> splits = load_data("digits")
>>> model = build_model("small_cnn")               # trained weights loaded
>>> result = prune(model, splits, PruneConfig(rate=LayerRate(filter=0.5, column=0.3)), arch="small_cnn")
>>> result.model, result.stats.compression_rate, result.accuracy["compacted"]
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from torch import nn

from ..checkpoint import save_checkpoint
from ..data import Splits
from ..files import write_json, write_text
from ..run_folder import record_config
from .accounting import CompressionStats, compression_stats, rates_for_target
from .admm import describe
from .export import export_onnx, write_sidecar
from .plan import LayerRate, uniform_rates
from .projection import check_scheme
from .sequence import PruneBudget, prune_sequence
from .structure import trace_structure

METHODS = ("admm", "magnitude")


@dataclass
class PruneConfig:
    """What to prune, how, and the training budget."""

    scheme: str = "filter+column"  # filter | column | filter+column | unstructured
    method: str = "admm"  # admm: ADMM then hard prune; magnitude: one-shot projection of the given weights
    rate: LayerRate | None = None  # uniform rate on every conv layer
    rates: dict[str, LayerRate] = field(default_factory=dict)  # per-layer rates; override the uniform one
    target: float | None = None  # compression target (e.g. 4.0); picks the uniform rate when rate is None
    budget: PruneBudget = field(default_factory=PruneBudget)  # epochs, training, ADMM, distillation, checks
    export: bool = True  # write ONNX + structure JSON into the run folder

    def __post_init__(self) -> None:
        check_scheme(self.scheme)
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of: {', '.join(METHODS)}")

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_rates(model: nn.Module, structure, config: PruneConfig) -> tuple[dict[str, LayerRate], float | None]:
    """Per-layer rates from the config: target -> uniform rate, uniform rate, then per-layer overrides."""
    rate, projected = config.rate, None
    if rate is None and config.target is not None:
        rate, projected = rates_for_target(model, structure, config.scheme, config.target)
    rates = uniform_rates(structure, rate) if rate is not None else {}
    rates.update(config.rates)
    if not rates:
        raise ValueError("nothing to prune: give a uniform rate, per-layer rates or a compression target")
    return rates, projected


@dataclass(frozen=True)
class PruneResult:
    """What ``prune`` returns; ``to_json()`` is the run folder's ``report.json``."""

    model: nn.Module = field(repr=False)  # compacted and retrained, on the CPU
    record: dict = field(repr=False)  # compaction record against the input model (``compress.pruning.replay``)
    config: PruneConfig
    arch: str | None  # registry name, or None for a model outside the registry
    data: str  # the data source
    rates: dict[str, LayerRate]  # per-layer rates applied
    projected_compression: float | None  # what the uniform rate chosen for ``config.target`` projects to
    accuracy: dict[str, float]  # test: dense, projected, retrained, compacted; val: compacted (when a split exists)
    stats: CompressionStats  # of the compacted model against the input model
    admm: dict | None  # convergence and the per-update log (None without ADMM)
    purification: dict  # what purification removed
    history: dict = field(repr=False)  # per-epoch training records of each phase
    compaction_max_abs_difference: float  # largest output change compaction made on a test batch
    seconds: float

    def to_json(self) -> dict:
        return {"arch": self.arch, "scheme": self.config.scheme, "method": self.config.method, "data": self.data,
                "target": self.config.target, "projected_compression": self.projected_compression,
                "rates": {name: asdict(rate) for name, rate in self.rates.items()}, "accuracy": self.accuracy,
                "admm": self.admm, "compaction_max_abs_difference": self.compaction_max_abs_difference,
                "stats": self.stats.to_json(), "purification": self.purification, "history": self.history,
                "seconds": self.seconds, "config": self.config.to_dict()}


def prune(model: nn.Module, splits: Splits, config: PruneConfig, arch: str | None = None,
          run_dir: str | Path | None = None, resume: bool = False, teacher: nn.Module | None = None) -> PruneResult:
    """Prune a copy of ``model`` (trained weights; not changed); the result holds the compacted, retrained model.

    The sequence is ``sequence.prune_sequence`` (the one every ``compress`` round runs too), distilled from
    ``teacher`` (default: a copy of the input model). With ``run_dir``, each training phase checkpoints every
    epoch (``admm/last.pt``, ``retrain/last.pt``) and ``resume=True`` continues a killed run; ``config.json``
    records the config, and the results land in ``model.pt``, ``model.onnx``, ``structure.json``, ``report.json``
    and ``report.md``.
    """
    t0 = time.time()
    run_dir = Path(run_dir) if run_dir else None
    if run_dir:
        record_config(run_dir, config.to_dict())
    dense = copy.deepcopy(model).cpu()
    work = copy.deepcopy(model).to(config.budget.train.device)
    structure = trace_structure(work, splits.input_shape)
    rates, projected = resolve_rates(work, structure, config)
    budget = replace(config.budget, admm_epochs=0) if config.method == "magnitude" else config.budget
    pruned = prune_sequence(work, splits, structure, config.scheme, rates, budget, run_dir, resume,
                            teacher=copy.deepcopy(dense if teacher is None else teacher))
    small = pruned.model.cpu()
    result = PruneResult(small, pruned.record, config, arch, splits.source, rates, projected, pruned.accuracy,
                         compression_stats(dense, small, splits.input_shape), pruned.admm, pruned.purification,
                         pruned.history, pruned.difference, time.time() - t0)
    if run_dir:
        write_run(run_dir, result, splits)
    return result


def write_run(run_dir: Path, result: PruneResult, splits: Splits) -> None:
    """Compacted checkpoint, ONNX, structure JSON, report JSON and Markdown."""
    small, arch = result.model.eval(), result.arch
    meta = {"arch": arch, "num_classes": splits.num_classes, "in_channels": splits.input_shape[0]}
    save_checkpoint(run_dir / "model.pt", {**meta, "state_dict": small.state_dict(), "structure": result.record,
                                           "metrics": result.accuracy, "config": result.config.to_dict()})
    if result.config.export:
        export_onnx(small, splits.input_shape, run_dir / "model.onnx")
        write_sidecar(run_dir / "structure.json", small, result.record, arch or "", splits.input_shape,
                      run_dir / "model.onnx")
    write_json(run_dir / "report.json", result.to_json())
    write_text(run_dir / "report.md", report_markdown(result))


def report_markdown(result: PruneResult) -> str:
    """A short human-readable summary of one pruning run."""
    s, a, config = result.stats, result.accuracy, result.config
    lines = [f"# Pruning report: {result.arch} ({config.scheme}, {config.method})", "",
             f"data: {result.data}", "", "| | value |", "| --- | --- |"]
    rows = [("test accuracy, dense", f"{a['dense']:.4f}"), ("ADMM converged", describe(result.admm)),
            ("after hard pruning (BatchNorm recalibrated)", f"{a['projected']:.4f}"),
            ("after masked retraining", f"{a['retrained']:.4f}"), ("compacted model", f"{a['compacted']:.4f}"),
            ("compression rate (conv+fc weights)", f"{s.compression_rate:.2f}x"),
            ("nonzero conv+fc weights", f"{s.nonzero_weights} of {s.dense_weights}"),
            ("params (compacted / dense)", f"{s.params} / {s.dense_params}"),
            ("MACs (compacted dense / dense)", f"{s.macs} / {s.dense_macs}"),
            ("MACs skipping zero columns", f"{s.structured_macs} ({s.mac_reduction:.2f}x fewer)"),
            ("compaction max abs difference", f"{result.compaction_max_abs_difference:.1e}"),
            ("seconds", f"{result.seconds:.0f}")]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"
