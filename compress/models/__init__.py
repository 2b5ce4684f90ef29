"""Model registry: build a network by name.

>>> from compress.models import build_model
>>> net = build_model("resnet20", num_classes=10)
>>> MODELS["resnet20"].input_shape
(3, 32, 32)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from .mobilenet import mobilenetv2
from .mobilenetv3 import mobilenetv3_small
from .resnet18 import resnet18
from .resnet_cifar import resnet20, resnet56
from .small_cnn import small_cnn
from .vgg import vgg16


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture and the input it expects by default."""

    builder: Callable[..., nn.Module]
    input_shape: tuple[int, int, int]  # (C, H, W) of one image
    description: str


MODELS: dict[str, ModelSpec] = {
    "resnet20": ModelSpec(resnet20, (3, 32, 32), "CIFAR ResNet-20, option-A shortcuts"),
    "resnet56": ModelSpec(resnet56, (3, 32, 32), "CIFAR ResNet-56, option-A shortcuts"),
    "resnet18": ModelSpec(resnet18, (3, 32, 32), "CIFAR ResNet-18, 3x3 stem, no max-pool"),
    "vgg16": ModelSpec(vgg16, (3, 32, 32), "CIFAR VGG-16 with BatchNorm"),
    "mobilenetv2": ModelSpec(mobilenetv2, (3, 32, 32), "CIFAR MobileNetV2, width 1.0, ReLU6, stride-1 stem"),
    "mobilenetv3_small": ModelSpec(mobilenetv3_small, (3, 32, 32),
                                   "CIFAR MobileNetV3-Small, hard-swish, squeeze-and-excitation, stride-1 stem"),
    "small_cnn": ModelSpec(small_cnn, (1, 8, 8), "small CNN for the embedded digits data"),
}


def get_spec(name: str) -> ModelSpec:
    """Look up a registered model; the error lists the known names."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, num_classes: int = 10, in_channels: int | None = None) -> nn.Module:
    """Build a registered model with fresh weights."""
    spec = get_spec(name)
    return spec.builder(num_classes=num_classes, in_channels=in_channels or spec.input_shape[0])


__all__ = ["MODELS", "ModelSpec", "build_model", "get_spec"]
