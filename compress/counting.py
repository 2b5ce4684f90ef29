"""Parameter and multiply-accumulate (MAC) counts, dense and with zeros in the weights.

Conv/linear weights are viewed as matrices with one row per filter (output unit) and one column per
(input channel, kh, kw) tap. Zeros count three ways: ``nonzero`` weights, ``structured`` work that remains
when all-zero rows and columns are skipped, and ``nonzero`` MACs when every single zero is skipped.

>>> stats = count_model(build_model("resnet20"), (3, 32, 32))
>>> stats.params, stats.macs
(269722, 40551424)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class LayerCount:
    """Counts of one conv or linear layer for one input image."""

    name: str
    kind: str  # "conv" or "linear"
    weight_shape: tuple[int, ...]
    out_pixels: int  # output positions per image (1 for linear)
    weights: int  # dense weight count (bias excluded)
    nonzero_weights: int
    rows: int  # filters / output units
    cols: int  # in_channels/groups * kh * kw
    kept_rows: int  # rows with at least one nonzero
    kept_cols: int  # columns with at least one nonzero

    @property
    def macs(self) -> int:
        """Dense MACs."""
        return self.out_pixels * self.weights

    @property
    def structured_macs(self) -> int:
        """MACs left when all-zero filters and columns are skipped."""
        return self.out_pixels * self.kept_rows * self.kept_cols

    @property
    def nonzero_macs(self) -> int:
        """MACs left when every zero weight is skipped."""
        return self.out_pixels * self.nonzero_weights


@dataclass
class ModelCount:
    """Whole-model totals plus the per-layer breakdown."""

    params: int  # every parameter, BN and biases included
    layers: list[LayerCount] = field(default_factory=list)

    @property
    def weights(self) -> int:
        """Dense conv+linear weights (the base of the compression rate)."""
        return sum(layer.weights for layer in self.layers)

    @property
    def nonzero_weights(self) -> int:
        return sum(layer.nonzero_weights for layer in self.layers)

    @property
    def nonzero_params(self) -> int:
        """Parameters once zero conv/linear weights are not stored."""
        return self.params - self.weights + self.nonzero_weights

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def structured_macs(self) -> int:
        return sum(layer.structured_macs for layer in self.layers)

    @property
    def nonzero_macs(self) -> int:
        return sum(layer.nonzero_macs for layer in self.layers)

    @property
    def compression_rate(self) -> float:
        """Dense conv+linear weights / nonzero conv+linear weights."""
        return self.weights / max(self.nonzero_weights, 1)

    def to_dict(self) -> dict:
        """JSON-ready summary with the per-layer table."""
        summary = {k: getattr(self, k) for k in (
            "params", "nonzero_params", "weights", "nonzero_weights", "macs", "structured_macs", "nonzero_macs",
            "compression_rate")}
        summary["layers"] = [asdict(layer) | {"macs": layer.macs, "structured_macs": layer.structured_macs}
                             for layer in self.layers]
        return summary


def weight_matrix(module: nn.Module) -> torch.Tensor:
    """The weight as a (rows, cols) matrix: filters x (in_channels/groups * kh * kw)."""
    return module.weight.detach().reshape(module.weight.shape[0], -1)


def _layer_count(name: str, module: nn.Module, out_shape: torch.Size) -> LayerCount:
    matrix = weight_matrix(module)
    nonzero = matrix != 0
    is_conv = isinstance(module, nn.Conv2d)
    out_pixels = int(out_shape[2] * out_shape[3]) if is_conv else 1
    return LayerCount(
        name=name, kind="conv" if is_conv else "linear", weight_shape=tuple(module.weight.shape),
        out_pixels=out_pixels, weights=matrix.numel(), nonzero_weights=int(nonzero.sum()),
        rows=matrix.shape[0], cols=matrix.shape[1],
        kept_rows=int(nonzero.any(1).sum()), kept_cols=int(nonzero.any(0).sum()),
    )


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Conv2d and Linear modules by qualified name, in definition order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


@torch.no_grad()
def count_model(model: nn.Module, input_shape: tuple[int, ...]) -> ModelCount:
    """Count parameters and per-layer MACs for one image of shape ``input_shape`` (C, H, W)."""
    layers = prunable_layers(model)
    out_shapes: dict[str, torch.Size] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: out_shapes.__setitem__(n, out.shape))
             for n, m in layers.items()]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return ModelCount(params, [_layer_count(n, m, out_shapes[n]) for n, m in layers.items() if n in out_shapes])
