"""The latency model: per-layer tables of one architecture measured on one device or several phones of one model
(``grid``, ``devices``), the fits that predict any pruned model's cost from the structure it keeps (``table``,
``predictor``), their storage (``store``), device fingerprints (``fingerprint``), measuring compiled models
(``measure``), the synthetic pruned models they are built from (``variants``), and the on-device kernel tuner
(``tuning``). It drives ``codegen`` and ``runtime``; neither imports it.

>>> from latency import load_or_build
>>> table = load_or_build("resnet20", "host")
>>> table = load_or_build("resnet20", "adb:R58M1,adb:R58M2")      # two phones of one model, one table
>>> table.predict(pruned_model, (1, 3, 32, 32))       # ms
"""
from __future__ import annotations

from .fingerprint import INSTRUCTIONS, MS, device_fingerprint
from .grid import DEFAULT_STEPS, build_table, validate_table
from .measure import TARGETS, compile_for, default_runs, measure
from .store import load_or_build, load_table, save_table, table_path
from .table import LatencyTable
from .tuning import Tuned, tune

__all__ = ["LatencyTable", "build_table", "validate_table", "load_or_build", "load_table", "save_table",
           "table_path", "device_fingerprint", "measure", "default_runs", "compile_for", "TARGETS",
           "DEFAULT_STEPS", "MS", "INSTRUCTIONS", "Tuned", "tune"]
