"""The compile output folder: a fixed executable name, replaced only by a compile that succeeds, a checked
compile.json; ONNX inputs with a dynamic batch fixed to 1 (or to --input-shape)."""
from __future__ import annotations

import json
import shutil

import onnx
import pytest
import torch
from torch import nn

from autocompress.cli import main
from codegen import CompiledModel, compile_model
from codegen.errors import DynamicShapeError


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def dynamic_onnx(path, dynamic_axes={"input": {0: "batch"}}) -> None:  # noqa: B006 (read only)
    torch.manual_seed(0)
    torch.onnx.export(Tiny().eval(), (torch.randn(2, 1, 8, 8),), str(path), input_names=["input"],
                      output_names=["output"], dynamic_axes=dynamic_axes, dynamo=False)


@pytest.fixture(scope="module")
def compiled_tiny(tmp_path_factory) -> CompiledModel:
    return compile_model(Tiny().eval(), "host", tmp_path_factory.mktemp("tiny") / "out", input_shape=(1, 1, 8, 8))


def copied(compiled: CompiledModel, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(compiled.out_dir, out)
    return out


def folder_state(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_dynamic_batch_is_fixed_to_one_with_a_notice(tmp_path, capsys):
    dynamic_onnx(tmp_path / "compile.json.onnx")  # a stem that once overwrote the metadata
    out = tmp_path / "out"
    assert main(["compile", "--onnx", str(tmp_path / "compile.json.onnx"), "-o", str(out)]) == 0
    assert "note: input 'input': axis 0 fixed to 1" in capsys.readouterr().err
    compiled = CompiledModel.load(out)
    assert compiled.binary.name == "model" and compiled.info["name"] == "compile.json"
    assert compiled.input_shape == (1, 1, 8, 8) and json.loads((out / "compile.json").read_text())["notices"]
    assert main(["bench", str(out), "--runs", "2", "--warmup", "0"]) == 0


def test_input_shape_fixes_every_dynamic_dimension(tmp_path):
    dynamic_onnx(tmp_path / "m.onnx", {"input": {0: "batch", 2: "h", 3: "w"}})
    with pytest.raises(DynamicShapeError, match="dynamic dimension 'h' at axis 2; give the whole shape"):
        compile_model(tmp_path / "m.onnx", "host", tmp_path / "a")
    compiled = compile_model(tmp_path / "m.onnx", "host", tmp_path / "b", input_shape=(1, 1, 6, 6))
    assert compiled.input_shape == (1, 1, 6, 6)
    with pytest.raises(DynamicShapeError, match="differs from input 'input''s fixed size 1 at axis 1"):
        compile_model(tmp_path / "m.onnx", "host", tmp_path / "c", input_shape=(1, 2, 6, 6))


def test_a_failed_compile_leaves_the_folder_as_it_was(compiled_tiny, tmp_path, capsys):
    out = copied(compiled_tiny, tmp_path)
    before = folder_state(out)
    graph = onnx.load(str(out / "model.onnx"))
    graph.graph.node[0].op_type = "NonZero"  # refused at intake
    bad = tmp_path / "bad.onnx"
    onnx.save(graph, str(bad))
    assert main(["compile", "--onnx", str(bad), "-o", str(out)]) == 2
    assert folder_state(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx", "out"]
    capsys.readouterr()


@pytest.mark.parametrize("rewrite, message", [
    (lambda info: json.dumps({k: v for k, v in info.items() if k != "model_hash"}), "lacks model_hash; compile"),
    (lambda info: "{", "is not valid JSON"),
])
def test_a_broken_compile_json_is_one_line(compiled_tiny, tmp_path, capsys, rewrite, message):
    out = copied(compiled_tiny, tmp_path)
    (out / "compile.json").write_text(rewrite(json.loads((out / "compile.json").read_text())))
    assert main(["bench", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_binary_without_its_exec_bit_names_the_fix(compiled_tiny, tmp_path, capsys):
    out = copied(compiled_tiny, tmp_path)
    (out / "model").chmod(0o644)
    assert main(["bench", str(out), "--runs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"is not executable; restore it with chmod +x {out / 'model'}" in err and len(err.splitlines()) == 1


def test_exports_share_one_onnx_registry_and_stay_identical():
    """torch's ONNX function registry is built once per process (it took ~4 s of every export); a model exported
    again after others is byte-identical to its first export."""
    from torch.onnx._internal.exporter._registration import ONNXRegistry

    from codegen.frontend import export_torch

    torch.manual_seed(0)
    tiny, other = Tiny().eval(), nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU6()).eval()
    first = export_torch(tiny, (1, 1, 8, 8)).SerializeToString()
    export_torch(other, (1, 1, 8, 8))
    assert export_torch(tiny, (1, 1, 8, 8)).SerializeToString() == first
    assert ONNXRegistry.from_torchlib.cache_info().currsize == 1
