"""The building blocks MobileNetV2 and V3 share: conv + BatchNorm + activation, squeeze-and-excitation, and the
inverted residual block (1x1 expansion, kxk depthwise, optional squeeze-and-excitation, linear 1x1 projection)."""
from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    """A bias-free conv, BatchNorm and (unless ``act`` is None) an activation; ``groups=cin``: depthwise."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([act(inplace=True)] if act else []))


class SqueezeExcitation(nn.Module):
    """Channel gates from the global average (Hu et al. 2018, in MobileNetV3's form): 1x1 reduce, ReLU, 1x1
    expand, hard-sigmoid; the input is multiplied by its gates, channel by channel."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))


class InvertedResidual(nn.Module):
    """1x1 expansion to ``hidden`` channels (none when hidden = cin), ``kernel``x``kernel`` depthwise,
    squeeze-and-excitation to ``hidden // 4`` when ``se``, linear 1x1 projection; the input is added back when
    the block keeps the shape."""

    def __init__(self, cin: int, hidden: int, cout: int, stride: int, kernel: int = 3,
                 act: type[nn.Module] = nn.ReLU6, se: bool = False) -> None:
        super().__init__()
        expand = [conv_bn(cin, hidden, act=act)] if hidden != cin else []
        gate = [SqueezeExcitation(hidden, hidden // 4)] if se else []
        self.conv = nn.Sequential(*expand, conv_bn(hidden, hidden, kernel, stride, groups=hidden, act=act),
                                  *gate, conv_bn(hidden, cout, act=None))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.residual else out


def init_weights(model: nn.Module) -> None:
    """MobileNet initialisation: He (fan-out) convs, zero conv biases, N(0, 0.01) linear weights, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
