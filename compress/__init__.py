"""The compression algorithm in pure PyTorch: models, data, training, counting, pruning, search.

It never imports ``codegen`` or ``runtime``: a latency objective comes in as a callable.
"""
