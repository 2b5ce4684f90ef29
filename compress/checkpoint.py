"""Checkpoints: one dict saved atomically, loaded with ``weights_only=True`` (never arbitrary unpickling).

A checkpoint holds ``arch`` (registry name), ``num_classes``, ``in_channels``, ``state_dict`` and, as the run
needs, ``structure`` (pruning/compaction record), ``config``, ``epoch``, ``metrics``, ``optimizer``, ``scheduler``.
A plain ``state_dict`` file (like the shared pretrained ResNets) is accepted wherever weights are read.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .files import atomic_path


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt or does not fit the model."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (a killed run never leaves half a file)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint or a plain state_dict, safely; errors name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: corrupt or not a torch file ({first})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(data).__name__}, expected a dict")
    return data


def state_dict_of(data: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The state_dict inside a checkpoint dict, or the dict itself when it is a plain state_dict."""
    state = data.get("state_dict", data)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("checkpoint has no 'state_dict' and is not a plain state_dict of tensors")
    return state


def load_weights(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load weights from ``path`` into ``model`` (strict); returns the checkpoint dict."""
    data = load_checkpoint(path)
    state = state_dict_of(data)
    own = model.state_dict()
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = [f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
        raise CheckpointError(f"weights in {path} do not fit the model ({'; '.join(parts)})")
    model.load_state_dict(state, strict=False)  # only BN's num_batches_tracked may be absent (checked above)
    return data
