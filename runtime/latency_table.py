"""Per-layer latency tables of one architecture on one device, and the whole-model predictions they give.

A table is built from pruned variants of the registry model on a grid of kept fractions: for every
(filter keep, column keep) pair of ``steps``, whole filters and whole columns of every conv are zeroed by
magnitude, the model is compacted, compiled once for the device and run once with per-kernel profiling
(on qemu: per-kernel executed instructions, never time). Each build measures every layer at once, so a
table costs ``len(steps) ** 2`` builds. Per layer, a least-squares fit over the measured points
(``runtime.predictor``) interpolates to any kept structure; the kernels that are not layers (pooling,
shortcuts) are fitted on the activation volume, and the rest of the inference (the driver's copies and
loop) is the median over the grid. ``predict`` reads the kept structure of any pruned model of the architecture from
its weights (masked or compacted) and costs the compacted model, in milliseconds, or in emulated AArch64
instructions for qemu.

Tables are JSON files under ``$AUTOCOMPRESS_CACHE/latency`` (default ``~/.cache/autocompress/latency``),
keyed by the device fingerprint (which includes the code generator's sources), the architecture, the input
shape and the steps.

>>> table = LatencyTable.load_or_build("resnet20", "host")
>>> table.predict(pruned_model, (1, 3, 32, 32))       # ms
>>> table.accuracy["grid_leave_one_out"]["mean_rel_error"]
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np
from torch import nn

from compress.counting import count_model
from compress.models import get_spec
from compress.pruning import layer_weights, trace_structure
from compress.variants import calibrated_model, grid_rates, prune

from . import get_device
from .cache import cache_dir
from .device import Device
from .insn_count import PLUGIN_SOURCE, instructions_per_inference, kernel_instructions
from .predictor import KeptLayer, fit, kept_layers, kept_weights, layer_features, nonlayer_features

FORMAT = 1
DEFAULT_STEPS = (1.0, 0.75, 0.5, 0.25)
MS = "ms"
INSTRUCTIONS = "emulated AArch64 instructions"
TARGETS = {"host": "host", "qemu": "linux-aarch64", "adb": "android-arm64"}
ROOT = Path(__file__).resolve().parent.parent
CODEGEN_SOURCES = ("codegen/**/*.py", "android_bench/*.c", "android_bench/*.h")
STRUCTURE_CACHE = 32  # traced structures of compacted shapes kept per table
REPEATS = 3  # benchmark processes per measurement on a real device
SPILL_GAIN = 0.5  # a spill threshold is used only if it halves the grid's leave-one-out error


class Fits(NamedTuple):
    """Per-layer coefficients, the other kernels' coefficients, the driver's overhead (median), and the kept
    weights above which a model's weights spill from the cache."""

    layers: list[np.ndarray]
    other: np.ndarray
    overhead: float
    spill: float


def device_fingerprint(device: Device, threads: int) -> dict:
    """What a table's costs depend on: the device (kind; CPU model and cores, or the emulator), threads,
    the cost unit, and the versions of TVM and of the project's code generator."""
    kind = device.name.partition(":")[0]
    if kind == "qemu":
        version = subprocess.run([device.qemu, "--version"], capture_output=True, text=True).stdout
        facts = {"emulator": version.splitlines()[0].strip(), "plugin": _digest([PLUGIN_SOURCE])}
    elif kind == "adb":
        facts = {"serial": device.serial, "model": device.shell("getprop", "ro.product.model").strip(),
                 "soc": device.shell("getprop", "ro.board.platform").strip(),
                 **_cpuinfo(device.shell("cat", "/proc/cpuinfo"))}
    else:
        facts = {"machine": platform.machine(), **_cpuinfo(Path("/proc/cpuinfo").read_text())}
    software = {"tvm": metadata.version("apache-tvm"),
                "codegen": _digest(sorted(p for g in CODEGEN_SOURCES for p in ROOT.glob(g)))}
    return {"kind": kind, **facts, "threads": threads, "unit": INSTRUCTIONS if device.emulated else MS,
            "software": software}


def _cpuinfo(text: str) -> dict:
    """CPU model and core count from a /proc/cpuinfo text (x86 "model name", ARM "Hardware" or parts)."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), []).append(value.strip())
    parts = sorted(set(fields.get("CPU part", [])))
    cpu = (fields.get("model name") or fields.get("Hardware") or [f"CPU parts {', '.join(parts)}"])[0]
    return {"cpu": cpu, "cores": len(fields.get("processor", []))}


def _digest(paths) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(Path(path).read_bytes())
    return sha.hexdigest()[:16]


@dataclass(frozen=True)
class Measurement:
    """One compiled model on one device: the whole inference and each kernel (summed over its calls)."""

    whole: float
    kernels: dict[str, float]


def measure(device: Device, compiled, threads: int, runs: int, profile: bool = True,
            repeats: int = REPEATS) -> Measurement:
    """Cost of ``compiled`` on ``device``, after checking its output against onnxruntime.

    On a real device: ``repeats`` benchmark processes of ``runs`` timed runs (with ``--profile`` when
    ``profile``), and the smallest median of the whole inference and of each kernel: a process slowed down
    by other load on the machine does not count. Under qemu: instructions per inference (and per kernel).
    """
    if device.emulated:
        device.bench(compiled, runs=1, warmup=0)
        kernels = kernel_instructions(compiled, runs) if profile else {}
        return Measurement(float(instructions_per_inference(compiled.binary, runs).instructions), kernels)
    results = [device.bench(compiled, runs=runs, warmup=max(3, runs // 10), threads=threads, profile=profile)
               for _ in range(repeats)]
    kernels: dict[str, float] = {}
    for result in results:
        summed: dict[str, float] = {}
        for name, ms in result.kernel_ms or []:
            summed[name] = summed.get(name, 0.0) + ms
        kernels = {name: min(ms, kernels.get(name, ms)) for name, ms in summed.items()}
    return Measurement(min(r.median_ms for r in results), kernels)


def default_runs(device: Device) -> int:
    """Timed runs on a real device; counted inferences under qemu (counts repeat exactly)."""
    return 2 if device.emulated else 30


@dataclass
class LatencyTable:
    """Measured layer costs of grid variants of ``arch`` on one device, and the fits predicting from them."""

    arch: str
    device: str  # device spec, e.g. "host", "qemu", "adb:SERIAL"
    fingerprint: dict
    steps: tuple[float, ...]
    input_shape: tuple[int, ...]
    layers: list[dict]  # per conv/linear layer: name, kind, pixels, dense rows/taps, kernel_size, stride, block
    variants: list[dict] = field(default_factory=list)  # per grid point: keeps, costs, volume, layers
    build_seconds: float = 0.0
    spill_weights: float | None = None  # kept weights above which the weights spill from the cache; None: never
    accuracy: dict = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return self.fingerprint["unit"]

    @property
    def key(self) -> str:
        """Cache key: fingerprint, architecture, input shape and steps."""
        text = json.dumps({"format": FORMAT, "fingerprint": self.fingerprint, "arch": self.arch,
                           "input_shape": list(self.input_shape), "steps": list(self.steps)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ---- building -------------------------------------------------------------------------------------

    @classmethod
    def build(cls, arch: str, device_spec: str, steps=DEFAULT_STEPS, threads: int = 1, runs: int | None = None,
              workdir: str | Path | None = None, progress: bool = True, seed: int = 0) -> "LatencyTable":
        """Compile and measure every (filter keep, column keep) variant of ``arch`` on the steps grid.

        Parameters
        ----------
        arch : str
            A registry model (``compress.models``).
        device_spec : str
            ``host``, ``qemu`` or ``adb[:SERIAL]``.
        steps : sequence of float
            Kept fractions in (0, 1], used for filters and for columns alike.
        threads : int
            Threads of the measured runs (1 under qemu).
        runs : int, optional
            Timed runs per variant (default 30), or counted inferences under qemu (default 2).
        workdir : str or Path, optional
            Where the compiled variants go (default: a temporary folder, removed afterwards).
        progress : bool
            Print one line per variant to stderr.
        seed : int
            Seed of the model's weights and BatchNorm calibration.

        Returns
        -------
        table : LatencyTable
            With its leave-one-out accuracy over the grid in ``accuracy``.
        """
        device = get_device(device_spec)
        if device.emulated and threads != 1:
            raise ValueError(f"instruction counts are single-threaded; got threads={threads} for {device_spec}")
        steps = tuple(float(s) for s in steps)
        if not steps or any(not 0.0 < s <= 1.0 for s in steps):
            raise ValueError(f"steps must be kept fractions in (0, 1], got {steps}")
        runs = runs or default_runs(device)
        start = time.perf_counter()
        model, shape = calibrated_model(arch, seed)
        table = cls(arch, device_spec, device_fingerprint(device, threads), steps, shape, _dense_layers(model, shape))
        with tempfile.TemporaryDirectory(prefix="autocompress-latency-") as tmp:
            root = Path(workdir) if workdir is not None else Path(tmp)
            grid = list(itertools.product(steps, steps))
            for i, (f, c) in enumerate(grid):
                variant = prune(model, shape, grid_rates(model, shape, f, c))
                compiled = table._compile(variant, root / f"{arch}-f{f:g}-c{c:g}")
                table.variants.append(table._record(variant, compiled, measure(device, compiled, threads, runs)))
                table.variants[-1].update(filter_keep=f, column_keep=c)
                if progress:
                    print(f"[{i + 1}/{len(grid)}] {arch} filter keep {f:g}, column keep {c:g}: "
                          f"{table.variants[-1]['whole']:.6g} {table.unit}", file=sys.stderr, flush=True)
        table.build_seconds = round(time.perf_counter() - start, 1)
        table.spill_weights = table._spill_threshold()
        table.accuracy["grid_leave_one_out"] = table._leave_one_out(table._spill)
        return table

    @classmethod
    def load_or_build(cls, arch: str, device_spec: str, steps=DEFAULT_STEPS, threads: int = 1,
                      runs: int | None = None, workdir: str | Path | None = None, progress: bool = True,
                      cache: str | Path | None = None) -> "LatencyTable":
        """The cached table for this fingerprint, architecture, input shape and steps, else a new one (saved
        there). ``cache`` defaults to ``$AUTOCOMPRESS_CACHE/latency``."""
        path = cls.cache_path(arch, device_spec, steps, threads, cache)
        if path.is_file():
            return cls.load(path)
        table = cls.build(arch, device_spec, steps, threads, runs, workdir, progress)
        table.save(path)
        return table

    @classmethod
    def cache_path(cls, arch: str, device_spec: str, steps=DEFAULT_STEPS, threads: int = 1,
                   cache: str | Path | None = None) -> Path:
        """Where :meth:`load_or_build` keeps the table: named by architecture, device kind and key."""
        fingerprint = device_fingerprint(get_device(device_spec), threads)
        probe = cls(arch, device_spec, fingerprint, tuple(float(s) for s in steps), (1, *get_spec(arch).input_shape),
                    [])
        folder = Path(cache) if cache is not None else cache_dir("latency")
        return folder / f"{arch}-{fingerprint['kind']}-{probe.key}.json"

    def _compile(self, model: nn.Module, out_dir: Path):
        from codegen import compile_model  # TVM: imported only where a table is built or validated

        target = TARGETS[self.fingerprint["kind"]]
        return compile_model(model, target, out_dir, input_shape=self.input_shape, name=self.arch)

    def _record(self, model: nn.Module, compiled, measured: Measurement) -> dict:
        """One variant: its layers' structure (checked against the weights) and measured costs."""
        kept = self._kept(model)
        layers = []
        for meta, info, k in zip(self.layers, compiled.info["layers"], kept, strict=True):
            if (info["rows"], info["taps"], info["kind"]) != (k.rows, k.taps, meta["kind"]):
                raise RuntimeError(f"layer {meta['name']} of {self.arch}: compiled kernel {info['kernel']} keeps "
                                   f"{info['rows']} rows x {info['taps']} taps, the weights say {k.rows} x {k.taps}")
            if meta.setdefault("block", info["tile"][1]) != info["tile"][1]:  # the tile depends on pixels only
                raise RuntimeError(f"layer {meta['name']}: filter block {info['tile'][1]}, was {meta['block']}")
            layers.append({"kernel": info["kernel"], "rows": k.rows, "taps": k.taps, "channels": k.channels,
                           "input": info["input"], "cost": measured.kernels[info["kernel"]]})
        layer_kernels = {layer["kernel"] for layer in layers}
        other = sum(cost for name, cost in measured.kernels.items() if name not in layer_kernels)
        return {"whole": measured.whole, "other_kernels": other,
                "overhead": measured.whole - sum(measured.kernels.values()), "volume": _volume(kept, self.layers),
                "layers": layers}

    # ---- predicting -----------------------------------------------------------------------------------

    @property
    def _spill(self) -> float:
        return math.inf if self.spill_weights is None else self.spill_weights

    @cached_property
    def _fits(self) -> Fits:
        return self._fit(self.variants, self._spill)

    def _fit(self, variants: list[dict], spill: float) -> Fits:
        spilled = [_weights(v) > spill for v in variants]
        per_layer = []
        for i, meta in enumerate(self.layers):
            points = [v["layers"][i] for v in variants]
            features = _layer_x(meta, [p["rows"] for p in points], [p["taps"] for p in points], spilled)
            per_layer.append(fit(features, [p["cost"] for p in points]))
        other = fit(nonlayer_features([v["volume"] for v in variants]), [v["other_kernels"] for v in variants])
        return Fits(per_layer, other, float(np.median([v["overhead"] for v in variants])), spill)

    def _spill_threshold(self) -> float | None:
        """Of "never" and the midpoints between the grid's kept-weight counts, the spill threshold with the
        smallest leave-one-out error, if it beats "never" by ``SPILL_GAIN``. Never for instruction counts."""
        if self.unit == INSTRUCTIONS:
            return None
        counts = sorted({_weights(v) for v in self.variants})
        candidates = [math.inf] + [(a + b) / 2 for a, b in zip(counts, counts[1:])]
        errors = [self._leave_one_out(c)["mean_rel_error"] for c in candidates]
        best = int(np.argmin(errors))
        return candidates[best] if errors[best] < SPILL_GAIN * errors[0] else None

    def _predict_kept(self, kept: list[KeptLayer], fits: Fits | None = None) -> tuple[list[float], float]:
        """Per-layer costs and the cost outside layer kernels (other kernels + the driver's overhead)."""
        fits = fits or self._fits
        spilled = kept_weights(kept) > fits.spill
        costs = [max(float(_layer_x(m, k.rows, k.taps, spilled) @ coef), 0.0)
                 for k, m, coef in zip(kept, self.layers, fits.layers)]
        other = max(float(nonlayer_features(_volume(kept, self.layers)) @ fits.other), 0.0)
        return costs, other + fits.overhead

    @cached_property
    def _structures(self) -> dict:
        model, shape = calibrated_model(self.arch)
        return {_signature(layer_weights(model)): _trace(model, shape)}

    def _kept(self, model: nn.Module) -> list[KeptLayer]:
        weights = layer_weights(model)
        if sorted(weights) != sorted(m["name"] for m in self.layers):
            raise ValueError(f"the model's conv/linear layers ({', '.join(list(weights)[:4])}, ...) are not those "
                             f"of {self.arch} ({', '.join(m['name'] for m in self.layers[:4])}, ...)")
        signature = _signature(weights)
        structure = self._structures.get(signature)
        if structure is None:
            if len(self._structures) >= STRUCTURE_CACHE:
                del self._structures[list(self._structures)[1]]  # the oldest after the dense one
            structure = self._structures[signature] = _trace(model, self.input_shape)
        return kept_layers(model, structure)

    def _check_shape(self, input_shape) -> None:
        if tuple(input_shape) != tuple(self.input_shape):
            raise ValueError(f"this table was measured at input shape {tuple(self.input_shape)}, "
                             f"not {tuple(input_shape)}")

    def predict(self, model: nn.Module, input_shape) -> float:
        """Predicted cost (``unit``) of the compacted form of ``model``, a pruned ``arch`` (masked or compacted)."""
        self._check_shape(input_shape)
        costs, nonlayer = self._predict_kept(self._kept(model))
        return sum(costs) + nonlayer

    def predict_kept(self, kept: Mapping[str, tuple[int, int]]) -> float:
        """Predicted cost from each layer's kept (rows, taps) alone, as the search's cost model counts them: no
        model, no tracing (tens of microseconds). Output channels are taken as the kept rows, and channels that
        only compaction would remove (a channel whose every column is pruned) are not found, so this is the
        module prediction of ``predict`` without its purification step: at or slightly above it."""
        missing = [m["name"] for m in self.layers if m["name"] not in kept]
        if missing:
            raise ValueError(f"kept counts lack {len(missing)} layer(s) of {self.arch}: {', '.join(missing[:4])}")
        layers = [KeptLayer(m["name"], rows if taps else 0, taps, rows)
                  for m in self.layers for rows, taps in [kept[m["name"]]]]
        costs, nonlayer = self._predict_kept(layers)
        return sum(costs) + nonlayer

    def predict_layers(self, model: nn.Module, input_shape) -> list[dict]:
        """Per conv/linear layer: name, kept rows and taps, and predicted cost; then one ``(non-layer)`` row."""
        self._check_shape(input_shape)
        kept = self._kept(model)
        costs, nonlayer = self._predict_kept(kept)
        rows = [{"name": k.name, "rows": k.rows, "taps": k.taps, "channels": k.channels, "cost": c}
                for k, c in zip(kept, costs)]
        return rows + [{"name": "(non-layer)", "cost": nonlayer}]

    # ---- accuracy -------------------------------------------------------------------------------------

    def _leave_one_out(self, spill: float) -> dict:
        """Each grid variant predicted from fits over all the others, vs its measured whole cost."""
        predicted = []
        for i, variant in enumerate(self.variants):
            rest = self.variants[:i] + self.variants[i + 1:]
            kept = [KeptLayer(m["name"], p["rows"], p["taps"], p["channels"])
                    for m, p in zip(self.layers, variant["layers"])]
            costs, nonlayer = self._predict_kept(kept, self._fit(rest or self.variants, spill))
            predicted.append(sum(costs) + nonlayer)
        return _errors(predicted, [v["whole"] for v in self.variants])

    def validate(self, models: list[nn.Module], runs: int | None = None,
                 workdir: str | Path | None = None) -> dict:
        """Compile and measure ``models`` (pruned ``arch``), compare with :meth:`predict`, and record the errors
        in ``accuracy["validation"]``; returns that record."""
        device = get_device(self.device)
        threads = self.fingerprint["threads"]
        if device_fingerprint(device, threads) != self.fingerprint:
            raise ValueError(f"device {self.device} no longer matches this table's fingerprint")
        runs = runs or default_runs(device)
        predicted, measured = [], []
        with tempfile.TemporaryDirectory(prefix="autocompress-latency-") as tmp:
            root = Path(workdir) if workdir is not None else Path(tmp)
            for i, model in enumerate(models):
                predicted.append(self.predict(model, self.input_shape))
                compiled = self._compile(model, root / f"{self.arch}-check{i}")
                measured.append(measure(device, compiled, threads, runs, profile=False).whole)
        self.accuracy["validation"] = _errors(predicted, measured)
        return self.accuracy["validation"]

    # ---- storage --------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"format": FORMAT, "key": self.key, **asdict(self)}

    def save(self, path: str | Path) -> Path:
        """Write the table as JSON (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LatencyTable":
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{path} is a latency table of format {data.get('format')}, expected {FORMAT}")
        fields = {k: v for k, v in data.items() if k not in ("format", "key")}
        table = cls(**{**fields, "steps": tuple(fields["steps"]), "input_shape": tuple(fields["input_shape"])})
        if table.key != data["key"]:
            raise ValueError(f"{path} does not match its own key (edited by hand?)")
        return table


def _dense_layers(model: nn.Module, shape: tuple[int, ...]) -> list[dict]:
    """Per conv/linear layer of the dense model: name, kind, output pixels, dense rows and taps, shape."""
    counts = {layer.name: layer for layer in count_model(model, shape[1:]).layers}
    modules = dict(model.named_modules())
    layers = []
    for name, weight in layer_weights(model).items():
        module, count = modules[name], counts[name]
        layers.append({"name": name, "kind": count.kind, "pixels": count.out_pixels,
                       "dense_rows": int(weight.shape[0]), "dense_taps": int(weight[0].numel()),
                       "kernel_size": list(getattr(module, "kernel_size", (1, 1))),
                       "stride": list(getattr(module, "stride", (1, 1)))})
    order = {name: i for i, name in enumerate(_trace(model, shape).layers())}
    return sorted(layers, key=lambda layer: order[layer["name"]])


def _layer_x(meta: dict, rows, taps, spilled) -> np.ndarray:
    return layer_features(rows, taps, meta["dense_rows"], meta["dense_taps"], meta["block"], spilled)


def _weights(variant: dict) -> int:
    return sum(p["rows"] * p["taps"] for p in variant["layers"])


def _volume(kept: list[KeptLayer], layers: list[dict]) -> int:
    """Activation volume: output channels x pixels, summed over layers."""
    return sum(k.channels * m["pixels"] for k, m in zip(kept, layers))


def _trace(model: nn.Module, shape: tuple[int, ...]):
    """The channel structure of ``model``, traced on a copy on the meta device: shape propagation runs no real
    convolutions (first calls at new shapes cost tens of ms each), ResNet-20 in 60 ms instead of 470 ms."""
    return trace_structure(copy.deepcopy(model).to("meta"), shape[1:])


def _signature(weights: dict) -> tuple:
    return tuple(tuple(w.shape) for w in weights.values())


def _errors(predicted: list[float], measured: list[float]) -> dict:
    rel = [abs(p - m) / m for p, m in zip(predicted, measured)]
    return {"points": len(rel), "mean_rel_error": float(np.mean(rel)), "max_rel_error": float(np.max(rel)),
            "predicted": predicted, "measured": measured}
