"""The one module compaction introduces: a shortcut that subsamples and maps channels by index.

It replaces the option-A ``PadShortcut`` once channels on either side of it have been removed: output
channel ``t`` is input channel ``index[t]``, or zero where ``index[t] == -1``. It exports to ONNX as
Slice + Concat + Gather.

>>> gather = ChannelGather([-1, 0, 1, -1], stride=2)   # == PadShortcut(1, 1) on 2 channels
>>> gather(torch.randn(1, 2, 8, 8)).shape
torch.Size([1, 4, 4, 4])
"""
from __future__ import annotations

import torch
from torch import nn


class ChannelGather(nn.Module):
    """``y[:, t] = x[:, index[t], ::stride, ::stride]``, zero where ``index[t] == -1``."""

    def __init__(self, index: list[int], stride: int = 1) -> None:
        super().__init__()
        self.index_list = [int(i) for i in index]
        self.stride = int(stride)
        self.has_zeros = any(i < 0 for i in self.index_list)
        self.register_buffer("index", torch.tensor(self.index_list, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.has_zeros:  # channel C is an all-zero channel that every -1 points at
            x = torch.cat([x, torch.zeros_like(x[:, :1])], 1)
            return x.index_select(1, torch.where(self.index < 0, x.shape[1] - 1, self.index))
        return x.index_select(1, self.index)

    def extra_repr(self) -> str:
        return f"channels={len(self.index_list)}, stride={self.stride}"
