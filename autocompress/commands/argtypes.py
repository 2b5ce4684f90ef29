"""argparse types that check a value when the flags are parsed: numbers finite and in range, a usable torch device.

>>> parser.add_argument("--epochs", type=COUNT)       # "--epochs -1" -> "argument --epochs: -1 is not an integer >= 0"
>>> parser.add_argument("--target", type=FACTOR)      # nan, inf, 1 and 1000 are refused
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

MAX_FACTOR = 100.0  # compression or speed-up targets beyond this leave no model of ours its accuracy


def bounded(kind: type, low: float | None = None, high: float | None = None, open_low: bool = False,
            open_high: bool = False) -> Callable[[str], float]:
    """A type parsing ``kind`` (int or float) that is finite and within [low, high] (open ends where asked)."""
    what = "an integer" if kind is int else "a finite number"
    if low is not None and high is not None:
        what += f" in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    elif low is not None:
        what += f" {'>' if open_low else '>='} {low:g}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        too_low = low is not None and (value <= low if open_low else value < low)
        too_high = high is not None and (value >= high if open_high else value > high)
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    return parse


COUNT = bounded(int, 0)  # epochs, retries, seeds
POSITIVE_INT = bounded(int, 1)  # batch sizes, image limits, runs, threads
NUMBER = bounded(float)  # any finite number
NON_NEGATIVE = bounded(float, 0.0)
POSITIVE = bounded(float, 0.0, open_low=True)  # learning rates, temperatures, tolerances
FRACTION = bounded(float, 0.0, 1.0, open_high=True)  # rates, shares, momentum
WEIGHT = bounded(float, 0.0, 1.0)  # a mixing weight
FACTOR = bounded(float, 1.0, MAX_FACTOR, open_low=True)  # compression, MAC-reduction targets


def torch_device(text: str) -> str:
    """``cpu`` or ``cuda[:N]``, refused at parse time when this machine has no CUDA device."""
    import torch

    kind = text.split(":", 1)[0]
    if kind not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"unknown torch device {text!r}; expected cpu or cuda")
    if kind == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: no CUDA device on this machine; use cpu")
    return text


def cpu_pin(text: str) -> str:
    """``auto``, ``none`` or a CPU list such as ``4-7`` or ``0,2`` (``runtime.cpus``)."""
    from runtime.cpus import AUTO, NO_PIN, parse_cpu_list

    if text not in (AUTO, NO_PIN):
        try:
            parse_cpu_list(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not auto, none or a CPU list such as 4-7 or 0,2") from None
    return text


def shape_arg(text: str) -> tuple[int, ...]:
    """A tensor shape written ``1,3,32,32`` (or with x): positive integers."""
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape of positive integers such as 1,3,32,32")
    return shape
