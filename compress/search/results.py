"""What the multi-round pipeline returns: a ``RoundResult`` per round (its ``round.json``) inside the
``CompressReport`` of the whole run (``report.json``). Like ``compress.pruning.api.PruneResult``, both carry
``stats`` (``CompressionStats`` against the original dense model) and ``accuracy``.

>>> report = autocompress(model, splits, CompressConfig(target_rate=8, rounds=3), out="runs/ac")
>>> report.stats.compression_rate, report.accuracy["compacted"], [r.stats.compression_rate for r in report.rounds]
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from torch import nn

from ..pruning.accounting import CompressionStats
from .config import CompressConfig


def _target_json(target: tuple[str, float]) -> dict:
    kind, factor = target
    return {"kind": kind, "factor": factor}


@dataclass(frozen=True)
class RoundResult:
    """One round: what it aimed at, the rates it searched, how the compacted model came out, and its log."""

    round: int
    target: tuple[str, float]  # (kind, factor) the round's search aimed at
    rates: dict[str, dict[str, float]]  # per layer: fractions removed from the round's input model
    search: dict  # candidates, evaluations, quick_score, factor (compacted model), seconds_per_candidate
    stats: CompressionStats  # against the original dense model
    accuracy: dict[str, float]  # test: dense (the round's input), projected, retrained, compacted; val; quick_eval
    admm: dict | None  # convergence and the per-update log (None without ADMM)
    purification: dict  # what purification removed
    history: dict = field(repr=False)  # per-epoch training records of each phase
    seconds: dict[str, float]  # search, search_wall, admm, retrain, purify_compact_eval, total_wall
    latency: dict | None = None  # ``LatencyObjective.report`` of the compacted model, with a latency objective
    latency_checks: list[dict] = field(default_factory=list)  # searched rates measured before training

    def to_json(self) -> dict:
        return asdict(self) | {"target": _target_json(self.target), "stats": self.stats.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> RoundResult:
        """A finished round read back from its ``round.json``."""
        target = data["target"]
        return cls(**data | {"target": (target["kind"], target["factor"]),
                             "stats": CompressionStats.from_json(data["stats"])})


@dataclass(frozen=True)
class CompressReport:
    """What ``autocompress`` returns; ``to_json()`` is the run folder's ``report.json``."""

    model: nn.Module = field(repr=False)  # the last round's compacted model, CPU, eval mode
    record: dict = field(repr=False)  # one compaction record against the dense architecture
    config: CompressConfig
    arch: str | None  # registry name, or None for a model outside the registry
    data: str  # the data source
    rounds: tuple[RoundResult, ...]
    seconds: float  # wall time, counting the rounds that earlier calls finished (loaded on resume)

    @property
    def target(self) -> tuple[str, float]:
        """The final (kind, factor)."""
        return self.config.final_target()

    @property
    def stats(self) -> CompressionStats:
        """The final model's, against the original dense model."""
        return self.rounds[-1].stats

    @property
    def accuracy(self) -> dict[str, float]:
        """Test accuracy of the original model (dense) and of the final one (compacted); val: the final one's."""
        first, last = self.rounds[0].accuracy, self.rounds[-1].accuracy
        return {"dense": first["dense"], "compacted": last["compacted"], "val": last["val"]}

    def to_json(self) -> dict:
        return {"arch": self.arch, "data": self.data, "scheme": self.config.scheme,
                "target": _target_json(self.target), "stats": self.stats.to_json(), "accuracy": self.accuracy,
                "rounds": [r.to_json() for r in self.rounds], "seconds": self.seconds,
                "config": self.config.to_dict()}
