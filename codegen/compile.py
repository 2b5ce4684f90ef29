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
import time
from dataclasses import dataclass
from pathlib import Path

import onnx

from . import frontend
from .blob import WEIGHTS_BIN, model_hash, write_asm, write_blob
from .conv_rewrite import rewrite_layers
from .driver import DriverInfo, render_driver
from .errors import CodegenError
from .lower import build_kernels, lower, to_relax
from .plan import build_plan
from .targets import get_target
from .toolchain import BENCH_DIR, Toolchain, bench_sources, get_toolchain, link_executable

COMPILE_JSON = "compile.json"
ONNX_NAME = "model.onnx"
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
        compiled = cls(out_dir, json.loads(meta.read_text()))
        for path in (compiled.binary, compiled.onnx_path):
            if not path.is_file():
                raise FileNotFoundError(f"compiled model in {out_dir} lacks {path.name}")
        return compiled


def compile_model(model, target: str = "host", out_dir: str | Path = "compiled", *, input_shape=None,
                  name: str | None = None, mattr=(), mcpu: str | None = None,
                  schedule: str = "auto") -> CompiledModel:
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
        Full input shape including the batch, for a ``torch.nn.Module``.
    name : str, optional
        Model name used for the executable and in its JSON output.
    mattr : sequence of str
        Extra LLVM CPU features, e.g. ``("+dotprod",)``.
    mcpu : str, optional
        LLVM CPU name (the host target defaults to this machine's CPU).
    schedule : str
        ``auto``: convolutions and linear layers get the project's kernels, specialised to their nonzero
        taps and filters; ``none``: TVM's default lowering for every operator (the unscheduled baseline).

    Returns
    -------
    compiled : CompiledModel
    """
    start = time.perf_counter()
    spec = get_target(target, mattr, mcpu)
    toolchain = get_toolchain(target)
    onnx_model, name = _intake(model, input_shape, name)
    frontend.check_supported(onnx_model)
    shapes = frontend.input_shapes(onnx_model)
    if len(shapes) != 1:
        raise CodegenError(f"the model has {len(shapes)} inputs ({', '.join(shapes)}); expected exactly one")

    out_dir = Path(out_dir)
    src = out_dir / "src"
    src.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, str(out_dir / ONNX_NAME))
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of: {', '.join(SCHEDULES)}")
    relax_mod, layers = to_relax(onnx_model), []
    if schedule == "auto":
        relax_mod, layers = rewrite_layers(relax_mod, *spec.vector_shape())
    lowered = lower(relax_mod, spec)
    plan = build_plan(lowered)
    kernels = build_kernels(lowered, spec, src / "kernels.o")
    blob = write_blob(plan, src / WEIGHTS_BIN)
    write_asm(src / "weights.S")
    digest = model_hash(blob, src / "kernels.o")
    (src / "model.c").write_text(render_driver(plan, DriverInfo(name, digest, target)))
    binary = out_dir / name
    _link(toolchain, src, binary, strip=True)
    info = {
        "name": name, "binary": binary.name, "target": target, "llvm_target": spec.llvm,
        "toolchain": toolchain.name, "kernels": len(kernels), "kernel_calls": len(plan.calls),
        "binary_bytes": binary.stat().st_size, "weights_bytes": plan.weights_bytes,
        "arena_bytes": sum(plan.arenas), "compile_seconds": round(time.perf_counter() - start, 3),
        "input_shape": list(plan.input.shape), "output_shape": list(plan.output.shape), "model_hash": digest,
        "schedule": schedule, "layers": layers,
    }
    (out_dir / COMPILE_JSON).write_text(json.dumps(info, indent=2) + "\n")
    return CompiledModel(out_dir, info)


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


def _intake(model, input_shape, name: str | None) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, (str, Path, onnx.ModelProto)):
        default = Path(model).stem if not isinstance(model, onnx.ModelProto) else (model.graph.name or "model")
        return frontend.load_onnx(model), _safe_name(name or default)
    if input_shape is None:
        raise ValueError("compiling a torch module needs input_shape, e.g. (1, 3, 32, 32)")
    exported = frontend.load_onnx(frontend.export_torch(model, tuple(input_shape)))
    return exported, _safe_name(name or type(model).__name__.lower())


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._") or "model"
    return safe[:64]


def copy_tree(compiled: CompiledModel, dest: Path) -> CompiledModel:
    """Copy a compiled model directory (used to cache artifacts)."""
    shutil.copytree(compiled.out_dir, dest, dirs_exist_ok=True)
    return CompiledModel.load(dest)
