"""Data-parallel plumbing for ``torchrun``: the process group, this process's rank, and the few collectives the
training loop and the search use. Nothing else in the package touches ``torch.distributed``.

Launched by ``torchrun --nproc-per-node N`` (``WORLD_SIZE`` > 1 in the environment), ``init`` joins the process
group: ``nccl`` for CUDA (one GPU per local rank), ``gloo`` on CPU. Without it no group exists, every helper
is the identity (``wrap`` returns the model, ``spread`` is a plain map) and a run is exactly a single-process run.

>>> init("cpu")                                 # under torchrun; a no-op in one process
>>> net = wrap(model)                           # DistributedDataParallel, or model itself
>>> scores = spread(evaluate, candidates)       # each rank scores every world_size-th candidate
>>> if is_main(): print("done")
"""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")
R = TypeVar("R")


def launched() -> bool:
    """Whether torchrun started this process as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether a process group is up (``init`` ran under torchrun)."""
    return dist.is_available() and dist.is_initialized()


def init(device: str = "cpu") -> None:
    """Join torchrun's process group when launched with several processes: ``nccl`` when ``device`` is CUDA
    (each process on the GPU of its ``LOCAL_RANK``, so "cuda" means that GPU), ``gloo`` otherwise."""
    if not launched() or active():
        return
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if cuda else "gloo")


def close() -> None:
    """Leave the process group (if any)."""
    if active():
        dist.destroy_process_group()


def rank() -> int:
    """This process's rank (0 in one process)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """The number of processes (1 without torchrun)."""
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Whether this process writes results and prints: rank 0."""
    return rank() == 0


def barrier() -> None:
    """Wait for every process (nothing in one process)."""
    if active():
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Run the block on rank 0 first, then on the others: rank 0 fills a cache the others then read."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def check_batch(batch_size: int) -> None:
    """Refuse a global batch the processes cannot share equally."""
    if batch_size % world_size():
        raise ValueError(f"batch size {batch_size} is not divisible by the {world_size()} processes; each process "
                         "takes batch size / processes images per step")


def shard() -> tuple[int, int]:
    """(rank, world size): which share of every global batch this process reads."""
    return rank(), world_size()


def share_weight(local: int, total: int) -> float:
    """The factor that turns this rank's mean loss over ``local`` of a batch's ``total`` images into its part of
    the batch mean once DDP averages the ranks' gradients (1.0 when the shares are equal)."""
    return local * world_size() / total


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in DistributedDataParallel (which first copies rank 0's weights and buffers to every rank);
    ``model`` itself in one process. Hooks, checkpoints and evaluation keep using the unwrapped model."""
    if not active():
        return model
    # a 1-channel input conv's weight gradient has other strides on its size-1 dim than the weight: harmless
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


@torch.no_grad()
def sync_module(model: nn.Module) -> None:
    """Copy rank 0's parameters and buffers (BatchNorm statistics included) to every rank."""
    if active():
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, 0)


def all_sum(values: Sequence[float]) -> list[float]:
    """Each value summed over the processes (the values themselves in one process)."""
    if not active():
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    total = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def spread(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]``, each process computing every world_size-th item; every process gets all the
    results, in order. A single item is computed on rank 0 alone, so every rank sees the same result."""
    if not active():
        return [fn(x) for x in items]
    size = world_size()
    mine = [fn(x) for x in items[rank()::size]]
    gathered: list[Any] = [None] * size
    dist.all_gather_object(gathered, mine)
    results: list[Any] = [None] * len(items)
    for r, part in enumerate(gathered):
        results[r::size] = part
    return results
