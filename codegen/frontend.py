"""Model intake: ONNX files are validated (checker, operators, static shapes) before TVM sees them.

A ``torch.nn.Module`` is exported to ONNX first, so every model takes the same route and the ONNX used
can be kept beside the executable as the onnxruntime reference.
"""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings
from pathlib import Path

import onnx

from .errors import DynamicShapeError, InvalidModelError, UnsupportedOperatorError

ONNX_OPSET = 18
# Operators TVM converts whose output shape depends on the data; a static executable cannot hold them.
DATA_DEPENDENT_SHAPES = frozenset({"Compress", "NonMaxSuppression", "NonZero", "Unique"})


def load_onnx(source: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    """Load an ONNX model from a path or take a ``ModelProto``, and run ``onnx.checker`` on it.

    Parameters
    ----------
    source : str, Path or onnx.ModelProto
        The model; files are untrusted input.

    Returns
    -------
    model : onnx.ModelProto
        The checked model.
    """
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX file not found: {path}")
        try:
            model = onnx.load(str(path))
        except Exception as err:  # protobuf raises DecodeError, onnx raises ValueError/OSError
            raise InvalidModelError(f"cannot parse ONNX file {path}: {_first_line(err)}") from None
    try:
        onnx.checker.check_model(model, full_check=False)
    except Exception as err:  # onnx.checker.ValidationError and protobuf errors
        raise InvalidModelError(f"invalid ONNX model: {_first_line(err)}") from None
    return model


def export_torch(module, input_shape: tuple[int, ...]) -> onnx.ModelProto:
    """Export a ``torch.nn.Module`` in eval mode for one input of ``input_shape`` (batch included).

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    input_shape : tuple of int
        Full input shape, e.g. ``(1, 3, 32, 32)``.

    Returns
    -------
    model : onnx.ModelProto
        The exported model, weights inline, input ``input`` and output ``output``.
    """
    import torch

    _build_onnx_registry_once()
    module = module.eval()
    example = torch.zeros(*input_shape)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, (example,), input_names=["input"], output_names=["output"],
                                        opset_version=ONNX_OPSET, dynamo=True, verbose=False)
    finally:
        quiet.setLevel(level)
    return program.model_proto  # weights inline, no external data file


def _build_onnx_registry_once() -> None:
    """Make torch build its ONNX function registry once per process instead of on every export (about 4 s each
    here: it parses ~500 onnxscript functions; a latency table exports 16 models). This memoises a private
    classmethod of torch's exporter (torch is pinned at 2.13.0); where it is missing, exports stay uncached.
    Nothing in this project registers custom ops, which would change the shared registry."""
    try:
        from torch.onnx._internal.exporter._registration import ONNXRegistry
    except ImportError:
        return
    build = getattr(ONNXRegistry, "from_torchlib", None)
    if build is None or hasattr(build, "cache_info"):
        return
    ONNXRegistry.from_torchlib = classmethod(functools.cache(build.__func__))


def check_supported(model: onnx.ModelProto) -> None:
    """Fail once, listing every node whose op type TVM's ONNX frontend cannot convert or whose output shape
    depends on the data.

    Parameters
    ----------
    model : onnx.ModelProto
        A checked model.
    """
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    known = _get_convert_map()
    bad = [(node.name or f"node{i}", node.op_type) for i, node in enumerate(model.graph.node)
           if node.domain not in ("", "ai.onnx") or node.op_type not in known
           or node.op_type in DATA_DEPENDENT_SHAPES]
    if bad:
        raise UnsupportedOperatorError(bad)


def fix_input_shape(model: onnx.ModelProto, input_shape: tuple[int, ...] | None = None) -> str | None:
    """Fix the shape of the model's one real input in place: to ``input_shape`` when given, else a dynamic batch
    dimension (axis 0) to 1, as compilers for deployment do. Returns a notice saying what was fixed (None when
    nothing was); other dynamic dimensions stay, for :func:`input_shapes` to refuse."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    if len(inputs) != 1 or not inputs[0].type.tensor_type.HasField("shape"):
        return None
    value, dims = inputs[0], inputs[0].type.tensor_type.shape.dim
    if input_shape is not None:
        if len(input_shape) != len(dims):
            raise DynamicShapeError(f"--input-shape {tuple(input_shape)} has {len(input_shape)} dimensions; input "
                                    f"{value.name!r} has {len(dims)}")
        clash = [axis for axis, size in enumerate(input_shape) if _static(dims[axis]) and not _static(dims[axis], size)]
        if clash:
            raise DynamicShapeError(f"--input-shape {tuple(input_shape)} differs from input {value.name!r}'s fixed "
                                    f"size {dims[clash[0]].dim_value} at axis {clash[0]}")
        fixed = [(axis, size) for axis, size in enumerate(input_shape) if not _static(dims[axis])]
    else:
        fixed = [(0, 1)] if dims and not _static(dims[0]) else []
    for axis, size in fixed:
        dims[axis].Clear()
        dims[axis].dim_value = int(size)
    if not fixed:
        return None
    return f"input {value.name!r}: " + ", ".join(f"axis {axis} fixed to {size}" for axis, size in fixed)


def _static(dim, size: int | None = None) -> bool:
    """Whether ``dim`` is a fixed size (equal to ``size`` when one is given)."""
    return dim.HasField("dim_value") and dim.dim_value > 0 and size in (None, dim.dim_value)


def input_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Shapes of the real graph inputs (initializers excluded); symbolic or unknown dims raise, naming the input."""
    initializers = {init.name for init in model.graph.initializer}
    shapes = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            raise DynamicShapeError(f"input {value.name!r} has no shape; static shapes are required")
        dims = []
        for axis, dim in enumerate(tensor.shape.dim):
            if not dim.HasField("dim_value") or dim.dim_value <= 0:
                label = dim.dim_param or "?"
                raise DynamicShapeError(f"input {value.name!r} has a dynamic dimension {label!r} at axis {axis}; "
                                        "give the whole shape with --input-shape (e.g. 1,3,32,32) or export the "
                                        "model with a fixed input shape")
            dims.append(dim.dim_value)
        shapes[value.name] = tuple(dims)
    return shapes


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
