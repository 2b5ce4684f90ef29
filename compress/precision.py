"""Mixed precision for training: bfloat16 autocast where the device computes bf16 natively, fp32 elsewhere.

On CPUs without native bf16 (no AVX512_BF16 or AMX), oneDNN emulates it and a ResNet-20 training step runs at
about 0.7x its fp32 speed (measured on this project's Ice Lake-class CI machine), so ``auto`` keeps fp32 there.
Weights, optimizer state and the loss stay fp32 (autocast only lowers the convolutions and matmuls).
"""
from __future__ import annotations

import contextlib
import functools

import torch

PRECISIONS = ("auto", "bf16", "fp32")


@functools.cache
def native_bf16(device_type: str) -> bool:
    """Whether ``device_type`` ("cpu" or "cuda") computes bfloat16 in hardware."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def resolve(device: str, precision: str) -> str:
    """``bf16`` or ``fp32``: what ``precision`` ("auto", "bf16", "fp32") means on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if native_bf16(torch.device(device).type) else "fp32"
    return precision


def autocast(device: str, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for one training step (a no-op context for fp32)."""
    if resolve(device, precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
