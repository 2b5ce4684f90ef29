"""The static memory plan: the flat ``main`` of a lowered Relax module, read binding by binding.

After ``relax.get_default_pipeline``, ``main`` is straight-line code: storages, tensors placed in them,
kernel calls, reshape aliases, checks and frees. Each binding kind has one handler in ``HANDLERS``; a
binding nothing handles is collected, and all of them are reported together.

>>> plan = build_plan(lowered_mod)
>>> plan.calls[0].kernel, plan.arenas[:2]
('fused_conv2d_relu', [4096, 8192])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import tvm
from tvm import relax

from .errors import CodegenError, UnsupportedOperatorError

ALIGN = 64  # kernels assume 64-byte-aligned data
INPUT_HOME = "input"
WEIGHTS_HOME = "weights"

# DLPack (code, bits) of the dtypes the driver can describe.
DLPACK_DTYPES = {"float32": (2, 32), "float16": (2, 16), "float64": (2, 64), "int8": (0, 8), "int32": (0, 32),
                 "int64": (0, 64), "uint8": (1, 8), "bool": (6, 8)}


@dataclass(frozen=True)
class TensorSpec:
    """One DLTensor: a shape and dtype placed at ``offset`` bytes in ``home`` (an arena index, input or weights)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    home: int | str
    offset: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * DLPACK_DTYPES[self.dtype][1] // 8


@dataclass(frozen=True)
class KernelCall:
    """One call of a lowered PrimFunc: inputs then outputs, by tensor name."""

    kernel: str
    args: tuple[str, ...]


@dataclass
class Plan:
    """Everything the C driver needs: arena sizes, tensors, constants (bytes), calls, input and output."""

    arenas: list[int] = field(default_factory=list)
    tensors: dict[str, TensorSpec] = field(default_factory=dict)
    constants: list[np.ndarray] = field(default_factory=list)
    constant_offsets: list[int] = field(default_factory=list)  # byte offset of each constant in the blob
    weights_bytes: int = 0
    calls: list[KernelCall] = field(default_factory=list)
    input: TensorSpec | None = None
    output: TensorSpec | None = None
    _by_var: dict = field(default_factory=dict, repr=False)
    _const_ids: dict = field(default_factory=dict, repr=False)
    _unsupported: list = field(default_factory=list, repr=False)

    def add_tensor(self, var, shape, dtype: str, home, offset: int) -> TensorSpec:
        if dtype not in DLPACK_DTYPES:
            raise CodegenError(f"tensor {var} has dtype {dtype!r}; supported: {', '.join(DLPACK_DTYPES)}")
        hint = "".join(c if c.isalnum() else "_" for c in str(var))[:40]
        spec = TensorSpec(f"t{len(self.tensors)}_{hint}", tuple(int(d) for d in shape), dtype, home, offset)
        self.tensors[spec.name] = spec
        if var is not None:
            self._by_var[var] = spec
        return spec

    def add_constant(self, const) -> TensorSpec:
        key = const  # relax expressions hash and compare by identity of the underlying object
        if key not in self._const_ids:
            array = np.asarray(const.value.numpy(), order="C")  # ascontiguousarray would make a 0-d array 1-d
            offset = _align(self.weights_bytes)
            self.constants.append(array)
            self.constant_offsets.append(offset)
            self.weights_bytes = offset + array.nbytes
            self._const_ids[key] = self.add_tensor(f"w{len(self.constants) - 1}", array.shape, str(array.dtype),
                                                   WEIGHTS_HOME, offset)
        return self._const_ids[key]

    def tensor_of(self, var) -> TensorSpec:
        if var not in self._by_var:
            raise CodegenError(f"{var} is used as a tensor but was never placed in memory")
        return self._by_var[var]


def build_plan(mod: tvm.IRModule, entry: str = "main") -> Plan:
    """Translate the flat ``entry`` function of a lowered module into a :class:`Plan`.

    Parameters
    ----------
    mod : tvm.IRModule
        Output of ``relax.get_default_pipeline(target)``, with static shapes.
    entry : str
        The Relax function to translate.

    Returns
    -------
    plan : Plan
        Arenas, tensors, constants and kernel calls. Raises ``UnsupportedOperatorError`` listing every binding
        that has no C translation.
    """
    func = mod[entry]
    plan = Plan()
    if len(func.params) != 1:
        raise CodegenError(f"the model has {len(func.params)} inputs; only single-input models are supported")
    param = func.params[0]
    shape, dtype = _tensor_type(param)
    plan.input = plan.add_tensor(param, shape, dtype, INPUT_HOME, 0)
    for block in func.body.blocks:
        for binding in block.bindings:
            _translate(plan, binding)
    if plan._unsupported:
        raise UnsupportedOperatorError(plan._unsupported, stage="lowered Relax")
    result = func.body.body
    if not isinstance(result, relax.Var):
        raise CodegenError(f"the model returns {type(result).__name__}; only a single output tensor is supported")
    plan.output = plan.tensor_of(result)
    _check_signatures(plan, mod)
    return plan


def _translate(plan: Plan, binding) -> None:
    if not isinstance(binding, relax.VarBinding) or not isinstance(binding.value, relax.Call):
        plan._unsupported.append((str(binding.var), type(binding.value).__name__))
        return
    call = binding.value
    if isinstance(call.op, tvm.ir.GlobalVar):
        _kernel_call(plan, binding.var, call)
        return
    name = call.op.name if isinstance(call.op, tvm.ir.Op) else getattr(call.op, "global_symbol", str(call.op))
    handler = HANDLERS.get(name)
    if handler is None:
        plan._unsupported.append((str(binding.var), name))
    else:
        handler(plan, binding.var, call)


def _ignore(plan: Plan, var, call) -> None:
    """Checks and frees: shapes are static and memory is planned, so nothing happens at run time."""


def _alloc_storage(plan: Plan, var, call) -> None:
    nbytes = int(call.args[0].values[0])
    plan._by_var[var] = len(plan.arenas)
    plan.arenas.append(_align(nbytes))


def _alloc_tensor(plan: Plan, var, call) -> None:
    storage, offset, shape, dtype = call.args[:4]
    arena = plan._by_var.get(storage)
    if not isinstance(arena, int):
        raise CodegenError(f"{var} is placed in {storage}, which is not a planned storage")
    spec = plan.add_tensor(var, [int(d) for d in shape.values], str(dtype.value), arena, int(offset.value))
    if spec.offset % ALIGN or spec.offset + spec.nbytes > plan.arenas[arena]:
        raise CodegenError(f"{var} at offset {spec.offset} does not fit aligned in storage {storage}")


def _reshape(plan: Plan, var, call) -> None:
    source = plan.tensor_of(call.args[0])
    shape = [int(d) for d in call.args[1].values]
    alias = plan.add_tensor(var, shape, source.dtype, source.home, source.offset)
    if alias.nbytes != source.nbytes:
        raise CodegenError(f"reshape {var} changes the size ({source.nbytes} -> {alias.nbytes} bytes)")


def _kernel_call(plan: Plan, var, call) -> None:
    names = []
    for arg in call.args:
        if isinstance(arg, relax.Var):
            names.append(plan.tensor_of(arg).name)
        elif type(arg).__name__ == "GenericConst" and hasattr(arg.value, "numpy"):
            names.append(plan.add_constant(arg).name)
        else:
            raise CodegenError(f"kernel {call.op.name_hint} takes a {type(arg).__name__} argument; "
                               "only tensors are supported")
    plan.calls.append(KernelCall(call.op.name_hint, tuple(names)))


def _check_signatures(plan: Plan, mod: tvm.IRModule) -> None:
    """Every call passes tensors of the shape and dtype its kernel declares; the kernel would refuse any
    other only at run time."""
    for call in plan.calls:
        declared = mod[call.kernel].ty.params
        if len(declared) != len(call.args):
            raise CodegenError(f"kernel {call.kernel} takes {len(declared)} arguments; the plan passes "
                               f"{len(call.args)}")
        for i, (ty, name) in enumerate(zip(declared, call.args)):
            spec = plan.tensors[name]
            expected = (tuple(int(d) for d in ty.shape.values), str(ty.dtype))
            if (spec.shape, spec.dtype) != expected:
                raise CodegenError(f"kernel {call.kernel} argument {i} ({name}) is {spec.dtype}{list(spec.shape)}; "
                                   f"the kernel expects {expected[1]}{list(expected[0])}")


HANDLERS: dict[str, Callable] = {
    "relax.null_value": _ignore,
    "relax.vm.kill_object": _ignore,
    "vm.builtin.check_tensor_info": _ignore,
    "vm.builtin.match_shape": _ignore,
    "relax.vm.alloc_storage": _alloc_storage,
    "relax.vm.alloc_tensor": _alloc_tensor,
    "vm.builtin.reshape": _reshape,
}


def _tensor_type(var) -> tuple[list[int], str]:
    ty = var.ty
    if not hasattr(ty, "shape") or ty.shape is None:
        raise CodegenError(f"input {var} is not a tensor with a known shape")
    try:
        shape = [int(d) for d in ty.shape.values]
    except TypeError:
        raise CodegenError(f"input {var} has a dynamic shape {ty.shape}") from None
    return shape, str(ty.dtype)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN
