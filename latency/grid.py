"""Building a latency table: pruned variants of the registry model with kept fractions from a grid, each compiled
once for the device and measured with per-kernel profiling (on qemu: per-kernel executed instructions, never
time); and validating a table on other models.

Each conv takes every (filter keep, column keep) pair of ``steps`` in one of ``len(steps) ** 2`` builds, the
first dense, the others in an order of its own (``latency.variants.design_rates``); whole filters and columns
are zeroed by magnitude and the model is compacted. Each build measures every layer at once. Builds are timed in
rounds, one process each per round, keeping each build's fastest: on a shared machine a slow spell then costs a
build one sample, not all. Then a few random off-grid models choose the cache the weights compete for
(``LatencyTable.fit_cache``), calibrate the fitted table (its ``scale``: their measured / predicted cost) and check
it, each predicted with the scale of the others; the errors are stored in it (having chosen the cache, they are
not fully held out). Several phones of one model (``adb:S1,adb:S2``) measure the builds side by side, each
variant recording the device that measured it.

>>> table = build_table("resnet20", "host")
>>> table.accuracy["validation"]["max_rel_error"]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from torch import nn

from compress.counting import count_model
from compress.pruning import layer_weights
from runtime import Device, get_devices

from .devices import common_fingerprint, share_out
from .measure import Measurement, compile_for, default_runs, fastest, measure, rounds
from .predictor import KeptLayer, kernel_layers
from .table import LatencyTable, meta_trace, relative_errors, volume
from .variants import calibrated_model, compacted, design_rates, random_rates

DEFAULT_STEPS = (1.0, 0.75, 0.5, 0.25)
DEFAULT_CHECKS = 4  # random off-grid models measured to validate a new table


def build_table(arch: str, device_spec: str, steps=DEFAULT_STEPS, threads: int = 1, runs: int | None = None,
                workdir: str | Path | None = None, progress: bool = True, seed: int = 0,
                checks: int = DEFAULT_CHECKS) -> LatencyTable:
    """Compile and measure ``len(steps) ** 2`` pruned builds of ``arch``, fit the table, calibrate and validate it.

    Parameters
    ----------
    arch : str
        A registry model (``compress.models``).
    device_spec : str
        ``host``, ``qemu``, ``adb[:SERIAL]``, or several phones of one model: ``adb:SERIAL1,adb:SERIAL2,...``
        (refused if their fingerprints differ).
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
        Seed of the model's weights and BatchNorm calibration, of the builds' order and of the checks.
    checks : int
        Random off-grid models (rates in [0, 0.75) per conv) measured after the builds to choose the table's
        cache, calibrate its ``scale`` and validate it (leave-one-out); 0 skips all three (the cache chosen by
        the builds' leave-one-out, scale 1).

    Returns
    -------
    table : LatencyTable
        With its leave-one-out accuracy over the builds, its calibration and its validation in ``accuracy``.
    """
    devices = get_devices(device_spec)
    fingerprint = common_fingerprint(devices, threads)
    if devices[0].emulated and threads != 1:
        raise ValueError(f"instruction counts are single-threaded; got threads={threads} for {device_spec}")
    steps = tuple(float(s) for s in steps)
    if not steps or any(not 0.0 < s <= 1.0 for s in steps):
        raise ValueError(f"steps must be kept fractions in (0, 1], got {steps}")
    runs = runs or default_runs(devices[0])
    start = time.perf_counter()
    model, shape = calibrated_model(arch, seed)
    table = LatencyTable(arch, device_spec, fingerprint, steps, shape, _dense_layers(model, shape))
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="autocompress-latency-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        table.variants = _measure_builds(table, design_rates(model, shape, steps, rng), model, devices, root,
                                         threads, runs, progress)
    models = [compacted(model, shape, random_rates(model, shape, rng)) for _ in range(checks)]
    measured = measure_models(table, models, runs, workdir) if models else []
    table.cache_bytes = table.fit_cache(models, measured)
    table.accuracy["grid_leave_one_out"] = table.leave_one_out()
    if models:
        table.calibrate(models, measured)
    table.build_seconds = round(time.perf_counter() - start, 1)
    return table


def validate_table(table: LatencyTable, models: list[nn.Module], runs: int | None = None,
                   workdir: str | Path | None = None) -> dict:
    """Compile and measure ``models`` (pruned ``table.arch``), compare with the table's predictions, and record
    the errors in ``table.accuracy["validation"]``; returns that record."""
    predicted = [table.predict(model, table.input_shape) for model in models]
    table.accuracy["validation"] = relative_errors(predicted, measure_models(table, models, runs, workdir))
    return table.accuracy["validation"]


def measure_models(table: LatencyTable, models: list[nn.Module], runs: int | None = None,
                   workdir: str | Path | None = None) -> list[float]:
    """Whole cost of each of ``models`` (pruned ``table.arch``), compiled and measured as the table's builds
    were, on its device (unprofiled)."""
    devices = get_devices(table.device)
    threads = table.fingerprint["threads"]
    if common_fingerprint(devices, threads) != table.fingerprint:
        raise ValueError(f"device {table.device} no longer matches this table's fingerprint")
    runs = runs or default_runs(devices[0])
    with tempfile.TemporaryDirectory(prefix="autocompress-latency-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        measured = _interleaved(devices, len(models),
                                lambda i: _compile(table, models[i], root / f"{table.arch}-check{i}"),
                                threads, runs, profile=False)
    return [m.whole for _, m, _ in measured]


def _interleaved(devices: list[Device], count: int, build, threads: int, runs: int,
                 profile: bool) -> list[tuple[object, Measurement, str]]:
    """Binaries ``build(0)`` ... ``build(count - 1)``, each compiled once and measured in ``rounds`` passes over
    all of them (one benchmark process each per pass, by the next free device), and per binary: the binary, the
    :func:`~latency.measure.fastest` of its passes and the device of its first. A slow spell of a shared machine
    lasting minutes then costs a binary one of its samples, where back-to-back processes would all fall into it
    (one binary timed 10 times over 20 minutes here: 0.66 to 0.92 ms)."""
    built: dict[int, object] = {}

    def compiled(index: int):
        if index not in built:
            built[index] = build(index)
        return built[index]

    passes = [share_out(devices, range(count), compiled,
                        lambda device, _, binary: (measure(device, binary, threads, runs, profile, repeats=1),
                                                   device.name))
              for _ in range(rounds(devices[0]))]
    return [(built[i], fastest([p[i][0] for p in passes]), passes[0][i][1]) for i in range(count)]


def _measure_builds(table: LatencyTable, builds: list[dict], model: nn.Module, devices: list[Device], root: Path,
                    threads: int, runs: int, progress: bool) -> list[dict]:
    """Every build (per-conv rates) of ``model`` compiled into ``root`` and measured (:func:`_interleaved`), in
    order: its record, per-conv (filter keep, column keep) and device."""
    kept: dict[int, list[KeptLayer]] = {}

    def build(index: int):
        variant = compacted(model, table.input_shape, builds[index])
        kept[index] = table.kept(variant)
        binary = _compile(table, variant, root / f"{table.arch}-build{index}")
        if progress:
            print(f"[{index + 1}/{len(builds)}] {table.arch} build {index} compiled", file=sys.stderr, flush=True)
        return binary

    records = []
    measured = _interleaved(devices, len(builds), build, threads, runs, True)
    for index, (binary, measurement, device) in enumerate(measured):
        keeps = {name: [1.0 - rate.filter, 1.0 - rate.column] for name, rate in builds[index].items()}
        records.append({**_record(table, kept[index], binary, measurement), "keeps": keeps, "device": device})
        if progress:
            print(f"{table.arch} build {index} on {device}: {records[-1]['whole']:.6g} {table.unit}",
                  file=sys.stderr, flush=True)
    return records


def _compile(table: LatencyTable, model: nn.Module, out_dir: Path):
    return compile_for(model, table.fingerprint["kind"], out_dir, table.input_shape, table.arch)


def _record(table: LatencyTable, kept: list[KeptLayer], compiled, measured: Measurement) -> dict:
    """One variant: its layers' structure (``kept``, checked against the compiled kernels) and measured costs."""
    layers = []
    for meta, info, k in zip(table.layers, compiled.info["layers"], kept, strict=True):
        if (info["rows"], info["taps"], info["kind"]) != (k.rows, k.taps, meta["kind"]):
            raise RuntimeError(f"layer {meta['name']} of {table.arch}: compiled kernel {info['kernel']} keeps "
                               f"{info['rows']} rows x {info['taps']} taps, the weights say {k.rows} x {k.taps}")
        # the tile depends on pixels only; a depthwise conv left with one channel compiles as a plain conv, whose
        # one row fills one block of any size
        if meta.setdefault("block", info["tile"][1]) != info["tile"][1] and k.rows > 1:
            raise RuntimeError(f"layer {meta['name']}: filter block {info['tile'][1]}, was {meta['block']}")
        layers.append({"kernel": info["kernel"], "rows": k.rows, "taps": k.taps, "channels": k.channels,
                       "input": info["input"], "cost": measured.kernels[info["kernel"]]})
    layer_kernels = {layer["kernel"] for layer in layers}
    other = sum(cost for name, cost in measured.kernels.items() if name not in layer_kernels)
    return {"whole": measured.whole, "other_kernels": other,
            "overhead": measured.whole - sum(measured.kernels.values()), "volume": volume(kept, table.layers),
            "layers": layers}


def _dense_layers(model: nn.Module, shape: tuple[int, ...]) -> list[dict]:
    """Per layer with a kernel of its own (``kernel_layers``: conv/linear and depthwise), in execution order: name,
    kind, output pixels, dense rows and taps, shape."""
    counts = {layer.name: layer for layer in count_model(model, shape[1:]).layers}
    modules, weights = dict(model.named_modules()), layer_weights(model)
    layers = []
    for name in kernel_layers(meta_trace(model, shape)):
        module, count, weight = modules[name], counts[name], weights[name]
        layers.append({"name": name, "kind": count.kind, "pixels": count.out_pixels,
                       "dense_rows": int(weight.shape[0]), "dense_taps": int(weight[0].numel()),
                       "kernel_size": list(getattr(module, "kernel_size", (1, 1))),
                       "stride": list(getattr(module, "stride", (1, 1)))})
    return layers
