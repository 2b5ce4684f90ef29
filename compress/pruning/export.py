"""Export of a compacted model: ONNX (opset 17) whose weights carry the column zeros, plus a JSON sidecar.

The sidecar says, per conv/linear layer (torch names), the compacted weight shape, the kept columns
(``(channel, kh, kw)`` taps flattened, in the compacted layer's numbering) and which filters/channels of the
dense model were kept (the compaction record). Codegen reads it to build column-restricted GEMMs.

>>> export_onnx(small, (3, 32, 32), "run/model.onnx")
>>> write_sidecar("run/structure.json", small, record, arch="resnet20", input_shape=(3, 32, 32))
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..files import atomic_path, write_json

OPSET = 17


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: str | Path, opset: int = OPSET) -> Path:
    """Export ``model`` (eval mode, batch dimension dynamic) with the TorchScript-based exporter."""
    path = Path(path)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy-exporter notice and Slice constant-folding notes
            with atomic_path(path) as tmp:
                torch.onnx.export(model, (torch.zeros(1, *input_shape, device=device),), str(tmp),
                                  opset_version=opset, dynamo=False, input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    finally:
        model.train(was_training)
    return path


def execution_order(model: nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """Conv/linear layer names in the order a forward pass calls them."""
    order: list[str] = []
    hooks = [m.register_forward_hook(lambda *_, n=n: order.append(n))
             for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return order


def onnx_weights(path: str | Path) -> list[tuple[str, np.ndarray]]:
    """(initializer name, array) of each Conv/Gemm weight in graph order (BatchNorm is folded into convs)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: i for i in graph.initializer}
    return [(n.input[1], numpy_helper.to_array(inits[n.input[1]])) for n in graph.node
            if n.op_type in ("Conv", "Gemm") and n.input[1] in inits]


def layer_structure(model: nn.Module) -> dict[str, dict]:
    """Per conv/linear layer: weight shape, kept (nonzero) columns and rows of the weight matrix."""
    layers = {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            matrix = m.weight.detach().reshape(m.weight.shape[0], -1) != 0
            layers[name] = {
                "kind": "conv" if isinstance(m, nn.Conv2d) else "linear",
                "weight_shape": list(m.weight.shape),
                "kept_columns": torch.nonzero(matrix.any(0)).flatten().tolist(),
                "zero_rows": torch.nonzero(~matrix.any(1)).flatten().tolist(),
                "nonzero_weights": int(matrix.sum()),
            }
    return layers


def write_sidecar(path: str | Path, model: nn.Module, record: dict, arch: str, input_shape: tuple[int, ...],
                  onnx_path: str | Path | None = None) -> Path:
    """Write the structure JSON: arch, input shape, per-layer columns and the compaction record.

    With ``onnx_path``, each layer also names its ONNX weight initializer (matched in execution order).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layers = layer_structure(model)
    if onnx_path is not None:
        order, weights = execution_order(model, input_shape), onnx_weights(onnx_path)
        if len(order) != len(weights):
            raise RuntimeError(f"{onnx_path}: {len(weights)} Conv/Gemm weights for {len(order)} torch layers")
        for name, (init, array) in zip(order, weights):
            if list(array.shape) != layers[name]["weight_shape"]:
                raise RuntimeError(f"ONNX weight {init} has shape {list(array.shape)}, torch layer {name} "
                                   f"{layers[name]['weight_shape']}")
            layers[name]["onnx_weight"] = init
    data = {"arch": arch, "input_shape": list(input_shape), "onnx_opset": OPSET, "layers": layers,
            "compaction": record}
    write_json(path, data, indent=1)
    return path
