"""CIFAR VGG-16 with BatchNorm: 13 3x3 conv+BN+ReLU layers, 5 max-pools, one linear classifier."""
from __future__ import annotations

import torch
from torch import nn

VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    """VGG for 32x32 inputs; convs carry no bias (BatchNorm follows each)."""

    def __init__(self, config: tuple = VGG16_CONFIG, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, 1, 1, bias=False), nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def vgg16(num_classes: int = 10, in_channels: int = 3) -> VGG:
    """CIFAR VGG-16 with BatchNorm (14.72M parameters)."""
    return VGG(VGG16_CONFIG, num_classes, in_channels)
