"""The training loop: it learns, hooks take effect, and a resumed run equals an uninterrupted one."""
import copy

import pytest
import torch

from compress.data import load_data
from compress.models import build_model
from compress.precision import native_bf16, resolve
from compress.train import Distillation, TrainConfig, TrainHooks, evaluate, lr_at, stream_seed, train

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


def test_train_limit_samples_the_whole_split_anew_each_epoch_and_stream():
    splits = load_data("digits")
    seen = {}
    for stream in ("round-1/admm", "round-1/retrain"):
        loader = splits.loader("train", 100, shuffle=True, per_epoch=300, seed=stream_seed(0, stream))
        assert len(loader) == 3
        epochs = [torch.cat([y for _, y in loader]) for _ in range(4)]
        assert all(len(e) == 300 for e in epochs)
        seen[stream] = epochs
    a, b = seen["round-1/admm"], seen["round-1/retrain"]
    assert not torch.equal(a[0], a[1]) and not torch.equal(a[0], b[0])  # new samples per epoch and per stream
    images = splits.loader("train", 100, shuffle=True, per_epoch=300, seed=1)
    ids = set()
    for _ in range(8):  # eight epochs of 300 reach most of the ~1300 training images, not one fixed subset
        ids |= {hash(x.numpy().tobytes()) for batch, _ in images for x in batch}
    assert len(ids) > 0.8 * len(splits.train)


def test_constant_schedule_holds_the_rate_and_cosine_decays_it():
    config = TrainConfig(lr=0.1, schedule="constant", warmup_epochs=1)
    assert [lr_at(s, 100, config, 10) for s in (0, 9, 10, 99)] == pytest.approx([0.01, 0.1, 0.1, 0.1])
    cosine = TrainConfig(lr=0.1)
    assert lr_at(0, 100, cosine, 10) == pytest.approx(0.1) and lr_at(99, 100, cosine, 10) < 0.001
    with pytest.raises(ValueError, match="schedule 'linear'"):
        TrainConfig(schedule="linear")


def test_distillation_pulls_the_student_towards_the_teacher():
    """A student trained only on the teacher's soft targets (weight 1) agrees with it far more than one trained
    on a label-free loss would; weight 0 is plain cross-entropy."""
    splits = load_data("digits")
    teacher = fresh_model()
    train(teacher, splits, TrainConfig(epochs=3, **CONFIG))
    x, y = next(iter(splits.loader("test", 360)))
    logits = torch.randn(len(y), 10)
    hard = torch.nn.functional.cross_entropy(logits, y)
    assert Distillation(teacher, weight=0.0).loss(x, logits, hard) == pytest.approx(float(hard))
    torch.manual_seed(1)
    student = build_model("small_cnn")
    shuffled = copy.deepcopy(splits)
    shuffled.train.y[:] = torch.randperm(10).numpy()[shuffled.train.y]  # wrong labels: only the teacher can teach
    train(student, shuffled, TrainConfig(epochs=3, **CONFIG), distill=Distillation(teacher, weight=1.0))
    with torch.no_grad():
        agree = float((student.eval()(x).argmax(1) == teacher.eval()(x).argmax(1)).float().mean())
    assert agree > 0.8


def test_precision_auto_follows_the_hardware_and_bf16_trains():
    assert resolve("cpu", "auto") == ("bf16" if native_bf16("cpu") else "fp32")
    assert resolve("cpu", "fp32") == "fp32" and resolve("cpu", "bf16") == "bf16"
    with pytest.raises(ValueError, match="precision 'fp16'"):
        TrainConfig(precision="fp16")
    splits = load_data("digits")
    model = fresh_model()
    train(model, splits, TrainConfig(epochs=3, precision="bf16", **CONFIG))
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    assert evaluate(model, splits.loader("test"))["accuracy"] > 0.85
