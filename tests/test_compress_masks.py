"""Masks keyed by layer name: apply, mask gradients, count, merge, save/load as data."""
import pytest
import torch

from compress.models import build_model
from compress.pruning import Masks


def small_masks(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return Masks({"features.0": {"weight": torch.rand(16, 1, 3, 3, generator=gen) > 0.5},
                  "features.1": {"weight": torch.rand(16, generator=gen) > 0.5,
                                 "bias": torch.rand(16, generator=gen) > 0.5}})


def test_apply_zeroes_exactly_the_masked_entries():
    model, masks = build_model("small_cnn"), small_masks()
    before = model.features[0].weight.detach().clone()
    masks.apply(model)
    m = masks.layers["features.0"]["weight"]
    assert (model.features[0].weight[~m] == 0).all()
    assert torch.equal(model.features[0].weight[m], before[m])
    assert (model.features[1].bias[~masks.layers["features.1"]["bias"]] == 0).all()


def test_mask_grads():
    model, masks = build_model("small_cnn"), small_masks()
    model(torch.randn(2, 1, 8, 8)).sum().backward()
    masks.mask_grads(model)
    assert (model.features[0].weight.grad[~masks.layers["features.0"]["weight"]] == 0).all()


def test_count_and_merge():
    a, b = small_masks(0), small_masks(1)
    merged = a.merge(b)
    wa, wb = a.layers["features.0"]["weight"], b.layers["features.0"]["weight"]
    assert torch.equal(merged.layers["features.0"]["weight"], wa & wb)
    assert merged.count()["features.0"] == {"kept": int((wa & wb).sum()), "total": 144}


def test_save_and_load_round_trip(tmp_path):
    masks = small_masks()
    masks.save(tmp_path / "m.pt")
    assert Masks.load(tmp_path / "m.pt") == masks
    assert Masks.from_data(masks.to_data()) == masks
    assert Masks.from_data(small_masks(1).to_data()) != masks


def test_unknown_layer_and_wrong_shape_are_named():
    model = build_model("small_cnn")
    with pytest.raises(ValueError, match="'features.99'"):
        Masks({"features.99": {"weight": torch.ones(3, dtype=torch.bool)}}).apply(model)
    with pytest.raises(ValueError, match=r"features.0.weight has shape \(3,\)"):
        Masks({"features.0": {"weight": torch.ones(3, dtype=torch.bool)}}).apply(model)
