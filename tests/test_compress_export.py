"""ONNX export of compacted models matches torch in onnxruntime (1e-4); the weights carry the column zeros
and the sidecar describes them."""
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from compress.models import MODELS, build_model
from compress.pruning import compact, purify, trace_structure
from compress.pruning.export import export_onnx, onnx_weights, write_sidecar
from helpers import random_prune


@pytest.mark.parametrize("name,seed", [("resnet20", 0), ("resnet56", 1), ("vgg16", 2), ("resnet18", 3)])
def test_onnx_matches_torch_and_keeps_the_zeros(tmp_path, name, seed):
    torch.manual_seed(seed)
    shape = MODELS[name].input_shape
    model = build_model(name).eval()
    structure = trace_structure(model, shape)
    random_prune(model, structure, seed)
    small, record = compact(model, structure, purify(model, structure)[1])
    path = export_onnx(small, shape, tmp_path / "m.onnx")
    x = torch.randn(3, *shape)
    got = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = small(x).numpy()
    assert np.abs(got - want).max() <= 1e-4
    sidecar = json.loads(write_sidecar(tmp_path / "s.json", small, record, name, shape, path).read_text())
    assert sidecar["compaction"] == json.loads(json.dumps(record))
    weights = dict(onnx_weights(path))
    zero_columns = 0
    for layer, info in sidecar["layers"].items():
        w = small.get_submodule(layer).weight.detach().reshape(info["weight_shape"][0], -1).numpy()
        onnx_w = weights[info["onnx_weight"]].reshape(w.shape[0], -1)
        assert ((onnx_w == 0) | (w != 0)).all()  # every torch zero is an ONNX zero (BN folding scales rows)
        assert info["kept_columns"] == np.flatnonzero((w != 0).any(0)).tolist()
        zero_columns += w.shape[1] - len(info["kept_columns"])
    assert zero_columns > 0
