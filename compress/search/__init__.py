"""Automatic per-layer pruning rates (simulated annealing) and the multi-round AutoCompress pipeline.

>>> from compress.search import CompressConfig, autocompress, search, Target, SearchConfig
>>> result = search(model, splits, Target("rate", 4.0), SearchConfig(candidates=100))   # one round's search
>>> report = autocompress(model, splits, CompressConfig(target_rate=8, rounds=3), out="runs/ac")
>>> report.model, report.stats.compression_rate, report.accuracy["compacted"]
"""
from .action import Action, ActionSpace, Knob
from .annealing import SearchConfig, SearchResult, accept, acceptance_probability, anneal, cool, initial_values, perturb
from .cost import CostModel
from .latency import KeptLatencyFn, LatencyObjective, ModuleLatencyFn
from .config import CompressConfig
from .pipeline import autocompress, round_targets
from .quick_eval import Evaluation, QuickEvalConfig, QuickEvaluator
from .results import CompressReport, RoundResult
from .searcher import prepare, search, uniform_action
from .target import TARGET_KINDS, Goal, Target, make_goal, rescale, settle

__all__ = ["Action", "ActionSpace", "CompressConfig", "CompressReport", "CostModel", "Evaluation", "Goal",
           "KeptLatencyFn", "Knob", "LatencyObjective", "ModuleLatencyFn", "QuickEvalConfig",
           "QuickEvaluator", "RoundResult", "SearchConfig", "SearchResult", "TARGET_KINDS", "Target", "accept",
           "acceptance_probability", "anneal", "autocompress", "cool", "initial_values",
           "make_goal", "perturb", "prepare", "rescale", "round_targets", "search",
           "settle", "uniform_action"]
