"""The specialised conv/linear/depthwise kernels, one at a time, in process: every shape, mask and epilogue the
models need, plus odd ones (channel counts off the vector width, a single kept column, pruned filters, the
channel-table gather, depthwise channels without taps), against torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import tvm

from codegen.kernels import (HARDSWISH, RELU, RELU6, RUN_BUDGET, ConvSpec, Tile, choose_tile, conv_kernel,
                             depthwise_kernel, order_taps, pack, pack_depthwise)
from codegen.kernels.gemm import tap_spans
from codegen.structure import conv_spec, kept_structure
from codegen.targets import get_target

HOST = get_target("host")


def _layer(c, h, w, f, k, stride, pad, keep, seed, zero_filters=0, single_column=False):
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((f, c, k, k)).astype(np.float32)
    if single_column:
        mask = np.zeros((c, k, k), bool)
        mask[rng.integers(c), rng.integers(k), rng.integers(k)] = True
    else:
        mask = rng.random((c, k, k)) < keep
    weight *= mask[None]
    weight[rng.permutation(f)[:zero_filters]] = 0
    return weight, rng.standard_normal(f).astype(np.float32), rng.standard_normal((1, c, h, w)).astype(np.float32)


def _run_kernel(weight, bias, x, stride, pad, residual, relu, lanes=None, accumulators=None, tap_bytes=None):
    lanes, registers = (lanes, 32) if lanes else HOST.vector_shape()
    spec = conv_spec(weight, x.shape[1:], (stride, stride), (pad,) * 4, residual is not None, RELU if relu else ())
    tile = choose_tile(spec.pixels, lanes, registers, accumulators, tap_bytes=tap_bytes)
    packed = pack(spec, tile, weight, bias)
    out_shape = (1, spec.filters, spec.out_height, spec.out_width)
    func = conv_kernel(spec, tile, "conv", packed.zero_bias, x.shape, out_shape)
    return _call(func, [x, *packed.arrays], residual, out_shape), spec, tile


def _compile(func):
    """``func`` compiled for the host (its machine code: ``.mod.inspect_source("asm")``)."""
    return tvm.compile(tvm.IRModule({"kernel": func.with_attr("global_symbol", "kernel")}), target=HOST.tvm_target())


def _call(func, inputs: list, residual, out_shape, lib=None) -> np.ndarray:
    """Compile ``func`` for the host (unless ``lib`` holds it) and run it on ``inputs`` (+ residual), returning its
    output."""
    kernel = (lib or _compile(func)).mod["kernel"]
    tensors = [tvm.runtime.tensor(a) for a in inputs + ([residual] if residual is not None else [])]
    tensors.append(tvm.runtime.tensor(np.zeros(out_shape, np.float32)))
    kernel(*tensors)
    return tensors[-1].numpy()


def _reference(weight, bias, x, stride, pad, residual, relu):
    out = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias),
                                     stride, pad).numpy()
    out = out + residual if residual is not None else out
    return np.maximum(out, 0) if relu else out


CASES = {  # c, h, w, f, k, stride, pad, keep, extra
    "resnet-3x3": (16, 32, 32, 16, 3, 1, 1, 1.0, {}),
    "odd-channels-stride2": (5, 7, 9, 7, 3, 2, 1, 0.5, {}),
    "filters-off-vector-width": (3, 6, 6, 17, 3, 1, 1, 1.0, {}),
    "single-kept-column": (8, 8, 8, 12, 3, 1, 1, 0.0, {"single_column": True}),
    "pruned-filters": (6, 8, 8, 9, 3, 1, 1, 0.6, {"zero_filters": 3}),
    "1x1-stride2": (16, 16, 16, 32, 1, 2, 0, 1.0, {}),
    "1x1-identity": (24, 8, 8, 20, 1, 1, 0, 1.0, {}),
    "small-image-filter-tiles": (40, 2, 2, 37, 3, 1, 1, 0.7, {}),
    "channel-table-gather": (48, 6, 6, 10, 3, 1, 1, 0.5, {}),
    "wide-image-padded-copy": (3, 5, 40, 8, 3, 2, 1, 0.8, {}),
}


@pytest.mark.parametrize("epilogue", ["plain", "relu", "residual+relu"])
@pytest.mark.parametrize("case", list(CASES))
def test_kernel_matches_torch(case, epilogue):
    c, h, w, f, k, stride, pad, keep, extra = CASES[case]
    weight, bias, x = _layer(c, h, w, f, k, stride, pad, keep, seed=len(case), **extra)
    relu = epilogue != "plain"
    out_hw = ((h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
    residual = np.random.default_rng(1).standard_normal((1, f, *out_hw)).astype(np.float32) \
        if "residual" in epilogue else None
    got, spec, tile = _run_kernel(weight, bias, x, stride, pad, residual, relu)
    want = _reference(weight, bias, x, stride, pad, residual, relu)
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert spec.useful_macs == int((weight != 0).any(axis=0).sum()) * len(spec.rows) * spec.pixels
    if case == "channel-table-gather":
        assert not spec.straight_line and len(spec.runs) > RUN_BUDGET
    if case == "small-image-filter-tiles":
        assert tile.mode == "filters"


@pytest.mark.parametrize("shape,want", [((13, 10, 10, 11), Tile("pixels", 12, 8, 4, 2)),
                                        ((9, 1, 3, 10), Tile("filters", 8, 3, 4, 2))])
def test_neon_tiles_match_torch_on_host(shape, want):
    """The ARM64 tiles (4 lanes, 32 registers: lane-indexed FMAs, two taps per iteration) computed on the host,
    an odd number of kept taps and a ragged last block or pixel vector: same numbers."""
    weight, bias, x = _layer(*shape, 3, 1, 1, 0.5, seed=3)
    got, spec, tile = _run_kernel(weight, bias, x, 1, 1, None, True, lanes=4)
    assert tile == want and len(spec.taps) % 2 == 1
    assert np.abs(got - _reference(weight, bias, x, 1, 1, None, True)).max() <= 1e-4


def test_tile_of_more_than_a_kibibyte_of_accumulators_matches_torch():
    """24 AVX-512 accumulators: 12 filters x 32 pixels, 1.5 KiB, one buffer per vector row (TVM would put a
    buffer above 1 KiB on the heap), with a ragged last filter block."""
    weight, bias, x = _layer(16, 12, 12, 30, 3, 1, 1, 0.7, seed=5)
    got, _, tile = _run_kernel(weight, bias, x, 1, 1, None, True, lanes=16, accumulators=24)
    assert tile == Tile("pixels", 12, 32, 0, 1, prefetch=86)  # 4 KiB of 12-filter taps ahead: 86 taps
    assert np.abs(got - _reference(weight, bias, x, 1, 1, None, True)).max() <= 1e-4


@pytest.mark.parametrize("lanes,tap_bytes,passes", [(16, 12288, 2), (16, 5120, 5), (4, 1536, 4)])
def test_taps_in_blocks_give_the_same_bits_as_all_taps_at_once(lanes, tap_bytes, passes):
    """Blocks of taps (partial sums kept between passes over the filter blocks; a first, middle and shorter
    last pass) add every output in the same order as one pass, residual and ReLU included: the same bits."""
    weight, bias, x = _layer(24, 9, 9, 14, 3, 1, 1, 0.8, seed=7)
    residual = np.random.default_rng(8).standard_normal((1, 14, 9, 9)).astype(np.float32)
    whole, spec, _ = _run_kernel(weight, bias, x, 1, 1, residual, True, lanes=lanes, tap_bytes=0)
    got, _, tile = _run_kernel(weight, bias, x, 1, 1, residual, True, lanes=lanes, tap_bytes=tap_bytes)
    assert len(tap_spans(len(spec.taps), tile.tap_block)) == passes
    assert np.array_equal(got, whole)
    assert np.abs(got - _reference(weight, bias, x, 1, 1, residual, True)).max() <= 1e-4


@pytest.mark.parametrize("c,h,f,k", [(24, 9, 14, 3), (40, 1, 10, 1)])  # pixels mode; filters mode (a linear layer)
def test_weight_prefetch_changes_no_bit_and_is_emitted(c, h, f, k):
    """The x86 default prefetches packed weights ahead of the tap loop, past the buffer's end on the last taps
    of the last block: the same bits as without it, and the prefetch is in the machine code."""
    weight, bias, x = _layer(c, h, h, f, k, 1, k // 2, 0.8, seed=9)
    runs = {}
    for prefetch_bytes in (0, 4096):
        spec = conv_spec(weight, x.shape[1:], (1, 1), (k // 2,) * 4, False, RELU)
        tile = choose_tile(spec.pixels, *HOST.vector_shape(), prefetch_bytes=prefetch_bytes)
        packed = pack(spec, tile, weight, bias)
        func = conv_kernel(spec, tile, "conv", packed.zero_bias, x.shape, (1, f, h, h))
        lib = _compile(func)
        runs[prefetch_bytes] = (tile, _call(func, [x, *packed.arrays], None, (1, f, h, h), lib),
                                lib.mod.inspect_source("asm"))
    (off, got_off, asm_off), (on, got_on, asm_on) = runs[0], runs[4096]
    assert off.prefetch == 0 and on.prefetch == -(-4096 // (4 * on.block)) and on.mode == ("pixels" if h > 1 else
                                                                                            "filters")
    assert np.array_equal(got_on, got_off)
    assert "prefetcht0" in asm_on and "prefetcht0" not in asm_off


def test_tap_spans_cover_every_tap_once_in_passes_of_one_size():
    for taps, block in [(173, 40), (128, 128), (129, 128), (7, 0), (5, 9), (0, 4)]:
        spans = tap_spans(taps, block)
        assert [k for first, n in spans for k in range(first, first + n)] == list(range(taps))
        assert len({n for _, n in spans[:-1]}) <= 1 and spans[-1][1] <= spans[0][1]
        assert all(n <= block for _, n in spans) or len(spans) == 1


def test_structure_detection_finds_zero_columns_and_filters():
    weight = np.ones((4, 3, 3, 3), np.float32)
    weight[:, 1] = 0  # input channel 1: every tap pruned
    weight[:, 0, 0, 2] = 0  # one column
    weight[2] = 0  # one filter
    taps, rows = kept_structure(weight)
    assert rows == (0, 1, 3)
    assert len(taps) == 27 - 9 - 1 and (0, 0, 2) not in taps and all(c != 1 for c, _, _ in taps)
    assert list(taps) == sorted(taps, key=lambda t: (t[1], t[2], t[0]))


def test_runs_group_consecutive_channels():
    spec = ConvSpec(6, 4, 4, 2, (3, 3), (1, 1), (1, 1, 1, 1),
                    order_taps([(0, 0, 0), (1, 0, 0), (2, 0, 0), (4, 0, 0), (0, 1, 1)]), (0, 1))
    assert [(r.kh, r.kw, r.c0, r.count, r.t0) for r in spec.runs] == [(0, 0, 0, 3, 0), (0, 0, 4, 1, 3),
                                                                      (1, 1, 0, 1, 4)]


ACTIVATIONS = {"none": ((), lambda t: t), "relu6": (RELU6, torch.nn.functional.relu6),
               "hardswish": (HARDSWISH, torch.nn.functional.hardswish)}
DEPTHWISE = {  # c, h, w, k, stride, pad, residual, activation, channels without taps
    "mobilenet-s1": (96, 16, 16, 3, 1, 1, False, "relu6", 0),
    "mobilenet-s2": (144, 8, 8, 3, 2, 1, False, "relu6", 0),
    "odd-stride2-residual-hardswish": (7, 9, 11, 3, 2, 1, True, "hardswish", 2),
    "unpadded-residual": (6, 5, 5, 3, 1, 0, True, "none", 0),
    "5x5-stride2": (5, 6, 7, 5, 2, 2, False, "relu6", 0),
    "pruned-channels": (24, 4, 4, 3, 1, 1, True, "relu6", 9),
}


@pytest.mark.parametrize("case", list(DEPTHWISE))
def test_depthwise_kernel_matches_torch(case):
    c, h, w, k, stride, pad, with_residual, act, empty = DEPTHWISE[case]
    rng = np.random.default_rng(len(case))
    weight = rng.standard_normal((c, 1, k, k)).astype(np.float32)
    weight[rng.permutation(c)[:empty]] = 0
    bias, x = rng.standard_normal(c).astype(np.float32), rng.standard_normal((1, c, h, w)).astype(np.float32)
    steps, reference = ACTIVATIONS[act]
    spec = conv_spec(weight, (c, h, w), (stride, stride), (pad,) * 4, with_residual, steps, groups=c)
    out_shape = (1, c, spec.out_height, spec.out_width)
    residual = rng.standard_normal(out_shape).astype(np.float32) if with_residual else None
    got = _call(depthwise_kernel(spec, "dw", x.shape, out_shape), [x, *pack_depthwise(spec, weight, bias)],
                residual, out_shape)
    want = torch.nn.functional.conv2d(*(torch.from_numpy(a) for a in (x, weight, bias)), stride, pad, groups=c)
    want = reference(want + torch.from_numpy(residual) if with_residual else want).numpy()
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert len(spec.rows) == c - empty and spec.useful_macs == len(spec.rows) * k * k * spec.pixels
