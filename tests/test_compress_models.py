"""Model registry: parameter and MAC counts against hand arithmetic, pretrained weights load and classify."""
import numpy as np
import pytest
import torch

from compress.checkpoint import load_weights
from compress.counting import count_model
from compress.data import load_data
from compress.models import MODELS, build_model, get_spec


def conv_bn(cin, cout, k=3):
    """Parameters of a bias-free conv followed by BatchNorm (weight + bias)."""
    return k * k * cin * cout + 2 * cout


def test_resnet20_and_56_counts():
    r20 = count_model(build_model("resnet20"), (3, 32, 32))
    assert r20.params == 269_722
    # MACs: stem + 3 stages of 2n 3x3 convs at 32x32/16x16/8x8 (16/32/64 channels) + linear
    n = 3
    stem = 32 * 32 * 9 * 3 * 16
    stage1 = 2 * n * 32 * 32 * 9 * 16 * 16
    stage2 = 16 * 16 * 9 * 16 * 32 + (2 * n - 1) * 16 * 16 * 9 * 32 * 32
    stage3 = 8 * 8 * 9 * 32 * 64 + (2 * n - 1) * 8 * 8 * 9 * 64 * 64
    assert r20.macs == stem + stage1 + stage2 + stage3 + 64 * 10
    assert round(r20.macs / 1e6) == 41
    assert count_model(build_model("resnet56"), (3, 32, 32)).params == 853_018


def test_vgg16_counts_match_hand_arithmetic():
    widths = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
              (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    sides = [32, 32, 16, 16, 8, 8, 8, 4, 4, 4, 2, 2, 2]
    counts = count_model(build_model("vgg16"), (3, 32, 32))
    assert counts.params == sum(conv_bn(a, b) for a, b in widths) + 512 * 10 + 10
    assert counts.macs == sum(s * s * 9 * a * b for (a, b), s in zip(widths, sides)) + 512 * 10


def test_resnet18_counts_match_hand_arithmetic():
    def block(cin, cout, stride):
        shortcut = conv_bn(cin, cout, 1) if stride != 1 or cin != cout else 0
        return conv_bn(cin, cout) + conv_bn(cout, cout) + shortcut

    params = conv_bn(3, 64) + 512 * 10 + 10
    for cin, cout, stride in [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]:
        params += block(cin, cout, stride) + block(cout, cout, 1)
    macs, side = 32 * 32 * 9 * 3 * 64 + 512 * 10, 32
    for cin, cout, stride in [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]:
        side //= stride
        shortcut = side * side * cin * cout if stride != 1 else 0
        macs += side * side * 9 * (cin * cout + 3 * cout * cout) + shortcut
    counts = count_model(build_model("resnet18"), (3, 32, 32))
    assert counts.params == params == 11_173_962
    assert counts.macs == macs


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="unknown model 'resnet21'.*resnet20"):
        get_spec("resnet21")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_run_on_their_input_shape(name):
    model = build_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *MODELS[name].input_shape))
    assert out.shape == (2, 10)


@pytest.mark.parametrize("name", ["resnet20", "resnet56"])
def test_pretrained_weights_classify_lossless_samples(shared_data, name):
    """The shared weights load as they are and classify the 20 lossless test images (20/20 reported)."""
    model = build_model(name).eval()
    load_weights(model, shared_data / f"{name}-cifar10.pt")
    splits = load_data(shared_data / "cifar10-test-first20-lossless.npz")
    x, y = next(iter(splits.loader("test", batch_size=20)))
    with torch.no_grad():
        predicted = model(x).argmax(1)
    assert int((predicted == y).sum()) >= 19
    assert np.allclose(splits.mean, (0.485, 0.456, 0.406))


def test_mobilenetv2_counts_match_hand_arithmetic():
    stages = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
              (6, 320, 1, 1))  # Sandler et al. Table 2 (t, c, n, s), CIFAR strides
    params, macs, cin, side = conv_bn(3, 32), 32 * 32 * 27 * 32, 32, 32
    for t, c, n, s in stages:
        for i in range(n):
            hidden, stride = cin * t, s if i == 0 else 1
            expand = conv_bn(cin, hidden, 1) if t != 1 else 0
            params += expand + 9 * hidden + 2 * hidden + conv_bn(hidden, c, 1)
            macs += (side * side * cin * hidden if t != 1 else 0)
            side //= stride
            macs += side * side * (9 * hidden + hidden * c)
            cin = c
    params += conv_bn(320, 1280, 1) + 1280 * 10 + 10
    macs += side * side * 320 * 1280 + 1280 * 10
    counts = count_model(build_model("mobilenetv2"), (3, 32, 32))
    assert side == 4 and counts.params == params == 2_236_682
    assert counts.macs == macs


def test_mobilenetv3_small_counts_match_hand_arithmetic():
    blocks = ((3, 16, 16, True, 1), (3, 72, 24, False, 2), (3, 88, 24, False, 1), (5, 96, 40, True, 2),
              (5, 240, 40, True, 1), (5, 240, 40, True, 1), (5, 120, 48, True, 1), (5, 144, 48, True, 1),
              (5, 288, 96, True, 2), (5, 576, 96, True, 1), (5, 576, 96, True, 1))
    # Howard et al. Table 2 (kernel, expansion, out, SE, stride), CIFAR strides; SE squeezes to 1/4
    params, macs, cin, side = conv_bn(3, 16), 32 * 32 * 27 * 16, 16, 32
    for k, hidden, c, se, stride in blocks:
        squeezed = hidden // 4 if se else 0
        expand = conv_bn(cin, hidden, 1) if hidden != cin else 0
        gate = 2 * hidden * squeezed + squeezed + hidden if se else 0  # reduce and expand 1x1 convs with biases
        params += expand + k * k * hidden + 2 * hidden + gate + conv_bn(hidden, c, 1)
        macs += side * side * cin * hidden if hidden != cin else 0
        side //= stride
        macs += side * side * (k * k * hidden + hidden * c) + 2 * hidden * squeezed  # SE on the 1x1 average
        cin = c
    params += conv_bn(96, 576, 1) + 576 * 1024 + 1024 + 1024 * 10 + 10
    macs += side * side * 96 * 576 + 576 * 1024 + 1024 * 10
    counts = count_model(build_model("mobilenetv3_small"), (3, 32, 32))
    assert side == 4 and counts.params == params == 1_522_488
    assert counts.macs == macs == 17_501_728
