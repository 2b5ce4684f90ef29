"""On-device kernel tuning: a handful of register-tile settings (``codegen.kernels.tile_candidates``, the fixed
rule first), each built into one whole-model candidate (setting k on every conv/linear layer), measured per kernel
on the device (milliseconds from ``--profile`` on a real device, executed instructions under qemu), the cheapest
setting picked per layer, and a final build with the picks, checked against onnxruntime and measured whole.

The choice is cached as JSON under ``$AUTOCOMPRESS_CACHE/tuning``, keyed by the device fingerprint (which holds
the code generator's sources), the digest of the model's ONNX, the target and the candidates: tuning the same
model again on the same kind of device builds the final executable only.

>>> tuned = tune(model, get_device("qemu"), "out/r20", input_shape=(1, 3, 32, 32))
>>> print("\\n".join(describe(tuned)))
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from compress.files import write_json
from runtime import Device
from runtime.cache import cache_dir

from .fingerprint import MS, device_fingerprint
from .measure import TARGETS, default_runs, measure, rounds

if TYPE_CHECKING:
    from codegen import CompiledModel

FORMAT = 2  # of the cached choice; another format is tuned again


@dataclass(frozen=True)
class Tuned:
    """A tuned build: the final executable, the choice (``record``: candidates, each layer's tiles, costs and
    pick, every candidate's whole cost), the final build's measured whole cost, the fixed rule's build's whole
    cost it is compared with (``baseline``), and whether the choice came from the cache."""

    compiled: CompiledModel
    record: dict
    whole: float
    baseline: float
    cached: bool
    notices: tuple[str, ...] = ()

    @property
    def fixed_whole(self) -> float:
        """Whole cost of the fixed rule's build (candidate 0) as measured while tuning."""
        return self.record["candidate_wholes"][0]

    @property
    def predicted_whole(self) -> float:
        """The fixed rule's whole cost less what each layer's pick saves on its kernel."""
        return self.fixed_whole - sum(layer["costs"][0] - layer["costs"][layer["pick"]]
                                      for layer in self.record["layers"])

    @property
    def unit(self) -> str:
        return self.record["fingerprint"]["unit"]

    @property
    def labels(self) -> list[str]:
        """Each candidate's short name (``TileConfig.label``), in the record's order."""
        from codegen.kernels import TileConfig

        return [TileConfig(**candidate).label() for candidate in self.record["candidates"]]


def tune(model, device: Device, out_dir: str | Path, *, input_shape=None, name: str | None = None,
         threads: int = 1, runs: int | None = None, mattr=(), mcpu: str | None = None,
         candidates=None, cache: str | Path | None = None) -> Tuned:
    """Compile ``model`` (as ``codegen.compile_model`` takes it) into ``out_dir`` for ``device``'s target with the
    tile setting per layer that measured cheapest on ``device`` at ``threads`` threads (``runs`` timed runs or
    counted inferences each; default ``default_runs``).

    ``candidates``: the ``codegen.kernels.TileConfig`` settings tried, the fixed rule first (default: the
    target's ``tile_candidates``). ``cache`` defaults to ``$AUTOCOMPRESS_CACHE/tuning``."""
    from codegen.compile import intake
    from codegen.kernels import FIXED_RULE, tile_candidates
    from codegen.targets import get_target

    target = TARGETS[device.name.partition(":")[0]]
    vector = get_target(target, mattr, mcpu).vector_shape()
    candidates = tuple(candidates or tile_candidates(*vector))
    if candidates[0] != FIXED_RULE:
        raise ValueError(f"the first tile candidate must be the fixed rule (the baseline), got {candidates[0]}")
    onnx_model, name, notices = intake(model, input_shape, name)
    key = {"fingerprint": device_fingerprint(device, threads), "target": target, "mattr": list(mattr),
           "mcpu": mcpu, "model": hashlib.sha256(onnx_model.SerializeToString()).hexdigest()[:16],
           "candidates": [asdict(c) for c in candidates]}
    path = cache_path(key, name, cache)
    options = {"target": target, "name": name, "mattr": mattr, "mcpu": mcpu, "vector": vector}
    timing = (threads, runs or default_runs(device))
    record = _cached(path)
    cached = record is not None
    with tempfile.TemporaryDirectory(prefix="autocompress-tune-") as tmp:
        if not cached:
            record = {"format": FORMAT, **key,
                      **_measure_candidates(onnx_model, device, candidates, options, timing, Path(tmp))}
            write_json(path, record)
        picks = {layer["kernel"]: candidates[layer["pick"]] for layer in record["layers"] if layer["pick"]}
        compiled = _build(onnx_model, out_dir, options, picks)
        fixed = Path(tmp) / "candidate0"
        whole, baseline = _whole_costs(device, compiled, None if cached or device.emulated else fixed, timing)
    return Tuned(compiled, record, whole, record["candidate_wholes"][0] if baseline is None else baseline, cached,
                 tuple(notices))


def cache_path(key: dict, name: str, cache: str | Path | None = None) -> Path:
    """Where the choice for ``key`` (fingerprint, target, model digest, candidates) lives."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache) if cache is not None else cache_dir("tuning")
    return folder / f"{name}-{key['fingerprint']['kind']}-{digest}.json"


def pick(costs: list[float | None], tiles: list) -> int:
    """The candidate of least cost among those measured that give a tile no earlier candidate gave (the same
    tile is the same code); the earliest on ties, so the fixed rule (candidate 0) unless another beats it."""
    distinct = [k for k, cost in enumerate(costs) if cost is not None and tiles[k] not in tiles[:k]]
    return min(distinct, key=costs.__getitem__, default=0)


def describe(tuned: Tuned) -> list[str]:
    """One line per layer (its pick, tile and cost against the fixed rule's), then the gain."""
    unit, labels = tuned.unit, tuned.labels
    lines = []
    for layer in tuned.record["layers"]:
        k, costs = layer["pick"], layer["costs"]
        lines.append(f"  {layer['kernel']}: {labels[k]} (tile {_tile_text(layer['tiles'][k])}) "
                     f"{_cost(costs[0], unit)} -> {_cost(costs[k], unit)} ({_change(costs[k], costs[0])})")
    lines.append(f"tuned vs fixed rule on {tuned.record['fingerprint']['kind']} ({unit}): predicted "
                 f"{_cost(tuned.predicted_whole, unit)} against {_cost(tuned.fixed_whole, unit)} "
                 f"({_change(tuned.predicted_whole, tuned.fixed_whole)}), measured {_cost(tuned.whole, unit)} against "
                 f"{_cost(tuned.baseline, unit)} ({_change(tuned.whole, tuned.baseline)})"
                 + (" (choice from the cache)" if tuned.cached else ""))
    return lines


def _measure_candidates(onnx_model, device: Device, candidates, options: dict, timing: tuple[int, int],
                        work: Path) -> dict:
    """Build every candidate into ``work/candidateK`` and measure it; per layer, its tile and kernel cost under
    each, and its pick."""
    wholes, costs, layers = [], [], None
    for k, setting in enumerate(candidates):
        compiled = _build(onnx_model, work / f"candidate{k}", options, setting)
        measured = measure(device, compiled, *timing, profile=True)
        wholes.append(measured.whole)
        costs.append(measured.kernels)
        layers = layers or [layer for layer in compiled.info["layers"] if layer["tile_setting"] is not None]
    table = []
    for layer in layers:
        tiles = [_tile(setting, layer["pixels"], options["vector"]) for setting in candidates]
        layer_costs = [kernels.get(layer["kernel"]) for kernels in costs]
        table.append({"kernel": layer["kernel"], "tiles": tiles, "costs": layer_costs,
                      "pick": pick(layer_costs, tiles)})
    return {"candidate_wholes": wholes, "layers": table}


def _whole_costs(device: Device, final, fixed: Path | None, timing: tuple[int, int]) -> tuple[float, float | None]:
    """The final build's whole cost (its output checked against onnxruntime) and, when ``fixed`` holds the fixed
    rule's build, that build's, measured in alternation with it: a real device's speed drifts (other load,
    clocks), qemu's counts do not."""
    from codegen import CompiledModel

    if fixed is None:
        return measure(device, final, *timing, profile=False).whole, None
    builds = (final, CompiledModel.load(fixed))
    costs = [[measure(device, c, *timing, profile=False, repeats=1).whole for c in builds]
             for _ in range(rounds(device))]
    return min(c[0] for c in costs), min(c[1] for c in costs)


def _build(onnx_model, out_dir: str | Path, options: dict, tiles):
    """One build of ``onnx_model`` with ``tiles`` (a setting for every layer, or one per kernel)."""
    from codegen import compile_model  # TVM: imported only where something is compiled

    return compile_model(onnx_model, options["target"], out_dir, name=options["name"], mattr=options["mattr"],
                         mcpu=options["mcpu"], tiles=tiles)


def _cached(path: Path) -> dict | None:
    """The choice saved at ``path``, if any and of this format."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("format") == FORMAT else None


def _tile(setting, pixels: int, vector: tuple[int, int]) -> list:
    """Every field of the tile ``setting`` gives the layer: two settings with equal tiles build the same code."""
    return list(astuple(setting.tile(pixels, *vector)))


def _tile_text(tile: list) -> str:
    mode, block, width, lane_fma, unroll, tap_block, prefetch = tile
    return (f"{mode} {block}x{width}" + (" lane-fma" if lane_fma else "") + (f" unroll{unroll}" if unroll > 1 else "")
            + (f" {tap_block}-tap blocks" if tap_block else "") + (f" prefetch {prefetch} taps" if prefetch else ""))


def _cost(value: float, unit: str) -> str:
    return f"{value:.4f} ms" if unit == MS else f"{value:,.0f}"


def _change(value: float, base: float) -> str:
    return f"{(value / base - 1) * 100:+.1f}%" if base else "n/a"
