"""MobileNetV2 of Sandler et al. (2018) for 32x32 inputs: inverted residual blocks (1x1 expansion, 3x3
depthwise, linear 1x1 projection) with ReLU6, width 1.0. As usual for CIFAR, the stem and the second stage
keep stride 1, so the last feature map is 4x4 instead of 1x1 (its Table 2 otherwise).
"""
from __future__ import annotations

import torch
from torch import nn

from .inverted_residual import InvertedResidual, conv_bn, init_weights

# (expansion t, output channels c, blocks n, first stride s) per stage, Table 2 with s = 1 in stages 0-1
MOBILENETV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                      (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    """3x3 stem (32 channels), the inverted residual blocks of ``stages`` (17 by default), 1x1 conv to ``last``
    channels, pooling, dropout, classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3,
                 stages: tuple[tuple[int, int, int, int], ...] = MOBILENETV2_STAGES, last: int = 1280) -> None:
        super().__init__()
        blocks, cin = [conv_bn(in_channels, 32, 3)], 32
        for t, c, n, s in stages:
            for i in range(n):
                blocks.append(InvertedResidual(cin, cin * t, c, s if i == 0 else 1))
                cin = c
        blocks.append(conv_bn(cin, last))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(last, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))


def mobilenetv2(num_classes: int = 10, in_channels: int = 3) -> MobileNetV2:
    """CIFAR MobileNetV2, width 1.0 (2.24M parameters)."""
    return MobileNetV2(num_classes, in_channels)
