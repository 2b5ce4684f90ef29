"""A latency table: measured layer costs of grid variants of one architecture on one device, and the fits that
predict the cost of any pruned model of that architecture from the structure its layers keep.

Per layer, a non-negative least-squares fit over the measured points (``latency.predictor``) interpolates to any
kept structure; the kernels that are not layers (pooling, shortcuts) are fitted on the activation volume, and the
rest of the inference (the driver's copies and loop) is the median over the grid. ``predict`` reads the kept
structure of a pruned model (masked or compacted) and costs its compacted form, in milliseconds, or in emulated
AArch64 instructions for qemu, times the table's ``scale``: measured over predicted cost of a few random off-grid
models (``calibrate``), which ties the fits to the device's state when the table is checked. On a quiet host the
grid's fits were 1.9% high on random pruned ResNet-20s and 6.2% low on VGG-16s, and the scale moved the mean error
by about a point either way (ResNet-20 2.0% -> 3.5%, VGG-16 7.7% -> 6.9%; ``benchmarks/results/latency/
latency_table.md``). Tables are built by ``latency.grid`` and stored by ``latency.store``.

>>> table.predict(pruned_model, (1, 3, 32, 32))       # ms
>>> table.accuracy["grid_leave_one_out"]["mean_rel_error"]
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Mapping, NamedTuple

import numpy as np
from torch import nn

from compress.pruning import Structure, layer_weights, trace_structure

from .fingerprint import INSTRUCTIONS, MS
from .predictor import (KeptLayer, counted_layers, fit, kept_layers, kept_weights, layer_features, miss_fraction,
                        nonlayer_features)
from .variants import calibrated_model

FORMAT = 3
STRUCTURE_CACHE = 32  # traced structures of compacted shapes kept per table
SPILL_GAIN = 0.8  # a cache size is fitted only if it cuts the error (``fit_cache``) by a fifth
CACHE_SHARES = (1.0, 0.5, 0.25, 0.125, 0.0625)  # candidate shares of the last-level cache the weights can use
GOALS = {MS: (0.05, 0.12), INSTRUCTIONS: (0.02, 0.05)}  # mean and max relative error a validated table should meet


class Fits(NamedTuple):
    """Per-layer coefficients, the other kernels' coefficients, the driver's overhead (median), and the cache
    (bytes) a model's weights are measured against."""

    layers: list[np.ndarray]
    other: np.ndarray
    overhead: float
    cache: float


@dataclass
class LatencyTable:
    """Measured layer costs of grid variants of ``arch`` on one device, and the fits predicting from them."""

    arch: str
    device: str  # device spec, e.g. "host", "qemu", "adb:SERIAL"
    fingerprint: dict
    steps: tuple[float, ...]
    input_shape: tuple[int, ...]
    layers: list[dict]  # per kernel layer: name, kind, pixels, dense rows/taps, kernel_size, stride, block
    variants: list[dict] = field(default_factory=list)  # per build: keeps, costs, volume, layers
    build_seconds: float = 0.0
    cache_bytes: float | None = None  # cache the weights fit in, fitted; None: they never spill
    scale: float = 1.0  # measured / predicted cost of off-grid models (``calibrate``); 1.0 until calibrated
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

    def to_dict(self) -> dict:
        return {"format": FORMAT, "key": self.key, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "LatencyTable":
        """The table :meth:`to_dict` wrote; refused if its format or its key does not match."""
        if data.get("format") != FORMAT:
            raise ValueError(f"a latency table of format {data.get('format')}, expected {FORMAT}")
        fields = {k: v for k, v in data.items() if k not in ("format", "key")}
        table = cls(**{**fields, "steps": tuple(fields["steps"]), "input_shape": tuple(fields["input_shape"])})
        if table.key != data["key"]:
            raise ValueError("the latency table does not match its own key (edited by hand?)")
        return table

    # ---- fitting --------------------------------------------------------------------------------------

    @property
    def _cache(self) -> float:
        return math.inf if self.cache_bytes is None else self.cache_bytes

    @cached_property
    def _fits(self) -> Fits:
        return self._fit(self.variants, self._cache)

    def _fit(self, variants: list[dict], cache: float) -> Fits:
        miss = miss_fraction([_weights(v) for v in variants], cache)
        per_layer = []
        for i, meta in enumerate(self.layers):
            points = [v["layers"][i] for v in variants]
            features = _layer_x(meta, [p["rows"] for p in points], [p["taps"] for p in points], miss)
            per_layer.append(fit(features, [p["cost"] for p in points]))
        other = fit(nonlayer_features([v["volume"] for v in variants]), [v["other_kernels"] for v in variants])
        return Fits(per_layer, other, float(np.median([v["overhead"] for v in variants])), cache)

    def fit_cache(self, models: list[nn.Module] | None = None, measured: list[float] | None = None) -> float | None:
        """Of "never spills" and shares (``CACHE_SHARES``) of the device's last-level cache, the cache size with
        the smallest error, if it beats "never" by ``SPILL_GAIN``: the error of predicting ``models`` (random
        off-grid models, as users prune) against their ``measured`` costs when given, else the builds'
        leave-one-out error. The off-grid models judge better: among the builds only the dense one holds most of
        the weights (VGG-16: 56 MB, the others 7-17 MB), so leave-one-out is mostly that one build's error. On
        this project's AVX-512 host, VGG-16's worst off-grid error was 17.8% with the cache chosen by the builds;
        refitting the same measurements with the cache chosen by 4 off-grid models gave 11.5%, and a new run 7.9%
        (ResNet-18: 1.6%, then 4.9% and 8.5%, within its goal; ``benchmarks/results/latency/
        latency_table_avx512.md``). None for instruction counts, which no cache changes, and for devices that do
        not tell their caches."""
        caches = self.fingerprint.get("caches") or {}
        if self.unit == INSTRUCTIONS or not caches:
            return None
        last = max(caches.values())
        candidates = [math.inf] + [last * share for share in CACHE_SHARES]
        if models:
            kept = [self.kept(model) for model in models]
            errors = [self._raw_errors(kept, measured, c)["mean_rel_error"] for c in candidates]
        else:
            errors = [self.leave_one_out(c)["mean_rel_error"] for c in candidates]
        best = int(np.argmin(errors))
        return candidates[best] if errors[best] < SPILL_GAIN * errors[0] else None

    def _raw_errors(self, kept: list[list[KeptLayer]], measured: list[float], cache: float) -> dict:
        """Errors of predictions with fits over every build against ``cache``, unscaled."""
        fits = self._fit(self.variants, cache)
        predicted = [sum(costs) + nonlayer for costs, nonlayer in (self._predict_kept(k, fits) for k in kept)]
        return relative_errors(predicted, list(measured))

    def leave_one_out(self, cache: float | None = None) -> dict:
        """Each build predicted from fits over all the others, vs its measured whole cost."""
        cache = self._cache if cache is None else cache
        predicted = []
        for i, variant in enumerate(self.variants):
            rest = self.variants[:i] + self.variants[i + 1:]
            kept = [KeptLayer(m["name"], p["rows"], p["taps"], p["channels"])
                    for m, p in zip(self.layers, variant["layers"])]
            costs, nonlayer = self._predict_kept(kept, self._fit(rest or self.variants, cache))
            predicted.append(sum(costs) + nonlayer)
        return relative_errors(predicted, [v["whole"] for v in self.variants])

    def calibrate(self, models: list[nn.Module], measured: list[float]) -> dict:
        """Set ``scale`` to the median of measured / predicted cost over ``models`` (random off-grid models of
        ``arch``) and record in ``accuracy["validation"]`` each of them predicted with the scale of the others
        (leave-one-out), so the stored errors are of models their scale did not see; returns that record."""
        self.scale = 1.0
        raw = [self.predict(model, self.input_shape) for model in models]
        ratios = np.asarray(measured, dtype=float) / np.asarray(raw, dtype=float)
        held_out = [p * float(np.median(np.delete(ratios, i))) for i, p in enumerate(raw)] if len(raw) > 1 else raw
        self.scale = float(np.median(ratios))
        self.accuracy["calibration"] = {"scale": self.scale, "uncalibrated": relative_errors(raw, list(measured))}
        self.accuracy["validation"] = relative_errors(held_out, list(measured))
        return self.accuracy["validation"]

    def validation_line(self) -> str:
        """One line: how well the table predicted its off-grid checks, against its goal (``GOALS``)."""
        record = self.accuracy.get("validation")
        if not record:
            return f"the {self.arch} latency table on {self.device} was not validated off its grid"
        mean_goal, max_goal = GOALS[self.unit]
        line = (f"the {self.arch} latency table on {self.device} predicts {record['points']} off-grid models within "
                f"{record['mean_rel_error']:.1%} on average, {record['max_rel_error']:.1%} at worst")
        if self.meets_goal:
            return f"{line} (goal {mean_goal:.0%} / {max_goal:.0%}: met)"
        return (f"{line}: above its goal of {mean_goal:.0%} / {max_goal:.0%}, so latency predictions may be off by as "
                "much (measurements disturbed by other load? rebuild the table on a quiet device)")

    @property
    def meets_goal(self) -> bool:
        """Whether the table's validation (if any) is within ``GOALS``; a table never validated counts as met."""
        record = self.accuracy.get("validation")
        mean_goal, max_goal = GOALS[self.unit]
        return not record or (record["mean_rel_error"] <= mean_goal and record["max_rel_error"] <= max_goal)

    # ---- predicting -----------------------------------------------------------------------------------

    def _predict_kept(self, kept: list[KeptLayer], fits: Fits | None = None) -> tuple[list[float], float]:
        """Per-layer costs and the cost outside layer kernels (other kernels + the driver's overhead); with
        the table's own fits, times its ``scale``, with other ``fits`` (leave-one-out over the builds) as fitted."""
        scale = 1.0 if fits else self.scale
        fits = fits or self._fits
        miss = miss_fraction(kept_weights(kept), fits.cache)
        costs = [scale * max(float(_layer_x(m, k.rows, k.taps, miss) @ coef), 0.0)
                 for k, m, coef in zip(kept, self.layers, fits.layers)]
        other = max(float(nonlayer_features(volume(kept, self.layers)) @ fits.other), 0.0)
        return costs, scale * (other + fits.overhead)

    @cached_property
    def _structures(self) -> dict:
        model, shape = calibrated_model(self.arch)
        return {_signature(layer_weights(model)): meta_trace(model, shape)}

    @property
    def _dense_structure(self) -> Structure:
        return next(iter(self._structures.values()))

    def kept(self, model: nn.Module) -> list[KeptLayer]:
        """The structure each layer of ``model`` (a pruned ``arch``) keeps once compacted."""
        weights = layer_weights(model)
        if sorted(weights) != sorted(m["name"] for m in self.layers):
            raise ValueError(f"the model's conv/linear layers ({', '.join(list(weights)[:4])}, ...) are not those "
                             f"of {self.arch} ({', '.join(m['name'] for m in self.layers[:4])}, ...)")
        signature = _signature(weights)
        structure = self._structures.get(signature)
        if structure is None:
            if len(self._structures) >= STRUCTURE_CACHE:
                del self._structures[list(self._structures)[1]]  # the oldest after the dense one
            structure = self._structures[signature] = meta_trace(model, self.input_shape)
        return kept_layers(model, structure)

    def _check_shape(self, input_shape) -> None:
        if tuple(input_shape) != tuple(self.input_shape):
            raise ValueError(f"this table was measured at input shape {tuple(self.input_shape)}, "
                             f"not {tuple(input_shape)}")

    def predict(self, model: nn.Module, input_shape) -> float:
        """Predicted cost (``unit``) of the compacted form of ``model``, a pruned ``arch`` (masked or compacted)."""
        self._check_shape(input_shape)
        costs, nonlayer = self._predict_kept(self.kept(model))
        return sum(costs) + nonlayer

    def predict_kept(self, kept: Mapping[str, tuple[int, int]]) -> float:
        """Predicted cost from each conv/linear layer's kept (rows, taps) alone, as the search's cost model counts
        them: no model, and the dense model's channel structure traced once per table (then ResNet-20 about
        0.5 ms a call, MobileNetV2 about 3 ms, on a busy 2-core machine). Output channels are taken as the kept
        rows, bounded by what their space's readers can read (``predictor.counted_layers``; a depthwise conv
        keeps every tap of its space's channels); channels that only compaction would remove are otherwise not
        found, so this is the module prediction of ``predict`` without its purification step: at or slightly
        above it."""
        structure = self._dense_structure
        missing = [name for name in structure.layers() if name not in kept]
        if missing:
            raise ValueError(f"kept counts lack {len(missing)} layer(s) of {self.arch}: {', '.join(missing[:4])}")
        dense = {m["name"]: (m["dense_rows"], m["dense_taps"]) for m in self.layers}  # depthwise convs: not counted
        costs, nonlayer = self._predict_kept(counted_layers(structure, {**dense, **kept}))
        return sum(costs) + nonlayer

    def predict_layers(self, model: nn.Module, input_shape) -> list[dict]:
        """Per conv/linear/depthwise layer: name, kept rows and taps, and predicted cost; then one ``(non-layer)``
        row."""
        self._check_shape(input_shape)
        kept = self.kept(model)
        costs, nonlayer = self._predict_kept(kept)
        rows = [{"name": k.name, "rows": k.rows, "taps": k.taps, "channels": k.channels, "cost": c}
                for k, c in zip(kept, costs)]
        return rows + [{"name": "(non-layer)", "cost": nonlayer}]


def volume(kept: list[KeptLayer], layers: list[dict]) -> int:
    """Activation volume: output channels x pixels, summed over layers."""
    return sum(k.channels * m["pixels"] for k, m in zip(kept, layers))


def meta_trace(model: nn.Module, shape: tuple[int, ...]):
    """The channel structure of ``model``, traced on a copy on the meta device: shape propagation runs no real
    convolutions (first calls at new shapes cost tens of ms each), ResNet-20 in 60 ms instead of 470 ms."""
    return trace_structure(copy.deepcopy(model).to("meta"), shape[1:])


def relative_errors(predicted: list[float], measured: list[float]) -> dict:
    """Mean and max relative error of predictions against measurements, and both lists."""
    rel = [abs(p - m) / m for p, m in zip(predicted, measured)]
    return {"points": len(rel), "mean_rel_error": float(np.mean(rel)), "max_rel_error": float(np.max(rel)),
            "predicted": predicted, "measured": measured}


def _layer_x(meta: dict, rows, taps, miss) -> np.ndarray:
    return layer_features(rows, taps, meta["dense_rows"], meta["dense_taps"], meta["block"], miss)


def _weights(variant: dict) -> int:
    return sum(p["rows"] * p["taps"] for p in variant["layers"])


def _signature(weights: dict) -> tuple:
    return tuple(tuple(w.shape) for w in weights.values())
