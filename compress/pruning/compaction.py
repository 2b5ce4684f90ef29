"""Compaction: a physically smaller model, and the record that rebuilds it from the dense architecture.

Removed channels leave every layer that writes or reads them (conv rows/columns, BatchNorm entries,
depthwise channels, linear columns); shortcuts whose channels moved become ``ChannelGather``; constants of
removed channels are folded into the reading layer's bias (a bias is added when the layer had none).
Column-pruned layers keep their shape and their zero columns. The record is plain data (layer name -> kept
indices), stored in a checkpoint's ``structure`` key; ``replay`` applies it to a freshly built dense model
before loading weights, so a compacted checkpoint needs no pickled modules.

>>> small, record = compact(model, structure, purification)
>>> small, record, purification, difference = purify_and_compact(model, structure, x)  # both, output-checked
>>> fresh = replay(build_model("resnet20"), record)
>>> fresh.load_state_dict(small.state_dict())

For training, ``purify_and_compact(..., spare=hard_pruned, multiple=16)`` keeps some exactly-zero (hard-pruned)
channels so every width is a multiple of 16; ``Compacted.zero`` are the masks that hold them at zero, and the
purification after training removes them.
"""
from __future__ import annotations

import copy
from dataclasses import replace
from typing import Callable, NamedTuple

import torch
from torch import nn

from ..counting import ModelCount, count_model
from .masks import Masks
from .modules import ChannelGather
from .purification import Purification, PurifyConfig, purify
from .structure import Structure


def _conv_like(old: nn.Conv2d, cin: int, cout: int, bias: bool, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, old.kernel_size, old.stride, old.padding, old.dilation, groups, bias,
                     old.padding_mode, device=old.weight.device, dtype=old.weight.dtype)


@torch.no_grad()
def _shrink(old: nn.Module, entry: dict) -> nn.Module:
    """A new module with the kept slice of ``old``'s tensors (zeros where a bias is new)."""
    kind = entry["kind"]
    if kind == "map":
        return ChannelGather(entry["index"], entry["stride"])
    if kind == "bn":
        keep = torch.tensor(entry["keep"], dtype=torch.long, device=old.running_mean.device)
        new = type(old)(len(keep), old.eps, old.momentum, old.affine, old.track_running_stats,
                        device=keep.device, dtype=old.running_mean.dtype)
        for name in ("weight", "bias", "running_mean", "running_var"):
            if getattr(old, name, None) is not None:
                getattr(new, name).copy_(getattr(old, name)[keep])
        if old.num_batches_tracked is not None:
            new.num_batches_tracked.copy_(old.num_batches_tracked)
        return new
    if kind == "dwconv":
        keep = torch.tensor(entry["keep"], dtype=torch.long, device=old.weight.device)
        new = _conv_like(old, len(keep), len(keep), old.bias is not None, groups=len(keep))
        new.weight.copy_(old.weight[keep])
        if old.bias is not None:
            new.bias.copy_(old.bias[keep])
        return new
    rows = torch.tensor(entry["out"], dtype=torch.long, device=old.weight.device)
    cols = torch.tensor(entry["in"], dtype=torch.long, device=old.weight.device)
    if kind == "conv":
        new = _conv_like(old, len(cols), len(rows), entry["bias"])
    elif kind == "linear":
        new = nn.Linear(len(cols), len(rows), entry["bias"], device=old.weight.device, dtype=old.weight.dtype)
    else:
        raise ValueError(f"unknown record kind {kind!r} in compaction record; "
                         "expected one of: conv, linear, dwconv, bn, map")
    new.weight.copy_(old.weight[rows][:, cols])
    if new.bias is not None:
        new.bias.zero_()
        if old.bias is not None:
            new.bias.copy_(old.bias[rows])
    return new


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def replay(model: nn.Module, record: dict[str, dict]) -> nn.Module:
    """Apply a compaction record to the model it was made from (e.g. a freshly built dense one), in place.

    Tensors are sliced from ``model``; when reloading a checkpoint, load its state_dict afterwards.
    """
    modules = dict(model.named_modules())
    missing = sorted(set(record) - set(modules))
    if missing:
        raise ValueError(f"compaction record names layers the model lacks: {', '.join(missing[:5])}")
    for name, entry in record.items():
        _set_module(model, name, _shrink(modules[name], entry))
    param = next(model.parameters(), None)
    return model if param is None else model.to(param.device)  # new ChannelGather index buffers too


def _fold(module: nn.Module, removed: torch.Tensor, const) -> torch.Tensor | None:
    """Bias change (all rows) that replaces the removed input channels' constant contribution."""
    known, value = const
    use = removed & known & (value != 0)
    if not use.any():
        return None
    taps = module.weight.detach().float().cpu().reshape(module.weight.shape[0], len(known), -1)
    return taps.sum(2)[:, use] @ value[use]


def make_record(model: nn.Module, structure: Structure, purification: Purification
                ) -> tuple[dict[str, dict], dict[str, torch.Tensor]]:
    """The compaction record and, per layer, the bias change of folded constants (over the kept rows)."""
    modules = dict(model.named_modules())
    size = {sid: s.size for sid, s in structure.spaces.items()}
    kept = {sid: purification.kept(sid, n) for sid, n in size.items()}
    record: dict[str, dict] = {}
    folds: dict[str, torch.Tensor] = {}
    for node in structure.nodes.values():
        if node.kind in ("conv", "linear"):
            in_sid, out_sid = structure.space_of_input(node.target), node.space
            removed = purification.removed.get(in_sid)
            delta = None if removed is None else _fold(modules[node.target], removed,
                                                       purification.constants[node.inputs[0]])
            e = structure.nodes[node.inputs[0]].expand
            cols = [c * e + j for c in kept[in_sid] for j in range(e)]
            if len(cols) == _in_units(modules[node.target]) and len(kept[out_sid]) == size[out_sid] and delta is None:
                continue
            rows = kept[out_sid]
            record[node.target] = {"kind": node.kind, "in": cols, "out": rows,
                                   "bias": node.bias or delta is not None}
            if delta is not None:
                folds[node.target] = delta[torch.tensor(rows, dtype=torch.long)]
        elif node.kind in ("bn", "dwconv") and len(kept[node.space]) < size[node.space]:
            record[node.target] = {"kind": node.kind, "keep": kept[node.space]}
        elif node.kind == "map":
            edge = next(e for e in structure.maps if e.module == node.target)
            if len(kept[edge.src]) == size[edge.src] and len(kept[edge.dst]) == size[edge.dst]:
                continue
            position = {c: i for i, c in enumerate(kept[edge.src])}
            index = [position.get(edge.src_of_dst[t], -1) for t in kept[edge.dst]]
            record[node.target] = {"kind": "map", "index": index, "stride": edge.stride}
    return record, folds


def _in_units(module: nn.Module) -> int:
    return module.in_channels if isinstance(module, nn.Conv2d) else module.in_features


@torch.no_grad()
def compact(model: nn.Module, structure: Structure, purification: Purification) -> tuple[nn.Module, dict]:
    """A smaller copy of ``model`` without the removed channels (eval-mode exact), and its record."""
    record, folds = make_record(model, structure, purification)
    small = replay(copy.deepcopy(model), record)
    modules = dict(small.named_modules())
    for name, delta in folds.items():
        bias = modules[name].bias
        bias.add_(delta.to(bias.device, bias.dtype))
    return small.eval(), record


def compacted_count(model: nn.Module, structure: Structure, input_shape: tuple[int, ...]) -> ModelCount:
    """The counts of ``model`` compacted after purification (remnant removal aside); ``model`` is not changed.
    Purification drops channels nothing reads any more, so this can be below the masks' own count."""
    purified, purification = purify(model, structure)
    return count_model(compact(purified, structure, purification)[0], input_shape)


@torch.no_grad()
def _max_difference(a: nn.Module, b: nn.Module, inputs: torch.Tensor) -> float:
    """Max abs output difference, computed on CPU copies in float32: GPU convolutions may use TF32
    (about 1e-2 error on logits), which would hide or fake a compaction error."""
    x = inputs.detach().float().cpu()
    return float((copy.deepcopy(a).float().cpu().eval()(x) - copy.deepcopy(b).float().cpu().eval()(x)).abs().max())


class Compacted(NamedTuple):
    """What ``purify_and_compact`` returns."""

    model: nn.Module  # compacted, eval mode
    record: dict  # compaction record against the input model
    purification: Purification  # what purification removed
    difference: float  # max |purified(x) - compacted(x)| on the check inputs
    zero: Masks = Masks()  # holds the channels kept only for aligned widths at zero (see ``align``)
    aligned: int = 0  # how many such channels (the purification after training removes them)


def align(purification: Purification, structure: Structure, spare: dict[int, torch.Tensor],
          multiple: int) -> tuple[Purification, dict[int, torch.Tensor]]:
    """``purification`` with channels of ``spare`` (per space, removed channels that are exactly zero: hard-pruned
    filters) kept again, lowest first, until each space keeps a multiple of ``multiple`` channels or runs out of
    them. Training kernels run faster on aligned widths (oneDNN blocks channels by 16): a ResNet-20 training step
    pruned 4x ran 1.67x faster with bf16 and 1.15x with fp32 at widths 16/32/48 than at 10/20/21/41
    (``benchmarks/results/training/aligned_widths.md``). Also returns, per space, which of its kept channels are
    such spare ones (a bool per kept channel)."""
    removed, spared = dict(purification.removed), {}
    for sid, dead in purification.removed.items():
        candidates = (dead & spare[sid]).nonzero().flatten().tolist() if sid in spare else []
        kept = len(dead) - int(dead.sum())
        extra = candidates[:min(len(dead), -(-kept // multiple) * multiple) - kept]
        if extra:
            removed[sid] = dead.clone()
            removed[sid][extra] = False
            chosen = set(extra)
            spared[sid] = torch.tensor([i in chosen for i in range(len(dead)) if not removed[sid][i]])
    return replace(purification, removed=removed), spared


def zero_masks(small: nn.Module, structure: Structure, spared: dict[int, torch.Tensor]) -> Masks:
    """Masks of the compacted model ``small`` that hold ``align``'s spare channels at zero: their BatchNorm scale
    and shift and the biases writing them (their zero filters and reading columns are what ``Masks.of_zeros``
    holds)."""
    masks: dict[str, dict[str, torch.Tensor]] = {}
    for sid, extra in spared.items():
        space = structure.spaces[sid]
        for bn in space.bns:
            masks[bn] = {"weight": ~extra, "bias": ~extra}
        for layer in space.producers + space.depthwise:
            if getattr(small.get_submodule(layer), "bias", None) is not None:  # compaction may have added one
                masks.setdefault(layer, {})["bias"] = ~extra
    return Masks(masks)


def compose_records(first: dict[str, dict], second: dict[str, dict]) -> dict[str, dict]:
    """One compaction record for two successive compactions (``second`` made on ``first``'s result).

    Kept indices of the second are positions in the first's kept lists; a shortcut map's entry is already
    in final numbering, so the newer one wins.
    """
    out = {name: dict(entry) for name, entry in first.items()}
    for name, entry in second.items():
        old = out.get(name)
        if old is None or entry["kind"] == "map":
            out[name] = dict(entry)
        elif "keep" in entry:  # bn, dwconv
            out[name] = {"kind": entry["kind"], "keep": [old["keep"][i] for i in entry["keep"]]}
        else:
            out[name] = {"kind": entry["kind"], "in": [old["in"][i] for i in entry["in"]],
                         "out": [old["out"][i] for i in entry["out"]], "bias": bool(old["bias"] or entry["bias"])}
    return out


def purify_and_compact(model: nn.Module, structure: Structure, inputs: torch.Tensor,
                       check: Callable[[nn.Module], float] | None = None, config: PurifyConfig | None = None,
                       max_difference: float = 1e-3, spare: dict[int, torch.Tensor] | None = None,
                       multiple: int = 1) -> Compacted:
    """Purify an eval-mode copy of ``model`` (not changed), compact it, and check that the compacted model
    computes what the purified one does on ``inputs`` (a batch) to within ``max_difference``.

    ``check`` and ``config`` go to ``purify`` (remnant removal while ``check`` stays within tolerance);
    ``spare`` and ``multiple`` go to ``align`` (widths rounded up with zero channels, for training).
    """
    purified, purification = purify(copy.deepcopy(model).eval(), structure, check, config)
    purification, spared = align(purification, structure, spare or {}, multiple)
    small, record = compact(purified, structure, purification)
    difference = _max_difference(purified, small, inputs)
    if difference > max_difference:
        raise RuntimeError(f"compaction changed the outputs by {difference:.2e} (> {max_difference:g}); "
                           "please report this model")
    return Compacted(small, record, purification, difference, zero_masks(small, structure, spared),
                     sum(int(extra.sum()) for extra in spared.values()))
