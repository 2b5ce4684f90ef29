"""``compile_model``: one model in, one self-contained executable (plus its ONNX and compile.json) out.

>>> from codegen import compile_model
>>> from compress.models import build_model
>>> compiled = compile_model(build_model("resnet20"), input_shape=(1, 3, 32, 32), target="host", out_dir="out/r20")
>>> compiled.binary, compiled.info["model_hash"]
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import onnx

from . import frontend
from .blob import WEIGHTS_BIN, model_hash, write_asm, write_blob
from .conv_rewrite import Tiles, rewrite_layers
from .driver import DriverInfo, render_driver
from .errors import CodegenError, InvalidModelError
from .lower import build_kernels, lower, to_relax
from .plan import build_plan
from .targets import get_target
from .toolchain import BENCH_DIR, Toolchain, bench_sources, get_toolchain, link_executable

COMPILE_JSON = "compile.json"
ONNX_NAME = "model.onnx"
BINARY_NAME = "model"  # fixed: no model name can make the executable overwrite model.onnx or compile.json
REQUIRED_INFO = ("name", "binary", "target", "input_shape", "output_shape", "model_hash")
SCHEDULES = ("auto", "none")


@dataclass(frozen=True)
class CompiledModel:
    """A compiled model directory: the executable, the ONNX it came from, and ``compile.json``."""

    out_dir: Path
    info: dict

    @property
    def binary(self) -> Path:
        return self.out_dir / self.info["binary"]

    @property
    def onnx_path(self) -> Path:
        return self.out_dir / ONNX_NAME

    @property
    def target(self) -> str:
        return self.info["target"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.info["input_shape"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.info["output_shape"])

    @classmethod
    def load(cls, out_dir: str | Path) -> "CompiledModel":
        """Read a directory written by :func:`compile_model`."""
        out_dir = Path(out_dir)
        meta = out_dir / COMPILE_JSON
        if not meta.is_file():
            raise FileNotFoundError(f"{out_dir} is not a compiled model directory (no {COMPILE_JSON})")
        try:
            info = json.loads(meta.read_text())
        except json.JSONDecodeError as err:
            raise InvalidModelError(f"{meta} is not valid JSON ({err.msg}); compile the model again") from None
        missing = [key for key in REQUIRED_INFO if key not in info]
        if missing:
            raise InvalidModelError(f"{meta} lacks {', '.join(missing)}; compile the model again")
        compiled = cls(out_dir, info)
        for path in (compiled.binary, compiled.onnx_path):
            if not path.is_file():
                raise FileNotFoundError(f"compiled model in {out_dir} lacks {path.name}")
        return compiled


def compile_model(model, target: str = "host", out_dir: str | Path = "compiled", *, input_shape=None,
                  name: str | None = None, mattr=(), mcpu: str | None = None,
                  schedule: str = "auto", tiles: Tiles = None) -> CompiledModel:
    """Compile a model into one static executable for ``target``.

    Parameters
    ----------
    model : torch.nn.Module, onnx.ModelProto, str or Path
        The network; a module needs ``input_shape``, a path names an ONNX file.
    target : str
        ``host``, ``linux-aarch64`` or ``android-arm64``.
    out_dir : str or Path
        Receives the executable, ``model.onnx``, ``compile.json`` and ``src/`` (generated C, kernel object,
        weights blob; buildable with the top-level CMakeLists.txt).
    input_shape : tuple of int, optional
        Full input shape including the batch: required for a ``torch.nn.Module``; for ONNX, it fixes the
        input's dynamic dimensions (without it a dynamic batch dimension is fixed to 1, noted in
        ``info["notices"]``).
    name : str, optional
        Model name used in the executable's JSON output (the executable itself is always ``out_dir/model``).
    mattr : sequence of str
        Extra LLVM CPU features, e.g. ``("+dotprod",)``.
    mcpu : str, optional
        LLVM CPU name (the host target defaults to this machine's CPU).
    schedule : str
        ``auto``: convolutions and linear layers get the project's kernels, specialised to their nonzero
        taps and filters; ``none``: TVM's default lowering for every operator (the unscheduled baseline).
    tiles : codegen.kernels.TileConfig or mapping of str to TileConfig, optional
        With ``auto``: the register-tile setting of every conv/linear layer, or one per kernel name (as
        ``info["layers"]`` names them; layers not named keep the fixed rule, as does ``None``). Each layer
        records its setting (``tile_setting``). An on-device tuner picks them: ``latency.tuning``.

    Returns
    -------
    compiled : CompiledModel
        ``out_dir`` is replaced only when the compile succeeds: a failed compile leaves it as it was.
    """
    start = time.perf_counter()
    spec = get_target(target, mattr, mcpu)
    toolchain = get_toolchain(target)
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of: {', '.join(SCHEDULES)}")
    onnx_model, name, notices = intake(model, input_shape, name)
    frontend.check_supported(onnx_model)
    shapes = frontend.input_shapes(onnx_model)
    if len(shapes) != 1:
        raise CodegenError(f"the model has {len(shapes)} inputs ({', '.join(shapes)}); expected exactly one")
    out_dir = Path(out_dir)
    with _staged(out_dir) as stage:
        info = _build(onnx_model, name, spec, toolchain, schedule, tiles, stage)
        info.update(notices=notices, compile_seconds=round(time.perf_counter() - start, 3))
        (stage / COMPILE_JSON).write_text(json.dumps(info, indent=2) + "\n")
    return CompiledModel(out_dir, info)


def _build(onnx_model: onnx.ModelProto, name: str, spec, toolchain: Toolchain, schedule: str, tiles: Tiles,
           out_dir: Path) -> dict:
    """Lower, build and link ``onnx_model`` into ``out_dir``; returns the compile record."""
    src = out_dir / "src"
    src.mkdir(parents=True)
    onnx.save(onnx_model, str(out_dir / ONNX_NAME))
    relax_mod, layers = to_relax(onnx_model), []
    if schedule == "auto":
        relax_mod, layers = rewrite_layers(relax_mod, *spec.vector_shape(), tiles=tiles)
    lowered = lower(relax_mod, spec)
    plan = build_plan(lowered)
    symbols = build_kernels(lowered, spec, src / "kernels.o")
    blob = write_blob(plan, src / WEIGHTS_BIN)
    write_asm(src / "weights.S")
    digest = model_hash(blob, src / "kernels.o")
    (src / "model.c").write_text(render_driver(plan, DriverInfo(name, digest, spec.name), symbols))
    binary = out_dir / BINARY_NAME
    _link(toolchain, src, binary, strip=True)
    return {
        "name": name, "binary": binary.name, "target": spec.name, "llvm_target": spec.llvm,
        "toolchain": toolchain.name, "kernels": len(set(symbols.values())), "kernel_calls": len(plan.calls),
        "shared_kernels": {k: v for k, v in symbols.items() if k != v}, "calls": [c.kernel for c in plan.calls],
        "binary_bytes": binary.stat().st_size, "weights_bytes": plan.weights_bytes,
        "arena_bytes": sum(plan.arenas), "input_shape": list(plan.input.shape),
        "output_shape": list(plan.output.shape), "model_hash": digest, "schedule": schedule, "layers": layers,
    }


@contextmanager
def _staged(out_dir: Path) -> Iterator[Path]:
    """A fresh folder beside ``out_dir`` to compile into; it replaces ``out_dir`` when the block succeeds and is
    removed when it fails, so ``out_dir`` is never half written."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = out_dir.with_name(f"{stage.name}-old")
    if out_dir.exists():
        out_dir.rename(old)
    stage.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _link(toolchain: Toolchain, src: Path, binary: Path, strip: bool) -> None:
    sources = [*bench_sources(), src / "model.c", src / "weights.S", src / "kernels.o"]
    link_executable(toolchain, sources, [BENCH_DIR, src], binary, strip)


def link_with_symbols(compiled: CompiledModel, binary: str | Path) -> Path:
    """Link ``compiled``'s generated sources again into ``binary``, keeping the symbol table.

    The linker lays out the same code at the same addresses as in ``compiled.binary`` (which is stripped),
    so instruction addresses seen while running either binary map to kernel symbols of this one.
    """
    binary = Path(binary)
    _link(get_toolchain(compiled.target), compiled.out_dir / "src", binary, strip=False)
    return binary


def intake(model, input_shape=None, name: str | None = None) -> tuple[onnx.ModelProto, str, list[str]]:
    """The checked ONNX model of ``model`` (as :func:`compile_model` takes it), its name, and notices of the
    input dimensions fixed on the way."""
    if isinstance(model, (str, Path, onnx.ModelProto)):
        default = Path(model).stem if not isinstance(model, onnx.ModelProto) else (model.graph.name or "model")
        loaded = frontend.load_onnx(model)
        notice = frontend.fix_input_shape(loaded, None if input_shape is None else tuple(input_shape))
        return loaded, _safe_name(name or default), [notice] if notice else []
    if input_shape is None:
        raise ValueError("compiling a torch module needs input_shape, e.g. (1, 3, 32, 32)")
    exported = frontend.load_onnx(frontend.export_torch(model, tuple(input_shape)))
    return exported, _safe_name(name or type(model).__name__.lower()), []


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._") or "model"
    return safe[:64]


def copy_tree(compiled: CompiledModel, dest: Path) -> CompiledModel:
    """Copy a compiled model directory (used to cache artifacts)."""
    shutil.copytree(compiled.out_dir, dest, dirs_exist_ok=True)
    return CompiledModel.load(dest)
