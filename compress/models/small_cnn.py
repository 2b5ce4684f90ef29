"""A small CNN for the embedded default data (scikit-learn's 8x8 digits) and for fast tests."""
from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """conv-bn-relu x2, max-pool, conv-bn-relu, global average pool, linear."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(2 * w, 4 * w, 3, 1, 1, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def small_cnn(num_classes: int = 10, in_channels: int = 1) -> SmallCNN:
    """The default model for the embedded digits data (1x8x8 inputs)."""
    return SmallCNN(num_classes, in_channels)
