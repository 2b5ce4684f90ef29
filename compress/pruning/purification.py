"""Purification: find the channels that can go without changing the (eval-mode) function, and remnants.

1. **Constants** (forward): a channel is a known constant when it cannot depend on the input: a conv/linear
   row whose every nonzero tap reads constant channels, a BatchNorm channel with gamma = 0, a depthwise
   channel with no nonzero tap, and what activations, pooling, adds, products and shortcuts make of
   constants (a product with a zero constant is zero: a removed filter silences its gated channel). A 3x3
   conv with zero padding turns a *nonzero* constant into a border-dependent map, so a nonzero constant
   passes a conv only if the conv has no zero padding (1x1 / valid / non-zero padding mode); a zero
   constant passes any conv exactly.
2. **Unused paths** (backward, to a fixpoint): channel ``c`` of a space can be removed when every read of
   it is dead or exact to fold: a layer reading it has no nonzero tap on ``c`` among its kept rows, or reads
   a known constant that is zero or that it can fold into its bias (no zero padding, see 1); a shortcut map
   carries it only into removed channels or carries a zero constant. Removing a channel removes its
   producers' rows, so their inputs may die next: a pruned filter kills the next input channel and a dead
   input channel kills its filter, through BN, ReLU, pooling and residual adds. A nonzero constant read by
   a zero-padded 3x3 conv keeps its channel (documented gap: exact folding there needs a bias map).
   The last channel of a space is always kept, so no layer becomes empty.
3. **Remnants** (optional, guarded): rows/columns whose norm is tiny next to the layer's typical one are
   zeroed, at growing thresholds, while ``check(model)`` (e.g. validation accuracy) stays within tolerance.

>>> purified, result = purify(model, structure)          # model: eval mode, weights with pruning zeros
>>> small, record = compact(purified, structure, result)  # compaction.py
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .masks import Masks
from .structure import ACTIVATIONS, Structure

Const = tuple[torch.Tensor, torch.Tensor]  # (known: bool[C], value: float[C]); value is 0 where unknown


def folds_constants(module: nn.Module) -> bool:
    """Whether a constant input channel gives a constant output (no zero padding to break it at borders)."""
    if isinstance(module, nn.Linear):
        return True
    padding = module.padding
    if isinstance(padding, str):
        return padding == "valid" or all(k == 1 for k in module.kernel_size)
    return all(p == 0 for p in padding) or module.padding_mode != "zeros"


def _t(x: torch.Tensor) -> torch.Tensor:
    return x.detach().float().cpu()


def _layer_const(module: nn.Module, inp: Const) -> Const:
    known, value = inp
    taps = _t(module.weight).reshape(module.weight.shape[0], len(known), -1)  # (rows, channels, taps)
    live = (taps != 0).any(2)
    usable = known & ((value == 0) | folds_constants(module))
    out_known = (~live | usable).all(1)
    out_value = taps.sum(2) @ torch.where(usable, value, torch.zeros_like(value))
    if module.bias is not None:
        out_value = out_value + _t(module.bias)
    return out_known, torch.where(out_known, out_value, torch.zeros_like(out_value))


def _depthwise_const(module: nn.Conv2d, inp: Const) -> Const:
    """Channel ``c`` reads only input channel ``c``: constant if that is (and passes the padding) or if every
    tap of ``c`` is zero."""
    known, value = inp
    taps = _t(module.weight).reshape(len(known), -1)
    usable = known & ((value == 0) | folds_constants(module))
    out_known = usable | (taps == 0).all(1)
    out_value = taps.sum(1) * torch.where(usable, value, torch.zeros_like(value))
    if module.bias is not None:
        out_value = out_value + _t(module.bias)
    return out_known, torch.where(out_known, out_value, torch.zeros_like(out_value))


def _bn_const(module: nn.Module, inp: Const) -> Const:
    known, value = inp
    if module.running_mean is None:  # batch statistics even in eval mode: nothing is constant
        return torch.zeros_like(known), torch.zeros_like(value)
    gamma = _t(module.weight) if module.weight is not None else torch.ones_like(value)
    beta = _t(module.bias) if module.bias is not None else torch.zeros_like(value)
    out = (value - _t(module.running_mean)) * gamma / torch.sqrt(_t(module.running_var) + module.eps) + beta
    out_known = known | (gamma == 0)  # gamma = 0: the channel is beta whatever comes in
    out = torch.where(gamma == 0, beta, out)
    return out_known, torch.where(out_known, out, torch.zeros_like(out))


def _map_const(index: list[int], inp: Const) -> Const:
    index_t = torch.tensor(index, dtype=torch.long)
    src = index_t.clamp_min(0)
    known = torch.where(index_t < 0, torch.ones_like(src, dtype=torch.bool), inp[0][src])
    return known, torch.where(index_t < 0, torch.zeros(len(index)), inp[1][src])


def _pairwise_const(kind: str, a: Const, b: Const) -> Const:
    """Sum or product of two channel-matched inputs; a product with a known zero is zero whatever the other."""
    known = a[0] & b[0]
    value = a[1] + b[1] if kind == "add" else a[1] * b[1]
    if kind == "mul":
        known = known | (a[0] & (a[1] == 0)) | (b[0] & (b[1] == 0))
    return known, torch.where(known, value, torch.zeros_like(value))


def _keeps_constants(module: nn.Module) -> bool:
    padding = module.padding if isinstance(module.padding, (tuple, list)) else (module.padding,)
    return all(p == 0 for p in padding) or not module.count_include_pad


@torch.no_grad()
def analyse_constants(model: nn.Module, structure: Structure) -> dict[str, Const]:
    """Known-constant channels of every node's output, for the model in eval mode."""
    modules = dict(model.named_modules())
    maps = {edge.module: edge for edge in structure.maps}
    consts: dict[str, Const] = {}
    for node in structure.nodes.values():
        if node.space is None:
            continue
        size = structure.spaces[node.space].size
        first = consts.get(node.inputs[0]) if node.inputs else None
        module = modules.get(node.target)
        out: Const = (torch.zeros(size, dtype=torch.bool), torch.zeros(size))
        if first is None or node.kind in ("input", "opaque"):
            pass
        elif node.kind in ("conv", "linear"):
            out = _layer_const(module, first)
        elif node.kind == "dwconv":
            out = _depthwise_const(module, first)
        elif node.kind == "bn":
            out = _bn_const(module, first)
        elif node.kind in ACTIVATIONS:
            out = (first[0], torch.where(first[0], ACTIVATIONS[node.kind](first[1]), torch.zeros_like(first[1])))
        elif node.kind in ("pool", "same", "flatten") or (node.kind == "avgpool" and _keeps_constants(module)):
            out = first
        elif node.kind in ("add", "mul"):
            out = _pairwise_const(node.kind, consts[node.inputs[0]], consts[node.inputs[1]])
        elif node.kind == "map":
            out = _map_const(maps[node.target].src_of_dst, first)
        consts[node.name] = out
    return consts


@dataclass
class Purification:
    """What purification found: removed channels per space and the constants to fold."""

    removed: dict[int, torch.Tensor]  # space id -> bool[C], True = removed
    constants: dict[str, Const]  # node name -> (known, value), for folding into consumers' biases
    remnants: dict = field(default_factory=dict)  # what remnant removal zeroed and the checks it ran

    def kept(self, space: int, size: int) -> list[int]:
        """Indices of the channels of ``space`` that stay."""
        dead = self.removed.get(space)
        return list(range(size)) if dead is None else [i for i in range(size) if not dead[i]]

    def summary(self) -> dict:
        return {"removed_channels": {str(s): int(d.sum()) for s, d in self.removed.items() if d.any()},  # JSON keys
                "remnants": self.remnants}


def _read_ok(module: nn.Module, rows_kept: torch.Tensor, const: Const) -> torch.Tensor:
    """Per input channel: may this layer stop reading it? (no live tap in kept rows, or an exact fold)."""
    known, value = const
    taps = _t(module.weight).reshape(module.weight.shape[0], len(known), -1)[rows_kept]
    live = (taps != 0).any(2).any(0)
    return ~live | (known & ((value == 0) | folds_constants(module)))


def _map_ok(edge, dst_removed: torch.Tensor, const: Const) -> torch.Tensor:
    """Per source channel: does the map carry it only into removed channels, or carry a zero constant?"""
    known, value = const
    ok = torch.ones(len(known), dtype=torch.bool)
    zero = known & (value == 0)
    for t, s in enumerate(edge.src_of_dst):
        if s >= 0 and not dst_removed[t]:
            ok[s] &= bool(zero[s])
    return ok


@torch.no_grad()
def find_removable(model: nn.Module, structure: Structure, consts: dict[str, Const]) -> dict[int, torch.Tensor]:
    """The fixpoint of step 2: per space, which channels go. Pinned spaces keep all channels."""
    modules = dict(model.named_modules())
    removed = {sid: torch.zeros(s.size, dtype=torch.bool) for sid, s in structure.spaces.items()}
    order = [sid for sid in reversed(list(structure.spaces)) if not structure.spaces[sid].pinned]
    changed = True
    while changed:
        changed = False
        for sid in order:
            space = structure.spaces[sid]
            ok = torch.ones(space.size, dtype=torch.bool)
            for read in space.reads:
                rows_kept = ~removed[structure.space_of_output(read.layer)]
                ok &= _read_ok(modules[read.layer], rows_kept, consts[read.node])
            for i in space.maps_out:
                edge = structure.maps[i]
                ok &= _map_ok(edge, removed[edge.dst], consts[edge.src_node])
            new = ok & ~removed[sid]
            if new.any():
                if bool((removed[sid] | new).all()):  # keep one channel: no layer may become empty
                    keep_one = int(torch.nonzero(~removed[sid])[0]) if not removed[sid].all() else 0
                    new[keep_one] = False
                if new.any():
                    removed[sid] |= new
                    changed = True
    return {sid: dead for sid, dead in removed.items() if dead.any()}


@dataclass
class PurifyConfig:
    """Remnant removal settings (step 3); it runs only when a ``check`` callable is given."""

    thresholds: tuple[float, ...] = (1e-3, 1e-2, 3e-2, 1e-1)  # row/column norm / median nonzero norm, tried in order
    tolerance: float = 0.002  # largest accepted drop of check(model) (e.g. 0.002 = 0.2 points of accuracy)


def remnant_masks(model: nn.Module, threshold: float) -> Masks:
    """Masks zeroing conv/linear rows and columns whose norm is below ``threshold`` x the median nonzero one."""
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for name, m in model.named_modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        matrix = m.weight.detach().reshape(m.weight.shape[0], -1)
        keep = torch.ones_like(matrix, dtype=torch.bool)
        for dim in (1, 0):  # dim 1: row norms, dim 0: column norms
            norms = matrix.norm(dim=dim)
            nonzero = norms[norms > 0]
            if len(nonzero) > 1:
                small = (norms > 0) & (norms < threshold * nonzero.median())
                keep &= ~small.unsqueeze(dim)
        if not keep.all():
            layers[name] = {"weight": keep.reshape(m.weight.shape).cpu()}
    return Masks(layers)


def remove_remnants(model: nn.Module, check: Callable[[nn.Module], float],
                    config: PurifyConfig | None = None) -> tuple[nn.Module, dict]:
    """Zero ever larger remnants (in copies of ``model``) while ``check`` stays within ``config.tolerance`` of its
    start value."""
    config = config or PurifyConfig()
    base = check(model)
    log = {"base": base, "tried": []}
    best = model
    for threshold in config.thresholds:
        masks = remnant_masks(best, threshold)
        if not masks.layers:
            continue
        candidate = masks.apply(copy.deepcopy(best))
        score = check(candidate)
        accepted = score >= base - config.tolerance
        log["tried"].append({"threshold": threshold, "score": score, "accepted": accepted,
                             "zeroed_weights": sum(c["total"] - c["kept"] for c in masks.count().values())})
        if not accepted:
            break
        best = candidate
    return best, log


def purify(model: nn.Module, structure: Structure, check: Callable[[nn.Module], float] | None = None,
           config: PurifyConfig | None = None) -> tuple[nn.Module, Purification]:
    """Remove remnants (when ``check`` is given), then find the channels that can go in ``model`` (eval mode: the
    function kept is the eval-mode one); ``model`` is not changed.

    Returns the model to compact (``model`` itself, or a remnant-zeroed copy) and the purification record.
    """
    remnants: dict = {}
    if check is not None:
        model, remnants = remove_remnants(model, check, config)
    consts = analyse_constants(model, structure)
    return model, Purification(find_removable(model, structure, consts), consts, remnants)
