"""The elementwise activation a kernel applies after its bias and residual add: a sequence of steps, each
one Relax binding it replaces (``relu`` = max 0, ONNX ``Clip``/ReLU6 = max lo then min hi, HardSwish).

>>> RELU6
(('max', 0.0), ('min', 6.0))
>>> activate(RELU6, value)        # TIR: min(max(value, 0), 6)
"""
from __future__ import annotations

from tvm.script.ir_builder import tirx as T

Activation = tuple[tuple, ...]  # steps in order: ("max", bound), ("min", bound), ("hardswish",)
RELU: Activation = (("max", 0.0),)
RELU6: Activation = (("max", 0.0), ("min", 6.0))
HARDSWISH: Activation = (("hardswish",),)


def activate(steps: Activation, value):
    """``value`` (a float32 TIR expression) through every step."""
    for step in steps:
        if step[0] == "max":
            value = T.max(value, T.float32(step[1]))
        elif step[0] == "min":
            value = T.min(value, T.float32(step[1]))
        elif step[0] == "hardswish":
            value = value * T.min(T.max(value + T.float32(3), T.float32(0)), T.float32(6)) * T.float32(1 / 6)
        else:
            raise ValueError(f"unknown activation step {step!r}; expected one of: max, min, hardswish")
    return value
