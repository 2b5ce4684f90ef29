"""ONNX -> Relax -> the default pipeline (legalize, fuse, plan memory) -> all kernels in one object file."""
from __future__ import annotations

from pathlib import Path

import onnx
import tvm
from tvm import relax

from .targets import TargetSpec


def to_relax(model: onnx.ModelProto) -> tvm.IRModule:
    """Import a checked ONNX model with its weights as constants."""
    from tvm.relax.frontend.onnx import from_onnx

    return from_onnx(model, keep_params_in_input=False)


def lower(mod: tvm.IRModule, target: TargetSpec) -> tvm.IRModule:
    """Run ``relax.get_default_pipeline``; ``system_lib_prefix=""`` makes kernels call the TVMBackend
    functions directly, so a link that lacks one fails at link time instead of crashing at run time."""
    mod = mod.with_attr("system_lib_prefix", "")
    with target.tvm_target():
        return relax.get_default_pipeline(target.tvm_target())(mod)


def build_kernels(lowered: tvm.IRModule, target: TargetSpec, path: Path) -> list[str]:
    """Compile every PrimFunc of ``lowered`` into one object file at ``path``; returns the kernel names."""
    prims = {gv: func for gv, func in lowered.functions.items() if isinstance(func, tvm.tirx.PrimFunc)}
    kernels = tvm.IRModule(prims).with_attr("system_lib_prefix", "")
    executable = tvm.compile(kernels, target=target.tvm_target())
    executable.mod.write_to_file(str(path), "o")
    return sorted(gv.name_hint for gv in prims)
