"""Structured pruning: projections, masks, channel structure, ADMM hooks, purification, compaction.

>>> from compress import pruning
>>> s = pruning.trace_structure(model, (3, 32, 32))
>>> masks = pruning.project_masks(s, pruning.layer_weights(model), "filter+column",
...                               pruning.uniform_rates(s, pruning.LayerRate(filter=0.5, column=0.3)))
>>> model, purification = pruning.purify(masks.apply(model).eval(), s)
>>> small, record = pruning.compact(model, s, purification)
"""
from .compaction import compact, purify_and_compact, replay
from .masks import Masks
from .modules import ChannelGather
from .plan import LayerRate, layer_weights, project_masks, uniform_rates
from .projection import SCHEMES, project
from .purification import Purification, PurifyConfig, purify
from .sequence import PruneBudget
from .structure import Structure, trace_structure

__all__ = ["ChannelGather", "LayerRate", "Masks", "PruneBudget", "Purification", "PurifyConfig", "SCHEMES", "Structure",
           "compact", "layer_weights", "project", "project_masks", "purify", "purify_and_compact", "replay",
           "trace_structure", "uniform_rates"]
