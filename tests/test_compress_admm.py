"""ADMM hooks and masked retraining inside the real training loop."""
import copy

import pytest
import torch

from compress.data import load_data
from compress.models import build_model
from compress.pruning import LayerRate, layer_weights, project_masks, trace_structure, uniform_rates
from compress.pruning.admm import AdmmConfig, AdmmHooks, MaskHooks
from compress.train import TrainConfig, train

CONFIG = TrainConfig(lr=0.05, batch_size=32, threads=1, progress=False, momentum=0.9, weight_decay=5e-4)
RATE = LayerRate(filter=0.5, column=0.5)


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


def fresh():
    torch.manual_seed(0)
    model = build_model("small_cnn")
    return model, trace_structure(model, (1, 8, 8))


def pruned_entries(model, masks):
    modules = dict(model.named_modules())
    return [getattr(modules[layer], p)[~m] for layer, params in masks.layers.items() for p, m in params.items()]


def test_masked_retraining_keeps_pruned_weights_exactly_zero(digits):
    model, s = fresh()
    masks = project_masks(s, layer_weights(model), "filter+column", uniform_rates(s, RATE, include_linear=True))
    masks.apply(model)
    before = copy.deepcopy(model.state_dict())
    config = TrainConfig(**{**CONFIG.__dict__, "epochs": 4})  # ~170 SGD steps, nesterov momentum, weight decay
    train(model, digits, config, hooks=MaskHooks(masks))
    assert all(bool((t == 0).all()) for t in pruned_entries(model, masks))
    kept = masks.layers["features.3"]["weight"]
    assert not torch.equal(model.features[3].weight[kept], before["features.3.weight"][kept])
    control, _ = fresh()  # the same run without the hooks revives the zeros: the assertion above means something
    masks.apply(control)
    train(control, digits, TrainConfig(**{**CONFIG.__dict__, "epochs": 1}))
    assert any(bool((t != 0).any()) for t in pruned_entries(control, masks))


def pruned_fraction(model, s, rates):
    """||W outside the projection's mask|| / ||W|| per layer: how far W is from the sparsity set."""
    masks = project_masks(s, layer_weights(model), "filter+column", rates).layers
    return {n: float((w * ~masks[n]["weight"]).norm() / w.norm()) for n, w in layer_weights(model).items() if n in masks}


def admm_run(digits, rho):
    model, s = fresh()
    rates = uniform_rates(s, RATE)
    hooks = AdmmHooks(model, s, "filter+column", rates, AdmmConfig(rho=rho, rho_factor=10, rho_stages=2), epochs=4)
    rhos = []
    hooks_epoch = hooks.after_epoch
    hooks.after_epoch = lambda m, e: (hooks_epoch(m, e), rhos.append(hooks.rho))
    train(model, digits, TrainConfig(**{**CONFIG.__dict__, "epochs": 4}), hooks=hooks)
    return model, s, rates, hooks, rhos


def test_admm_pulls_weights_onto_the_set(digits):
    model, s, rates, hooks, rhos = admm_run(digits, rho=0.5)
    assert set(hooks.layers) == {"features.0", "features.3", "features.7", "classifier"}  # classifier: dead columns
    z = hooks.Z["features.3"].reshape(32, -1)  # Z is in the set: 16 of 32 filters, half of the 8*9 live columns
    assert int(z.any(1).sum()) == 16 and int(z.any(0).sum()) == round(0.5 * 8 * 9)
    assert rhos == pytest.approx([0.5, 5.0, 5.0, 5.0])  # two stages over four epochs
    control = pruned_fraction(admm_run(digits, rho=0.0)[0], s, rates)  # the same loop without the penalty
    admm = pruned_fraction(model, s, rates)
    assert all(admm[n] < 0.5 * control[n] for n in admm), (admm, control)
    w = layer_weights(model)
    manual = 0.5 * hooks.rho * sum((w[n] - hooks.Z[n] + hooks.U[n]).pow(2).sum() for n in hooks.layers)
    assert hooks.loss_term(model).item() == pytest.approx(manual.item(), rel=1e-5)


class Killed(AdmmHooks):
    def after_step(self, model):
        super().after_step(model)
        if self.steps == 60:
            raise KeyboardInterrupt


def test_admm_state_survives_a_resume(digits, tmp_path):
    config = TrainConfig(**{**CONFIG.__dict__, "epochs": 3, "train_limit": 640})
    args = ("filter+column", None, AdmmConfig(rho=0.1, update_every_steps=7))

    def hooks_for(cls, model, s):
        return cls(model, s, args[0], uniform_rates(s, RATE), args[2], epochs=3)

    full, s = fresh()
    full_hooks = hooks_for(AdmmHooks, full, s)
    train(full, digits, config, hooks=full_hooks)
    killed, s = fresh()
    with pytest.raises(KeyboardInterrupt):
        train(killed, digits, config, run_dir=tmp_path, hooks=hooks_for(Killed, killed, s))
    resumed, s = fresh()
    resumed_hooks = hooks_for(AdmmHooks, resumed, s)
    train(resumed, digits, config, run_dir=tmp_path, resume=True, hooks=resumed_hooks)
    for name, tensor in full.state_dict().items():
        assert torch.allclose(tensor, resumed.state_dict()[name], atol=1e-6), name
    for n in full_hooks.layers:
        assert torch.allclose(full_hooks.U[n], resumed_hooks.U[n], atol=1e-6)
    assert resumed_hooks.rho == full_hooks.rho and resumed_hooks.steps == full_hooks.steps


def test_admm_works_when_a_layer_keeps_all_its_weights(digits):
    """A searched rate of 0 on the first conv: no mask there, yet Z/U updates project every layer."""
    model, s = fresh()
    rates = {**uniform_rates(s, RATE), "features.0": LayerRate()}
    hooks = AdmmHooks(model, s, "filter+column", rates, AdmmConfig(rho=0.1, update_every_steps=5), epochs=1)
    assert "features.0" not in hooks.layers and "features.3" in hooks.layers
    train(model, digits, TrainConfig(**{**CONFIG.__dict__, "epochs": 1, "train_limit": 320}), hooks=hooks)
    z = hooks.Z["features.3"].reshape(32, -1)  # still in the set: 16 of 32 filters, half of the 16*9 columns
    assert int(z.any(1).sum()) == 16 and int(z.any(0).sum()) == round(0.5 * 16 * 9)
    assert "features.0" not in hooks.final_masks(model).layers
