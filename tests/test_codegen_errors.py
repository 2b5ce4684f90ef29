"""Bad input fails early with one clear message: corrupt files, unsupported operators, dynamic shapes, bad targets."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from codegen import DynamicShapeError, InvalidModelError, UnsupportedOperatorError, compile_model
from codegen.targets import get_target
from codegen.toolchain import get_toolchain


def _graph(nodes, batch=1, extra_inits=()):
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.ones(108, np.float32).tolist())
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 8, 8])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 4, 8, 8])
    graph = helper.make_graph(nodes, "g", [x], [y], [weight, *extra_inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_unsupported_ops_are_listed_together(tmp_path):
    model = _graph([
        helper.make_node("Conv", ["input", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1]),
        helper.make_node("Celu", ["c"], ["a"], name="act_celu"),
        helper.make_node("LpNormalization", ["a"], ["output"], name="norm_lp"),
    ])
    with pytest.raises(UnsupportedOperatorError) as err:
        compile_model(model, out_dir=tmp_path / "out")
    assert err.value.ops == [("act_celu", "Celu"), ("norm_lp", "LpNormalization")]
    assert "act_celu (Celu)" in str(err.value) and "norm_lp (LpNormalization)" in str(err.value)
    assert not (tmp_path / "out").exists()  # nothing written before validation passes


def test_dynamic_dimensions_beyond_the_batch_name_the_input(tmp_path):
    model = _graph([helper.make_node("Conv", ["input", "w"], ["output"], name="conv0")], batch="N")
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    with pytest.raises(DynamicShapeError, match=r"input 'input' has a dynamic dimension 'H' at axis 2; give the whole"):
        compile_model(model, out_dir=tmp_path / "out")


@pytest.mark.parametrize("content", [b"", b"\x08\x07garbage not a protobuf \xff\xfe" * 10])
def test_corrupt_onnx_file(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(InvalidModelError, match="ONNX"):
        compile_model(path, out_dir=tmp_path / "out")


def test_checker_rejects_dangling_input(tmp_path):
    model = _graph([helper.make_node("Relu", ["missing_tensor"], ["output"], name="relu0")])
    with pytest.raises(InvalidModelError, match="invalid ONNX model"):
        compile_model(model, out_dir=tmp_path / "out")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="ONNX file not found"):
        compile_model(tmp_path / "nope.onnx", out_dir=tmp_path / "out")


def test_targets_and_cpu_flags():
    spec = get_target("android-arm64", ["+dotprod"], mcpu="cortex-a76")
    assert spec.llvm["mattr"] == ["+neon", "+dotprod"] and spec.llvm["mcpu"] == "cortex-a76"
    assert spec.tvm_target().attrs["mtriple"] == "aarch64-linux-android"
    assert get_target("linux-aarch64", ["+neon"]).llvm["mattr"] == ["+neon"]
    with pytest.raises(ValueError, match="unknown target 'arm'; expected one of: host, linux-aarch64"):
        get_target("arm")
    with pytest.raises(ValueError, match="invalid CPU feature flag"):
        get_target("host", ["dotprod"])


def test_phone_cpu_presets_and_unknown_cpus():
    """``--mcpu x1`` names Cortex-X1; a CPU LLVM does not know is an error, not a silent generic build."""
    assert get_target("android-arm64", mcpu="x1").llvm["mcpu"] == "cortex-x1"
    assert get_target("linux-aarch64", mcpu="cortex-a55").llvm["mcpu"] == "cortex-a55"
    with pytest.raises(ValueError, match=r"unknown CPU 'cortex-a99' for aarch64-linux-android; .* a55 \(cortex-a55\)"):
        get_target("android-arm64", mcpu="cortex-a99")
    assert "-Wl,-z,max-page-size=16384" in get_toolchain("android-arm64").flags
