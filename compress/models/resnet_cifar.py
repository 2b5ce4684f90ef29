"""CIFAR ResNets of He et al. (2016, section 4.2): ResNet-20/56 with the parameter-free option-A shortcut.

Key names match the widely used pretrained weights (``conv1``, ``bn1``, ``layer{1,2,3}.{i}.conv{1,2}``, ``linear``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import BasicBlock


class PadShortcut(nn.Module):
    """Option-A shortcut: subsample by 2 and zero-pad the new channels, split evenly before and after."""

    def __init__(self, pad_before: int, pad_after: int) -> None:
        super().__init__()
        self.pad_before = pad_before
        self.pad_after = pad_after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad_before, self.pad_after))


def block_a(in_planes: int, planes: int, stride: int) -> BasicBlock:
    """A basic block with an identity or option-A (zero-padding) shortcut."""
    shortcut: nn.Module = nn.Identity()
    if stride != 1 or in_planes != planes:
        extra = planes - in_planes
        shortcut = PadShortcut(extra // 2, extra - extra // 2)
    return BasicBlock(in_planes, planes, stride, shortcut)


class ResNetCifar(nn.Module):
    """3 stages of 16/32/64 channels with ``n`` blocks each (depth = 6n + 2)."""

    def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, n, 1)
        self.layer2 = self._stage(16, 32, n, 2)
        self.layer3 = self._stage(32, 64, n, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    @staticmethod
    def _stage(in_planes: int, planes: int, n: int, stride: int) -> nn.Sequential:
        blocks = [block_a(in_planes, planes, stride)]
        blocks += [block_a(planes, planes, 1) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(torch.flatten(self.pool(out), 1))


def resnet20(num_classes: int = 10, in_channels: int = 3) -> ResNetCifar:
    """ResNet-20 (0.27M parameters)."""
    return ResNetCifar(3, num_classes, in_channels)


def resnet56(num_classes: int = 10, in_channels: int = 3) -> ResNetCifar:
    """ResNet-56 (0.85M parameters)."""
    return ResNetCifar(9, num_classes, in_channels)
