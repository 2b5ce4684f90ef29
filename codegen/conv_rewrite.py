"""Replace each convolution and linear layer of a Relax ``main`` (with its bias add, residual add and activation:
ReLU, Clip/ReLU6, HardSwish) by one call of a kernel specialised to the layer's kept taps and filters; depthwise
convolutions get the direct depthwise kernel, all others the gather + GEMM one.

Runs on the imported module (constants folded first, so Clip bounds and biases are constants) before the
default pipeline; what it does not match (grouped convs other than depthwise, dilated convs, batch > 1,
weights that are not constants) keeps TVM's default lowering.

>>> mod, layers = rewrite_layers(to_relax(onnx_model), lanes=16, registers=32)
>>> layers[0]["kernel"], layers[0]["taps"], layers[0]["total_taps"]
('conv00_k27of27', 27, 27)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import tvm
from tvm import relax

from .kernels import FIXED_RULE, HARDSWISH, RELU, TileConfig, conv_kernel, depthwise_kernel, pack, pack_depthwise
from .structure import conv_spec


@dataclass
class Chain:
    """A matched layer: the binding of the conv/matmul, the bindings fused into it, and what they add."""

    start: relax.VarBinding
    x: relax.Var
    weight: np.ndarray  # [F, C, KH, KW]
    stride: tuple = (1, 1)
    padding: tuple = (0, 0, 0, 0)
    bias: np.ndarray | None = None
    bias_source: relax.Var | None = None  # a ``reshape(const)`` binding that only the bias add reads
    residual: relax.Var | None = None
    activation: tuple = ()  # epilogue steps, see kernels/epilogue.py
    groups: int = 1  # in_channels for a depthwise conv
    fused: list = field(default_factory=list)  # bindings after ``start``; the last one is replaced

    @property
    def end(self) -> relax.VarBinding:
        return self.fused[-1] if self.fused else self.start


Tiles = TileConfig | Mapping[str, TileConfig] | None  # one setting for every layer, or one per kernel name


def rewrite_layers(mod: tvm.IRModule, lanes: int, registers: int, entry: str = "main", tiles: Tiles = None):
    """Rewrite every matched layer of ``mod[entry]``; returns the new module and one dict per layer.

    ``tiles``: the tile setting of every conv/linear layer, or a mapping from kernel name to setting (layers it
    does not name, and ``None``, keep the fixed rule, ``FIXED_RULE``)."""
    mod = relax.transform.FoldConstant()(mod)
    func = mod[entry]
    bindings = [b for block in func.body.blocks for b in block.bindings]
    values = {b.var: b.value for b in bindings}
    uses = _use_counts(bindings, func.body.body)
    users, claimed = _users(values), set()
    chains = [c for c in (_match(b, values, uses, users, claimed) for b in bindings) if c is not None]
    if not chains:
        return mod, []
    builder = relax.BlockBuilder(mod)
    replaced, dropped, layers = {}, set(), []
    for index, chain in enumerate(chains):
        call, layer = _lower_chain(builder, index, chain, (lanes, registers), tiles)
        replaced[chain.end.var] = call
        dropped.update(b.var for b in [chain.start, *chain.fused[:-1]])
        dropped.update(_dead_weight_bindings(chain, values, uses))
        layers.append(layer)
    mod = builder.get()
    new_blocks = [_rewrite_block(block, replaced, dropped) for block in func.body.blocks]
    new_func = relax.Function(func.params, relax.SeqExpr(new_blocks, func.body.body), func.ret_ty,
                              func.is_pure, func.attrs)
    mod[entry] = new_func
    return relax.transform.Normalize()(mod), layers


def _match(binding, values, uses, users, claimed: set) -> Chain | None:
    """The chain starting at ``binding``; a binding fused into one chain (``claimed``) is never fused again,
    e.g. the add that joins two conv branches goes to the first of them."""
    value = binding.value
    if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
        return None
    if value.op.name == "relax.nn.conv2d":
        chain = _match_conv(binding, value)
    elif value.op.name == "relax.matmul":
        chain = _match_linear(binding, value, values)
    else:
        return None
    if chain is not None:
        _extend(chain, values, uses, users, claimed)
        claimed.update(b.var for b in chain.fused)
    return chain


def _match_conv(binding, call) -> Chain | None:
    attrs = call.attrs
    x, weight = call.args
    if (_const(weight) is None or _shape(x) is None or len(_shape(x)) != 4 or _shape(x)[0] != 1
            or int(attrs.groups) not in (1, _depthwise_groups(_shape(x), _const(weight)))
            or any(int(d) != 1 for d in attrs.dilation)
            or attrs.data_layout != "NCHW" or attrs.kernel_layout != "OIHW" or attrs.out_layout not in ("NCHW", "")
            or str(getattr(x.ty, "dtype", "")) != "float32"):
        return None
    return Chain(binding, x, _const(weight), tuple(int(s) for s in attrs.strides),
                 tuple(int(p) for p in attrs.padding), groups=int(attrs.groups))


def _depthwise_groups(x_shape: tuple, weight: np.ndarray) -> int:
    """The ``groups`` of a depthwise conv of this input and weight (one filter per channel), else 1."""
    return x_shape[1] if weight.shape[:2] == (x_shape[1], 1) else 1


def _match_linear(binding, call, values) -> Chain | None:
    x, rhs = call.args
    shape = _shape(x)
    if shape is None or len(shape) != 2 or shape[0] != 1 or str(getattr(x.ty, "dtype", "")) != "float32":
        return None
    weight = _const(rhs)
    if weight is not None:
        weight = weight.T  # x @ W with W [in, out]
    elif isinstance(values.get(rhs), relax.Call) and _op_name(values[rhs]) == "relax.permute_dims":
        weight = _const(values[rhs].args[0])  # ONNX Gemm(transB=1): x @ permute_dims(W [out, in])
    if weight is None or weight.ndim != 2:
        return None
    return Chain(binding, x, weight.reshape(*weight.shape, 1, 1))


def _extend(chain: Chain, values, uses, users, claimed: set) -> None:
    """Absorb the bias add, residual add and activation steps that consume the layer's output, in that order."""
    bias_shapes = _bias_shapes(chain)
    while chain.end.var in users:
        if uses.get(chain.end.var, 0) == 2:  # HardSwish reads its input twice
            hardswish = _hardswish(chain.end.var, uses, users)
            if hardswish is None or any(b.var in claimed for b in hardswish):
                return
            chain.activation += HARDSWISH
            chain.fused += hardswish
            continue
        nxt = users[chain.end.var][0]
        if uses.get(chain.end.var, 0) != 1 or nxt.var in claimed:
            return
        name, args, step = _op_name(nxt.value), nxt.value.args, _activation_step(nxt.value, chain.end.var)
        if step is not None:
            chain.activation += step
        elif chain.activation:
            return  # nothing but activation steps after an activation
        elif name == "relax.add" and chain.bias is None and chain.residual is None and \
                _bias_of(args, bias_shapes, values) is not None:
            chain.bias, chain.bias_source = _bias_of(args, bias_shapes, values)
        elif name == "relax.add" and chain.residual is None and _residual_of(args, chain.end.var) is not None:
            chain.residual = _residual_of(args, chain.end.var)
        else:
            return
        chain.fused.append(nxt)


def _activation_step(call, own) -> tuple | None:
    """The epilogue steps of ``call`` applied to ``own``: ReLU, Clip (``relax.clip``), or ONNX Clip's
    ``maximum``/``minimum`` with a scalar constant (a Relax op, or a ``call_tir`` of the importer's PrimFunc)."""
    name = _op_name(call)
    if name == "relax.nn.relu" and call.args[0].same_as(own):
        return RELU
    if name == "relax.clip" and call.args[0].same_as(own):
        return ("max", float(call.args[1].value)), ("min", float(call.args[2].value))
    if name == "relax.call_tir" and isinstance(call.args[1], relax.Tuple):
        name, args = "relax." + call.args[0].name_hint.rstrip("0123456789_"), list(call.args[1].fields)
    else:
        args = list(call.args) if isinstance(call, relax.Call) else []
    scalar = _const(args[1]) if len(args) == 2 and args[0].same_as(own) else None
    if name in ("relax.maximum", "relax.minimum") and scalar is not None and scalar.size == 1:
        return ((name[6:9], float(scalar.reshape(-1)[0])),)
    return None


def _hardswish(var, uses, users) -> list | None:
    """The bindings of ``var * clip(var + 3, 0, 6) / 6`` (how TVM imports ONNX HardSwish), in order."""
    def single_user(v, op, constant=None):
        if uses.get(v) != 1 or _op_name(users[v][0].value) != op:
            return None
        binding = users[v][0]
        if constant is not None and not any(_is_scalar(a, constant) for a in binding.value.args):
            return None
        return binding

    add = next((b for b in users.get(var, []) if _op_name(b.value) == "relax.add"
                and any(_is_scalar(a, 3.0) for a in b.value.args)), None)
    clip = add and single_user(add.var, "relax.clip")
    if clip is None or _activation_step(clip.value, add.var) != (("max", 0.0), ("min", 6.0)):
        return None
    scale = single_user(clip.var, "relax.divide", 6.0) or single_user(clip.var, "relax.multiply", 1 / 6)
    product = scale and single_user(scale.var, "relax.multiply")
    if product is None or not any(a.same_as(var) for a in product.value.args):
        return None
    return [add, clip, scale, product]


def _is_scalar(expr, value: float) -> bool:
    constant = _const(expr)
    return constant is not None and constant.size == 1 and abs(float(constant.reshape(-1)[0]) - value) < 1e-6


def _lower_chain(builder: relax.BlockBuilder, index: int, chain: Chain, vector: tuple[int, int], tiles: Tiles):
    x_shape = _shape(chain.x)
    in_shape = tuple(x_shape[1:]) if len(x_shape) == 4 else (x_shape[1], 1, 1)
    spec = conv_spec(chain.weight, in_shape, chain.stride, chain.padding, chain.residual is not None,
                     chain.activation, chain.groups)
    bias = chain.bias if chain.bias is not None else np.zeros(spec.filters, np.float32)
    out_shape = _shape(chain.end.var)
    kind = "conv" if len(x_shape) == 4 else "linear"
    name = f"{'dw' if spec.depthwise else kind}{index:02d}_k{len(spec.taps)}of{spec.total_taps}_" \
           f"f{len(spec.rows)}of{spec.filters}"
    setting = None if spec.depthwise else _setting(tiles, name)
    if spec.depthwise:
        prim, tile = depthwise_kernel(spec, name, x_shape, out_shape), None
        arrays = pack_depthwise(spec, chain.weight, bias)
    else:
        tile = setting.tile(spec.pixels, *vector)
        packed = pack(spec, tile, chain.weight, bias)
        prim, arrays = conv_kernel(spec, tile, name, packed.zero_bias, x_shape, out_shape), packed.arrays
    args = [chain.x, *(relax.const(a) for a in arrays)]
    args += [chain.residual] if chain.residual is not None else []
    gvar = builder.add_func(prim.with_attr("global_symbol", name), name)
    call = relax.call_tir(gvar, relax.Tuple(args), relax.TensorType(out_shape, "float32"))
    layer = {"kernel": name, "kind": kind, "groups": spec.groups, "input": list(in_shape), "filters": spec.filters,
             "kernel_size": list(spec.kernel), "stride": list(spec.stride), "pixels": spec.pixels,
             "taps": len(spec.taps), "total_taps": spec.total_taps, "rows": len(spec.rows),
             "runs": len(spec.runs), "straight_line": spec.straight_line, "dense_macs": spec.dense_macs,
             "useful_macs": spec.useful_macs, "residual": spec.residual,
             "activation": [list(step) for step in spec.activation],
             "tile": [tile.mode, tile.block, tile.width] if tile else ["depthwise", 1, spec.out_width],
             "tile_setting": asdict(setting) if setting else None}
    return call, layer


def _setting(tiles: Tiles, kernel: str) -> TileConfig:
    if isinstance(tiles, Mapping):
        return tiles.get(kernel, FIXED_RULE)
    return tiles or FIXED_RULE


def _rewrite_block(block, replaced, dropped):
    out = []
    for binding in block.bindings:
        if binding.var in replaced:
            out.append(relax.VarBinding(binding.var, replaced[binding.var]))
        elif binding.var not in dropped:
            out.append(binding)
    cls = relax.DataflowBlock if isinstance(block, relax.DataflowBlock) else relax.BindingBlock
    return cls(out)


def _dead_weight_bindings(chain: Chain, values, uses) -> list:
    """Bindings that only fed constants into the chain (``permute_dims`` of a weight, ``reshape`` of a bias)."""
    candidates = [chain.start.value.args[1], chain.bias_source]
    return [v for v in candidates if isinstance(v, relax.Var) and uses.get(v) == 1 and v in values]


def _use_counts(bindings, result) -> dict:
    counts: dict = {}

    def count(expr):
        if isinstance(expr, relax.Var):
            counts[expr] = counts.get(expr, 0) + 1
        elif isinstance(expr, relax.Tuple):
            for field_ in expr.fields:
                count(field_)

    for b in bindings:
        value = b.value
        for arg in (value.args if isinstance(value, relax.Call) else [value]):
            count(arg)
    count(result)
    return counts


def _users(values) -> dict:
    """Per var, the bindings whose call reads it (through a ``call_tir`` argument tuple too)."""
    users: dict = {}
    for var, value in values.items():
        if isinstance(value, relax.Call):
            args = [a for arg in value.args for a in (arg.fields if isinstance(arg, relax.Tuple) else [arg])]
            for arg in args:
                if isinstance(arg, relax.Var):
                    users.setdefault(arg, []).append(relax.VarBinding(var, value))
    return users


def _bias_shapes(chain: Chain) -> tuple:
    """Constant shapes that broadcast one value per output channel (NCHW conv) or feature (linear)."""
    filters = chain.weight.shape[0]
    if _shape(chain.x) is not None and len(_shape(chain.x)) == 4:
        return (1, filters, 1, 1), (filters, 1, 1)
    return (filters,), (1, filters)


def _bias_of(args, shapes: tuple, values):
    """``(bias, binding var)`` when one operand is a per-channel constant, possibly through ``reshape``."""
    for arg in args:
        value, source = _const(arg), None
        if value is None and _op_name(values.get(arg)) == "relax.reshape":
            value, source = _const(values[arg].args[0]), arg
            value = value.reshape(_shape(arg)) if value is not None else None
        if value is not None and value.shape in shapes:
            return value.reshape(-1), source
    return None


def _residual_of(args, own):
    a, b = args
    other = b if a.same_as(own) else a if b.same_as(own) else None
    if isinstance(other, relax.Var) and _shape(other) == _shape(own):
        return other
    return None


def _const(expr):
    if type(expr).__name__ == "GenericConst" and hasattr(expr.value, "numpy"):
        value = expr.value.numpy()
        return value if value.dtype == np.float32 else None
    return None


def _shape(expr):
    ty = getattr(expr, "ty", None)
    try:
        return tuple(int(d) for d in ty.shape.values)
    except (AttributeError, TypeError):
        return None


def _op_name(call) -> str:
    return call.op.name if isinstance(call, relax.Call) and isinstance(call.op, tvm.ir.Op) else ""
