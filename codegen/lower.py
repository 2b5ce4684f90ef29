"""ONNX -> Relax -> the default pipeline (legalize, fuse, plan memory) -> all kernels in one object file, each
distinct kernel compiled once."""
from __future__ import annotations

from pathlib import Path

import onnx
import tvm
from tvm import relax
from tvm_ffi import structural_equal, structural_hash

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


def build_kernels(lowered: tvm.IRModule, target: TargetSpec, path: Path) -> dict[str, str]:
    """Compile the PrimFuncs of ``lowered`` into one object file at ``path``; returns each kernel's name -> the
    symbol that runs it. A kernel identical to another but for its name (a dense ResNet's repeated layers: the
    weights are arguments) is compiled once, under the first name in sorted order."""
    prims = {gv: func for gv, func in lowered.functions.items() if isinstance(func, tvm.tirx.PrimFunc)}
    symbols, firsts = {}, {}  # firsts: hash -> the (name, body) of each distinct kernel with that hash
    for gv in sorted(prims, key=lambda gv: gv.name_hint):
        body = prims[gv].without_attr("global_symbol")
        same = firsts.setdefault(structural_hash(body), [])
        twin = next((name for name, other in same if structural_equal(body, other)), None)
        if twin is None:
            same.append((gv.name_hint, body))
        symbols[gv.name_hint] = twin or gv.name_hint
    kernels = tvm.IRModule({gv: f for gv, f in prims.items() if symbols[gv.name_hint] == gv.name_hint})
    executable = tvm.compile(kernels.with_attr("system_lib_prefix", ""), target=target.tvm_target())
    executable.mod.write_to_file(str(path), "o")
    return symbols
