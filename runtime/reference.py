"""The reference side of every benchmark: a seeded input and onnxruntime's output for it."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A float32 standard-normal input of ``shape``, reproducible from ``seed``."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def onnxruntime_output(onnx_path: str | Path, x: np.ndarray) -> np.ndarray:
    """Run the ONNX model on the CPU provider with one thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x})[0]


def max_abs_error(reference: np.ndarray, output: np.ndarray) -> float:
    """Largest absolute difference; infinite when the shapes differ or a value is not finite."""
    if reference.size != output.size:
        return float("inf")
    diff = np.abs(reference.astype(np.float64).ravel() - output.astype(np.float64).ravel())
    return float(diff.max()) if np.isfinite(diff).all() else float("inf")
