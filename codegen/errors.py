"""Errors raised by the code generator; each is a ``ValueError`` or ``RuntimeError`` so the CLI prints one line."""
from __future__ import annotations


class CodegenError(ValueError):
    """The model cannot be compiled as given (bad file, unsupported content)."""


class InvalidModelError(CodegenError):
    """The ONNX file is missing, corrupt or fails ``onnx.checker``."""


class UnsupportedOperatorError(CodegenError):
    """The model uses operators the compiler cannot lower; ``ops`` lists (node name, op type) for all of them."""

    def __init__(self, ops: list[tuple[str, str]], stage: str = "ONNX") -> None:
        self.ops = ops
        listed = ", ".join(f"{name} ({op})" for name, op in ops)
        super().__init__(f"{len(ops)} unsupported {stage} operator(s): {listed}")


class DynamicShapeError(CodegenError):
    """An input has a symbolic or unknown dimension; static executables need every shape fixed."""


class ToolchainError(RuntimeError):
    """The C compiler for the target is missing or failed."""
