"""Latency in the loop for the application: a device's latency table is the search's predictor, and a real
build + run of each round's model is its measurement. Costs are milliseconds, or emulated AArch64 instructions
under qemu (never printed as time).

>>> objective, table = latency_objective("resnet20", "host", (1, 3, 32, 32), workdir="runs/x/latency")
>>> factor = latency_factor(objective, dense_model, parse_cost("2.5ms", objective.unit))
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from torch import nn

from compress.search import LatencyObjective

_MS_UNITS = {"ms": 1.0, "us": 1e-3, "s": 1e3}
_COUNT_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_cost(text: str, unit: str) -> float:
    """A cost goal in the device's unit: ``2.5ms``, ``800us`` or ``0.003s`` for a timed device; a count such as
    ``3.2M`` or ``3200000`` for emulated instructions (qemu)."""
    value = text.strip().lower().replace(" ", "")
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)([a-z]*)", value)
    if not match:
        raise ValueError(f"cannot read the latency goal {text!r}; expected e.g. 2.5ms (or 3.2M instructions on qemu)")
    number, suffix = float(match.group(1)), match.group(2)
    timed = unit == "ms"
    scale = (_MS_UNITS if timed else _COUNT_UNITS).get(suffix.removesuffix("insn") if not timed else suffix)
    if scale is None or (timed and not suffix):
        expected = "a time such as 2.5ms, 800us" if timed else "an instruction count such as 3.2M"
        raise ValueError(f"latency goal {text!r} does not fit this device, whose cost is {unit}: give {expected}")
    if number <= 0:
        raise ValueError(f"latency goal {text!r} must be positive")
    return number * scale


def latency_objective(arch: str, device: str, input_shape: tuple[int, ...], threads: int = 1,
                      workdir: str | Path = "latency", steps: tuple[float, ...] | None = None, progress: bool = True):
    """The :class:`LatencyObjective` of ``arch`` on ``device`` (its table built once on the ``steps`` grid and
    cached) and the table. ``device`` may list several phones of one model (``adb:S1,adb:S2``): they fill the
    table together, and the first measures whole models."""
    from latency import DEFAULT_STEPS, compile_for, default_runs, load_or_build, measure
    from runtime import get_devices

    table = load_or_build(arch, device, steps or DEFAULT_STEPS, threads=threads, progress=progress)
    print(table.validation_line(), file=sys.stderr, flush=True)
    runner, workdir = get_devices(device)[0], Path(workdir)

    def predict(model: nn.Module) -> float:
        return table.predict(model, input_shape)

    def measured(model: nn.Module) -> float:
        count = len(list(workdir.glob("measure-*")))
        compiled = compile_for(model.cpu().eval(), table.fingerprint["kind"], workdir / f"measure-{count}",
                               input_shape, arch)
        return measure(runner, compiled, threads, default_runs(runner), profile=False).whole

    return LatencyObjective(predict=predict, measure=measured, unit=table.unit, predict_kept=table.predict_kept), table


def latency_factor(objective: LatencyObjective, dense: nn.Module, goal: float) -> float:
    """The speed-up factor the pipeline needs so the predicted cost reaches ``goal``."""
    cost = objective.predict(dense)
    if goal >= cost:
        raise ValueError(f"the dense model is already predicted at {cost:.4g} {objective.unit}, within the goal "
                         f"{goal:.4g}; nothing to compress")
    return cost / goal
