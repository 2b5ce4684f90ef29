"""The reference side of every benchmark: a seeded input and onnxruntime's output for it."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A float32 standard-normal input of ``shape``, reproducible from ``seed``."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def onnxruntime_session(onnx_path: str | Path, threads: int = 1):
    """An onnxruntime session on the CPU provider with ``threads`` intra-op threads (one inter-op thread)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def onnxruntime_output(onnx_path: str | Path, x: np.ndarray) -> np.ndarray:
    """Run the ONNX model on the CPU provider with one thread."""
    session = onnxruntime_session(onnx_path)
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x})[0]


def output_errors(reference: np.ndarray, output: np.ndarray) -> tuple[float, float]:
    """Largest absolute difference, and the same relative to the output's scale (the largest |reference|);
    both infinite when the shapes differ or a value is not finite."""
    if reference.size != output.size:
        return float("inf"), float("inf")
    ref = reference.astype(np.float64).ravel()
    diff = np.abs(ref - output.astype(np.float64).ravel())
    if not np.isfinite(diff).all():
        return float("inf"), float("inf")
    return float(diff.max()), float(diff.max() / max(np.abs(ref).max(), np.finfo(np.float32).tiny))


def within_tolerance(reference: np.ndarray, output: np.ndarray, atol: float, rtol: float) -> bool:
    """Every element within ``atol + rtol * |reference|`` (numpy's ``allclose`` rule), shapes equal, all finite."""
    if reference.size != output.size:
        return False
    ref, out = reference.astype(np.float64).ravel(), output.astype(np.float64).ravel()
    return bool(np.isfinite(out).all() and (np.abs(ref - out) <= atol + rtol * np.abs(ref)).all())
