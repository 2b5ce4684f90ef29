"""AutoCompress application layer: the ``autocompress`` CLI and pipeline wiring over compress/codegen/runtime."""
__version__ = "0.1.0"
