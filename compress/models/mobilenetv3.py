"""MobileNetV3-Small of Howard et al. (2019) for 32x32 inputs: inverted residual blocks with 3x3 or 5x5
depthwise convs, ReLU or hard-swish, and squeeze-and-excitation (hard-sigmoid gates, 1/4 of the expansion).
As for the CIFAR MobileNetV2, the stem and the first block keep stride 1, so the last feature map is 4x4
instead of 7x7 at 224x224 (its Table 2 otherwise). As in the authors' released model, the last 1x1 conv has no
squeeze-and-excitation.
"""
from __future__ import annotations

import torch
from torch import nn

from .inverted_residual import InvertedResidual, conv_bn, init_weights

RE, HS = nn.ReLU, nn.Hardswish
# (kernel, expansion channels, output channels, squeeze-and-excitation, activation, stride) per block,
# Table 2 with s = 1 in the first block
MOBILENETV3_SMALL_BLOCKS = ((3, 16, 16, True, RE, 1), (3, 72, 24, False, RE, 2), (3, 88, 24, False, RE, 1),
                            (5, 96, 40, True, HS, 2), (5, 240, 40, True, HS, 1), (5, 240, 40, True, HS, 1),
                            (5, 120, 48, True, HS, 1), (5, 144, 48, True, HS, 1), (5, 288, 96, True, HS, 2),
                            (5, 576, 96, True, HS, 1), (5, 576, 96, True, HS, 1))


class MobileNetV3Small(nn.Module):
    """3x3 stem (16 channels, hard-swish), 11 inverted residual blocks, 1x1 conv to 576, pooling, a
    1024-unit hard-swish layer, dropout, classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        blocks, cin = [conv_bn(in_channels, 16, 3, act=HS)], 16
        for kernel, hidden, cout, se, act, stride in MOBILENETV3_SMALL_BLOCKS:
            blocks.append(InvertedResidual(cin, hidden, cout, stride, kernel, act, se))
            cin = cout
        blocks.append(conv_bn(cin, 576, act=HS))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(576, 1024), HS(inplace=True), nn.Dropout(0.2),
                                        nn.Linear(1024, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def mobilenetv3_small(num_classes: int = 10, in_channels: int = 3) -> MobileNetV3Small:
    """CIFAR MobileNetV3-Small, width 1.0 (1.52M parameters)."""
    return MobileNetV3Small(num_classes, in_channels)
