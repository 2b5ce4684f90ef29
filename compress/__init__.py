"""The compression algorithm in pure PyTorch: models, data, training, counting, pruning, search.

It never imports ``codegen`` or ``runtime``: a latency objective comes in as a callable.

>>> from compress import prune, PruneConfig, load_data, build_model
>>> splits = load_data("digits")
>>> result = prune(build_model("small_cnn"), splits, PruneConfig(target=4.0), arch="small_cnn")
>>> result.model, result.stats.compression_rate, result.accuracy["compacted"]
"""
from .data import load_data
from .models import build_model
from .pruning.api import PruneConfig, PruneResult, prune
from .pruning.sequence import PruneBudget
from .restore import restore_model, restore_teacher

__all__ = ["PruneBudget", "PruneConfig", "PruneResult", "build_model", "load_data", "prune", "restore_model",
           "restore_teacher"]
