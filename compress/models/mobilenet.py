"""MobileNetV2 of Sandler et al. (2018) for 32x32 inputs: inverted residual blocks (1x1 expansion, 3x3
depthwise, linear 1x1 projection) with ReLU6, width 1.0. As usual for CIFAR, the stem and the second stage
keep stride 1, so the last feature map is 4x4 instead of 1x1 (its Table 2 otherwise).
"""
from __future__ import annotations

import torch
from torch import nn

# (expansion t, output channels c, blocks n, first stride s) per stage, Table 2 with s = 1 in stages 0-1
MOBILENETV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                      (6, 160, 3, 2), (6, 320, 1, 1))


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    """A bias-free conv, BatchNorm and (unless ``act`` is None) an activation; ``groups=cin``: depthwise."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([act(inplace=True)] if act else []))


class InvertedResidual(nn.Module):
    """1x1 expansion to ``t * cin`` channels (none when t = 1), 3x3 depthwise, linear 1x1 projection; the
    input is added back when the block keeps the shape."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        expand = [conv_bn(cin, hidden)] if expansion != 1 else []
        self.conv = nn.Sequential(*expand, conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                  conv_bn(hidden, cout, act=None))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.residual else out


class MobileNetV2(nn.Module):
    """3x3 stem (32 channels), 17 inverted residual blocks, 1x1 conv to 1280, pooling, dropout, classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        blocks, cin = [conv_bn(in_channels, 32, 3)], 32
        for t, c, n, s in MOBILENETV2_STAGES:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        blocks.append(conv_bn(cin, 1280))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(1280, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))


def mobilenetv2(num_classes: int = 10, in_channels: int = 3) -> MobileNetV2:
    """CIFAR MobileNetV2, width 1.0 (2.24M parameters)."""
    return MobileNetV2(num_classes, in_channels)
