"""The on-device kernel tuner (``latency.tuning``, ``autocompress compile --tune``) under qemu, whose instruction
counts per kernel are exact: picks, the final build, the cache by device fingerprint and model."""
from __future__ import annotations

import json

import onnx
import pytest
import torch
from torch import nn

import codegen.kernels
import latency.tuning
from autocompress.cli import main
from codegen.frontend import export_torch
from codegen.kernels import FIXED_RULE, TileConfig
from latency.tuning import pick, tune
from runtime import get_device
from runtime.insn_count import kernel_instructions

# 16 accumulators tile the 8-filter layer exactly (the fixed rule's 24 leave a third of each block empty); the
# fixed rule wins on the 12-filter layer
CANDIDATES = (FIXED_RULE, TileConfig(accumulators=16))
RUNS = 8  # counted inferences: the whole count varies by a few hundred instructions per process, kernels' do not


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    """A two-conv net as an ONNX file."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1, stride=2),
                          nn.ReLU(), nn.Flatten(), nn.Linear(12 * 16 * 16, 10)).eval()
    path = tmp_path_factory.mktemp("tuning") / "tiny.onnx"
    onnx.save(export_torch(model, (1, 3, 32, 32)), str(path))
    return path


@pytest.fixture(scope="module")
def tiny(tiny_onnx):
    """``tiny_onnx`` tuned once under qemu with ``CANDIDATES``: the ONNX path, the cache folder, the result."""
    root = tiny_onnx.parent
    with pytest.MonkeyPatch.context() as patch:  # set up before the per-test cache folder of conftest.py
        patch.setenv("AUTOCOMPRESS_CACHE", str(root / "user-cache"))
        tuned = tune(tiny_onnx, get_device("qemu"), root / "tuned", runs=RUNS, candidates=CANDIDATES,
                     cache=root / "cache")
    return tiny_onnx, root / "cache", tuned


@pytest.mark.qemu
@pytest.mark.slow
def test_picks_are_the_cheapest_measured_kernels(tiny):
    _, _, tuned = tiny
    layers = tuned.record["layers"]
    assert [layer["kernel"] for layer in layers] == [layer["kernel"] for layer in tuned.compiled.info["layers"]]
    for layer in layers:
        assert layer["pick"] == min(range(len(CANDIDATES)), key=layer["costs"].__getitem__)
    assert [layer["pick"] for layer in layers][:2] == [1, 0]  # each setting wins somewhere: a real mix
    final = kernel_instructions(tuned.compiled, runs=2)  # exact: the picked kernels are the measured ones
    assert {k: final[k] for k in (layer["kernel"] for layer in layers)} == \
        {layer["kernel"]: layer["costs"][layer["pick"]] for layer in layers}
    settings = [layer["tile_setting"] for layer in tuned.compiled.info["layers"]]
    fixed = {"accumulators": None, "lane_fma": None, "unroll": None, "tap_bytes": None, "prefetch_bytes": None}
    assert settings[:2] == [{**fixed, "accumulators": 16}, fixed]


@pytest.mark.qemu
@pytest.mark.slow
def test_tuned_build_executes_no_more_than_the_fixed_rule(tiny):
    _, _, tuned = tiny
    assert not tuned.cached and tuned.unit == "emulated AArch64 instructions"
    assert tuned.baseline == tuned.fixed_whole  # qemu's counts repeat: the fixed rule's build is not counted again
    assert tuned.whole <= tuned.fixed_whole and tuned.predicted_whole < tuned.fixed_whole


@pytest.mark.qemu
@pytest.mark.slow
def test_cli_tuning_reuses_the_cache(tiny, tmp_path, monkeypatch, capsys):
    path, cache, _ = tiny
    monkeypatch.setattr(latency.tuning, "cache_dir", lambda part: cache)
    monkeypatch.setattr(codegen.kernels, "tile_candidates", lambda lanes, registers: CANDIDATES)
    builds = []
    build = latency.tuning._build
    monkeypatch.setattr(latency.tuning, "_build", lambda *args: builds.append(args[1]) or build(*args))
    out = tmp_path / "out"
    assert main(["compile", "--onnx", str(path), "--tune", "--device", "qemu", "--target", "linux-aarch64",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert builds == [str(out)]  # the final build only: no candidate was built again
    assert "conv00_k27of27_f8of8: acc16 (tile pixels 8x8 lane-fma unroll2)" in text
    assert "tuned vs fixed rule on qemu (emulated AArch64 instructions)" in text and "from the cache" in text
    assert json.loads((out / "compile.json").read_text())["layers"][0]["tile_setting"]["accumulators"] == 16


@pytest.mark.qemu
@pytest.mark.slow
def test_changed_fingerprint_misses_the_cache(tiny, tmp_path, monkeypatch):
    path, cache, _ = tiny

    def other_emulator(device, threads):
        return {**fingerprint(device, threads), "emulator": "qemu-aarch64 version 99"}

    def measured(*args):
        raise LookupError("candidates built")

    fingerprint = latency.tuning.device_fingerprint
    monkeypatch.setattr(latency.tuning, "device_fingerprint", other_emulator)
    monkeypatch.setattr(latency.tuning, "_measure_candidates", measured)
    with pytest.raises(LookupError, match="candidates built"):
        tune(path, get_device("qemu"), tmp_path / "out", candidates=CANDIDATES, cache=cache)


def test_pick_skips_repeated_tiles_and_prefers_the_fixed_rule_on_ties():
    assert pick([5.0, 5.0, 4.0], [["a"], ["b"], ["a"]]) == 0  # candidate 2 is candidate 0's code
    assert pick([5.0, 4.0, None], [["a"], ["b"], ["c"]]) == 1


@pytest.mark.parametrize("vector", [(16, 32), (4, 32)])  # AVX-512, NEON
def test_every_candidate_is_other_code_than_the_fixed_rule_somewhere(vector):
    """A candidate whose tiles equal the fixed rule's on every layer shape could never be picked (``pick`` skips
    repeated tiles): tap blocks and the weight prefetch change fields of the tile beyond its shape."""
    from codegen.kernels import tile_candidates

    for candidate in tile_candidates(*vector)[1:]:
        assert any(latency.tuning._tile(candidate, pixels, vector) != latency.tuning._tile(FIXED_RULE, pixels, vector)
                   for pixels in (1, 16, 64, 1024)), candidate.label()


@pytest.mark.parametrize("flags, message", [
    (["--tune", "--device", "qemu"], "--tune --device qemu runs linux-aarch64 binaries, not --target host"),
    (["--tune", "--target", "linux-aarch64"], "--tune --device host runs host binaries, not --target linux-aarch64"),
    (["--device", "qemu", "--target", "linux-aarch64"], "--device applies to --tune"),
    (["--tune", "--schedule", "none"], "--tune chooses the tiles of --schedule auto's kernels"),
])
def test_bad_tuning_flags_exit_2_with_one_line(flags, message, tmp_path, capsys):
    assert main(["compile", "small_cnn", *flags, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_host_measures_the_fixed_rule_build_beside_the_final_one(tiny_onnx, tmp_path, monkeypatch):
    measured = []
    real = latency.tuning.measure

    def spy(device, compiled, *args, **kwargs):
        measured.append((compiled.out_dir.name, kwargs["profile"]))
        return real(device, compiled, *args, **kwargs)

    monkeypatch.setattr(latency.tuning, "measure", spy)
    tuned = tune(tiny_onnx, get_device("host"), tmp_path / "out", runs=3, candidates=(FIXED_RULE,), cache=tmp_path)
    assert measured == [("candidate0", True)] + [("out", False), ("candidate0", False)] * 3
    assert not tuned.cached and tuned.unit == "ms" and tuned.baseline > 0 and tuned.whole > 0
    assert [layer["pick"] for layer in tuned.record["layers"]] == [0, 0, 0]
