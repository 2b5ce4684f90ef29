"""The training loop: it learns, hooks take effect, and a resumed run equals an uninterrupted one."""
import torch

from compress.data import load_data
from compress.models import build_model
from compress.train import TrainConfig, TrainHooks, evaluate, train

CONFIG = dict(lr=0.05, batch_size=64, threads=1, progress=False)


def test_small_cnn_learns_digits():
    splits = load_data("digits")
    model = build_model("small_cnn")
    history = train(model, splits, TrainConfig(epochs=3, **CONFIG))
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert evaluate(model, splits.loader("test"))["accuracy"] > 0.85


class KillInEpoch(TrainHooks):
    """Raise in the middle of epoch ``epoch`` (1-based), like a killed process."""

    def __init__(self, epoch: int):
        self.epoch, self.steps, self.done = epoch, 0, 0

    def after_step(self, model):
        self.steps += 1
        if self.done == self.epoch - 1 and self.steps == 3:
            raise KeyboardInterrupt

    def after_epoch(self, model, epoch):
        self.done, self.steps = epoch + 1, 0


def fresh_model():
    torch.manual_seed(0)
    return build_model("small_cnn")


def test_resume_after_a_kill_equals_uninterrupted(tmp_path):
    splits = load_data("digits")
    config = TrainConfig(epochs=3, train_limit=400, **CONFIG)
    full = fresh_model()
    train(full, splits, config)
    killed = fresh_model()
    try:
        train(killed, splits, config, run_dir=tmp_path, hooks=KillInEpoch(2))
    except KeyboardInterrupt:
        pass
    resumed = fresh_model()
    history = train(resumed, splits, config, run_dir=tmp_path, resume=True)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for name, tensor in full.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_hooks_are_called_and_can_change_training():
    class ZeroFirstFilter(TrainHooks):
        def __init__(self):
            self.calls = {"loss": 0, "backward": 0, "step": 0, "epoch": 0}

        def loss_term(self, model):
            self.calls["loss"] += 1
            return None

        def after_backward(self, model):
            self.calls["backward"] += 1

        def after_step(self, model):
            self.calls["step"] += 1
            with torch.no_grad():
                model.features[0].weight[0] = 0

        def after_epoch(self, model, epoch):
            self.calls["epoch"] += 1

    splits = load_data("digits")
    model = build_model("small_cnn")
    hooks = ZeroFirstFilter()
    train(model, splits, TrainConfig(epochs=1, train_limit=256, **CONFIG), hooks=hooks)
    assert hooks.calls == {"loss": 4, "backward": 4, "step": 4, "epoch": 1}
    assert torch.count_nonzero(model.features[0].weight[0]) == 0
