"""The configuration of a multi-round compression run (``pipeline.autocompress``): the final target, the rounds,
the pruning budget of each round, the search and its quick evaluation.

>>> CompressConfig(target_rate=8, rounds=3, budget=PruneBudget(admm_epochs=5, retrain_epochs=5))
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..pruning.projection import check_scheme
from ..pruning.sequence import PruneBudget
from .annealing import SearchConfig
from .quick_eval import QuickEvalConfig


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
    budget: PruneBudget = field(default_factory=PruneBudget)  # per round: epochs, training, ADMM, distillation
    search: SearchConfig = field(default_factory=SearchConfig)
    quick_eval: QuickEvalConfig = field(default_factory=QuickEvalConfig)

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
