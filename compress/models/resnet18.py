"""CIFAR ResNet-18: 3x3 stem without max-pool, four stages of 64/128/256/512 channels, 1x1-conv shortcuts."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import BasicBlock


def block_b(in_planes: int, planes: int, stride: int) -> BasicBlock:
    """A basic block with an identity or 1x1 conv+BN (option B) shortcut."""
    shortcut = nn.Sequential()
    if stride != 1 or in_planes != planes:
        shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
    return BasicBlock(in_planes, planes, stride, shortcut)


class ResNet18(nn.Module):
    """ResNet-18 for 32x32 inputs (11.17M parameters)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths, strides = (64, 128, 256, 512), (1, 2, 2, 2)
        in_planes, stages = 64, []
        for planes, stride in zip(widths, strides):
            stages.append(nn.Sequential(block_b(in_planes, planes, stride), block_b(planes, planes, 1)))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(self.pool(out), 1))


def resnet18(num_classes: int = 10, in_channels: int = 3) -> ResNet18:
    """CIFAR ResNet-18."""
    return ResNet18(num_classes, in_channels)
