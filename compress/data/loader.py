"""Batches as normalised float tensors, with crop+flip augmentation done on whole batches (fast on CPU and GPU)."""
from __future__ import annotations

from typing import Iterator

import torch

from .arrays import ArrayDataset


class BatchLoader:
    """Iterate (x, y) batches: x float (B, C, H, W) normalised, y int64.

    ``augment`` applies a random crop (zero padding ``pad``) and a horizontal flip per image. ``per_epoch``
    (with ``shuffle``) reads that many images per epoch, a new random sample of the whole dataset each epoch.
    ``seed`` and the epoch counter make shuffling, sampling and augmentation reproducible. ``shard`` = (rank,
    processes) yields only that rank's contiguous share of every batch (``batch_size`` stays the global batch),
    augmented exactly as in the whole batch, so the processes together read what one process would.
    """

    def __init__(self, data: ArrayDataset, mean: tuple[float, ...], std: tuple[float, ...], batch_size: int = 128,
                 shuffle: bool = False, augment: bool = False, seed: int = 0, device: str | torch.device = "cpu",
                 pad: int = 4, per_epoch: int | None = None, shard: tuple[int, int] = (0, 1)) -> None:
        self.images = torch.from_numpy(data.x).to(device).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
        self.labels = torch.from_numpy(data.y).to(device)
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(mean, device=device).view(shape) * 255.0
        self.std = torch.tensor(std, device=device).view(shape) * 255.0
        self.batch_size, self.shuffle, self.augment, self.pad = batch_size, shuffle, augment, pad
        self.seed, self.epoch = seed, 0
        self.per_epoch = min(per_epoch, len(self.labels)) if per_epoch and shuffle else len(self.labels)
        self.rank, self.processes = shard
        last = self.per_epoch % batch_size
        if 0 < last < self.processes:
            raise ValueError(f"the last batch of each epoch has {last} images, fewer than the {self.processes} "
                             "processes; change the batch size or the images per epoch")

    def __len__(self) -> int:
        return (self.per_epoch + self.batch_size - 1) // self.batch_size

    def global_size(self, step: int) -> int:
        """Images in batch ``step`` of an epoch, over all processes."""
        return min(self.batch_size, self.per_epoch - step * self.batch_size)

    def _mine(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of a batch's tensor (the tensor itself in one process)."""
        return t.tensor_split(self.processes)[self.rank]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        n = len(self.labels)
        order = (torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n))[:self.per_epoch]
        for start in range(0, self.per_epoch, self.batch_size):
            batch = order[start:start + self.batch_size]
            idx = self._mine(batch).to(self.labels.device)
            x = self.images[idx]
            if self.augment:
                x = self._crop_flip(x, gen, len(batch))
            yield (x.float() - self.mean) / self.std, self.labels[idx]

    def _crop_flip(self, x: torch.Tensor, gen: torch.Generator, whole: int) -> torch.Tensor:
        """Crop and flip this rank's share ``x`` of a batch of ``whole`` images, with the draws of the whole batch."""
        b, _, h, w = x.shape
        p = self.pad
        padded = torch.nn.functional.pad(x, (p, p, p, p))
        dy = self._mine(torch.randint(0, 2 * p + 1, (whole,), generator=gen)).to(x.device)
        dx = self._mine(torch.randint(0, 2 * p + 1, (whole,), generator=gen)).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        out = padded[batch, chans, rows, cols]
        flip = self._mine(torch.rand(whole, generator=gen) < 0.5).to(x.device)[:, None, None, None]
        return torch.where(flip, out.flip(3), out)
