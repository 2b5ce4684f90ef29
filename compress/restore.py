"""Rebuild a model from a checkpoint: the architecture it names, its compaction record replayed, its weights.

>>> model, arch = restore_model("runs/prune/model.pt")          # a compacted checkpoint of ours
>>> model, arch = restore_model("resnet20-cifar10.pt", arch="resnet20")   # a plain state_dict
>>> teacher, arch = restore_teacher("r56/model.pt", None, (3, 32, 32), 10)  # checked to fit the data
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .checkpoint import CheckpointError, load_checkpoint, load_weights
from .models import build_model
from .pruning.compaction import replay


def restore_model(weights: str | Path | None = None, arch: str | None = None, num_classes: int | None = None,
                  in_channels: int | None = None) -> tuple[nn.Module, str]:
    """Build ``arch`` (or the checkpoint's own), replay its ``structure`` record and load ``weights``.

    The checkpoint's architecture, class count and channels win over the arguments, which serve plain
    state_dicts and fresh models.
    """
    checkpoint = load_checkpoint(weights) if weights else {}
    name = checkpoint.get("arch", arch)
    if name is None:
        raise CheckpointError(f"{weights} names no architecture; pass the model name")
    model = build_model(name, num_classes=checkpoint.get("num_classes", num_classes or 10),
                        in_channels=checkpoint.get("in_channels", in_channels))
    if checkpoint.get("structure"):
        replay(model, checkpoint["structure"])
    if weights:
        load_weights(model, weights)
    return model, name


def restore_teacher(weights: str | Path, arch: str | None, input_shape: tuple[int, ...],
                    num_classes: int) -> tuple[nn.Module, str]:
    """A trained model to distil from, in eval mode, refused (``ValueError``) unless it takes ``input_shape``
    images and gives ``num_classes`` logits."""
    teacher, name = restore_model(weights, arch, num_classes, input_shape[0])
    try:
        with torch.no_grad():
            shape = tuple(teacher.eval()(torch.zeros(2, *input_shape)).shape)
    except RuntimeError as err:
        raise ValueError(f"the teacher does not take {list(input_shape)} images ({str(err).splitlines()[0]}); "
                         "distil from a model trained on this data") from None
    if shape != (2, num_classes):
        raise ValueError(f"the teacher gives {list(shape[1:])} outputs per image, not this data's {num_classes} "
                         "classes; distil from a model trained on this data")
    return teacher, name
