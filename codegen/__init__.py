"""Lowering through Apache TVM (Relax + TIR) into one self-contained static executable per model.

>>> from codegen import compile_model
>>> compiled = compile_model("model.onnx", target="linux-aarch64", out_dir="out")
>>> compiled.binary
"""
from .compile import CompiledModel, compile_model
from .errors import CodegenError, DynamicShapeError, InvalidModelError, UnsupportedOperatorError
from .targets import TARGET_NAMES

__all__ = ["CompiledModel", "compile_model", "CodegenError", "DynamicShapeError", "InvalidModelError",
           "UnsupportedOperatorError", "TARGET_NAMES"]
