"""ADMM hooks and masked retraining inside the real training loop."""
import copy

import pytest
import torch

from compress.data import load_data
from compress.models import build_model
from compress.pruning import LayerRate, layer_weights, project_masks, trace_structure, uniform_rates
from compress.pruning.admm import AdmmConfig, AdmmHooks, MaskHooks, rho_bounds
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


STEPS = 44  # steps per epoch of the full digits train split at batch 32


def admm_run(digits, config, epochs=4):
    model, s = fresh()
    rates = uniform_rates(s, RATE)
    train_config = TrainConfig(**{**CONFIG.__dict__, "epochs": epochs, "schedule": "constant"})
    hooks = AdmmHooks(model, s, "filter+column", rates, config, train_config, STEPS)
    train(model, digits, train_config, hooks=hooks)
    return model, s, rates, hooks


def test_automatic_rho_starts_at_the_asked_pull_and_is_capped_at_one_closing_per_step():
    train_config = TrainConfig(lr=0.01, momentum=0.9)
    start, largest = rho_bounds(AdmmConfig(pull=0.5), train_config, 352)
    assert 0.01 / 0.1 * start * 352 == pytest.approx(0.5)
    assert 0.01 / 0.1 * largest == pytest.approx(1.0)
    assert rho_bounds(AdmmConfig(rho=0.02), train_config, 352)[0] == 0.02


def test_admm_pulls_weights_and_batchnorm_of_removed_filters_onto_the_set(digits):
    model, s, rates, hooks = admm_run(digits, AdmmConfig(pull=0.5, rho_growth=2.0, tolerance=1e-6))
    layers = {n.rsplit(".", 1)[0] for n in hooks.names}
    assert layers == {"features.0", "features.1", "features.3", "features.4", "features.7", "features.8",
                      "classifier"}  # convs, the BatchNorm of their removed filters, classifier (dead columns)
    z = hooks.Z["features.3.weight"].reshape(32, -1)  # Z is in the set: 16 of 32 filters, half of 8*9 live columns
    assert int(z.any(1).sum()) == 16 and int(z.any(0).sum()) == round(0.5 * 8 * 9)
    rhos = [u["rho"] for u in hooks.log]  # the residual never reaches 1e-6: rho doubles at every update
    assert rhos == pytest.approx([rhos[0] * 2 ** i for i in range(4)]) and hooks.rho == pytest.approx(16 * rhos[0])
    assert hooks.log[-1]["residual"] < hooks.log[0]["residual"] and not hooks.converged()
    control = pruned_fraction(admm_run(digits, AdmmConfig(rho=1e-9, rho_growth=1.0))[0], s, rates)  # no pull
    admm = pruned_fraction(model, s, rates)
    assert all(admm[n] < 0.5 * control[n] for n in admm), (admm, control)
    removed = ~project_masks(s, layer_weights(model), "filter+column", rates).layers["features.4"]["weight"]
    gamma = model.features[4].weight.detach()  # ADMM shrinks the removed filters' BatchNorm scale too
    assert float(gamma[removed].abs().mean()) < 0.25 * float(gamma[~removed].abs().mean())
    p = {n: getattr(model.get_submodule(n.rsplit(".", 1)[0]), n.rsplit(".", 1)[1]) for n in hooks.names}
    manual = 0.5 * hooks.rho * sum((p[n] - hooks.Z[n] + hooks.U[n]).pow(2).sum() for n in hooks.names)
    assert hooks.loss_term(model).item() == pytest.approx(manual.item(), rel=1e-5)


def test_the_scaled_dual_is_rescaled_when_rho_grows(digits):
    model, s = fresh()
    config = AdmmConfig(rho=0.5, rho_growth=3.0, tolerance=1e-6)
    hooks = AdmmHooks(model, s, "filter+column", uniform_rates(s, RATE), config, CONFIG, STEPS)
    with torch.no_grad():
        model.features[3].weight.add_(0.1)  # W moves: the update accumulates W - Z into U
    v = model.features[3].weight.detach() + hooks.U["features.3.weight"]
    hooks.update(model)
    unscaled = v - hooks.Z["features.3.weight"]  # U + W - Z before the growth
    assert hooks.rho == pytest.approx(1.5)
    assert torch.allclose(hooks.U["features.3.weight"] * 1.5, unscaled * 0.5)  # lambda = rho * U is kept


def test_admm_converges_and_stops_growing_rho(digits):
    """With the default pull and growth, 12 epochs on digits bring the residual under a 5% tolerance; rho then
    stays put and the kept set no longer changes."""
    _, _, _, hooks = admm_run(digits, AdmmConfig(tolerance=0.05, early_finish=0), epochs=12)
    assert len(hooks.log) == 12
    assert hooks.converged(), hooks.log
    first = next(i for i, u in enumerate(hooks.log) if u["residual"] <= 0.05)
    assert all(u["rho"] == hooks.log[first]["rho"] for u in hooks.log[first:])
    assert hooks.summary()["converged"] and hooks.summary()["updates"] == hooks.log


def test_admm_ends_once_two_updates_in_a_row_converged_and_a_resume_stays_ended(digits, tmp_path):
    model, s = fresh()
    train_config = TrainConfig(**{**CONFIG.__dict__, "epochs": 12, "schedule": "constant"})

    def hooks_for(model):
        return AdmmHooks(model, s, "filter+column", uniform_rates(s, RATE), AdmmConfig(tolerance=0.05), train_config,
                         STEPS)

    hooks = hooks_for(model)
    history = train(model, digits, train_config, run_dir=tmp_path, hooks=hooks)
    within = [u["residual"] <= 0.05 and u["changed"] <= 0.05 for u in hooks.log]
    end = next(i for i in range(1, len(within)) if within[i - 1] and within[i]) + 1  # the first such pair
    assert 2 <= len(hooks.log) == len(history) == end < 12, hooks.log
    assert hooks.finished() and hooks.converged()
    again, s = fresh()
    resumed = hooks_for(again)
    assert train(again, digits, train_config, run_dir=tmp_path, resume=True, hooks=resumed) == history
    assert resumed.log == hooks.log and torch.equal(again.features[3].weight, model.features[3].weight)


def test_admm_ends_when_it_stalls_at_the_rho_cap(digits):
    """rho starts at its cap (one full closing per step) and the tolerance is out of reach: the residual settles,
    and with ``stall=2`` ADMM ends after two capped updates that lower it by less than 5%; without, all epochs run."""
    largest = rho_bounds(AdmmConfig(), CONFIG, STEPS)[1]
    *_, stalled = admm_run(digits, AdmmConfig(rho=largest, tolerance=1e-6, stall=2), epochs=12)
    residuals = [u["residual"] for u in stalled.log]
    assert len(stalled.log) < 12 and stalled.finished() and stalled.summary()["stalled"], stalled.log
    assert min(residuals[-2:]) > 0.95 * residuals[-3] and not stalled.converged()
    *_, control = admm_run(digits, AdmmConfig(rho=largest, tolerance=1e-6), epochs=6)
    assert len(control.log) == 6 and not control.finished()


class Killed(AdmmHooks):
    def after_step(self, model):
        super().after_step(model)
        if self.steps == 60:
            raise KeyboardInterrupt


def test_admm_state_survives_a_resume(digits, tmp_path):
    config = TrainConfig(**{**CONFIG.__dict__, "epochs": 3, "train_limit": 640})
    admm = AdmmConfig(rho=0.1, update_every_steps=7)

    def hooks_for(cls, model, s):
        return cls(model, s, "filter+column", uniform_rates(s, RATE), admm, config, 20)

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
    for n in full_hooks.names:
        assert torch.allclose(full_hooks.U[n], resumed_hooks.U[n], atol=1e-6)
    assert resumed_hooks.rho == full_hooks.rho and resumed_hooks.steps == full_hooks.steps
    assert len(full_hooks.log) == len(resumed_hooks.log) == 60 // 7
    for a, b in zip(full_hooks.log, resumed_hooks.log):
        assert a["step"] == b["step"] and [a[k] for k in ("rho", "residual", "changed")] == pytest.approx(
            [b[k] for k in ("rho", "residual", "changed")], abs=1e-5)


def test_admm_works_when_a_layer_keeps_all_its_weights(digits):
    """A searched rate of 0 on the first conv: no mask there, yet Z/U updates project every layer."""
    model, s = fresh()
    rates = {**uniform_rates(s, RATE), "features.0": LayerRate()}
    hooks = AdmmHooks(model, s, "filter+column", rates, AdmmConfig(rho=0.1, update_every_steps=5), CONFIG, 10)
    assert "features.0.weight" not in hooks.names and "features.3.weight" in hooks.names
    train(model, digits, TrainConfig(**{**CONFIG.__dict__, "epochs": 1, "train_limit": 320}), hooks=hooks)
    z = hooks.Z["features.3.weight"].reshape(32, -1)  # still in the set: 16 of 32 filters, half of the 16*9 columns
    assert int(z.any(1).sum()) == 16 and int(z.any(0).sum()) == round(0.5 * 16 * 9)
    assert "features.0" not in hooks.final_masks(model).layers
