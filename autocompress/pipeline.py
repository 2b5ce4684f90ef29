"""The whole job in one call: baseline -> multi-round compression -> compile -> bench -> report.

>>> report = run_pipeline(RunConfig(model="small_cnn", data="digits", target_rate=4.0), out="runs/run")
>>> report["bench"]["compressed"]["median_ms"], report["stats"]["compression_rate"], report["accuracy"]["compacted"]
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from torch import nn

from compress.checkpoint import save_checkpoint
from compress.counting import count_model
from compress.data import Splits, load_data
from compress.files import write_json
from compress.progress import note
from compress.restore import restore_model
from compress.run_folder import record_config
from compress.search import CompressConfig, autocompress
from compress.train import TrainConfig, evaluate, train

from .report import write_report


@dataclass
class RunConfig:
    """Settings of ``autocompress run``; every field has a CLI flag of the same name."""

    model: str = "small_cnn"  # registry architecture
    data: str = "digits"  # data source (see compress.data.load_data)
    weights: str | None = None  # trained weights; None trains a baseline first
    baseline_epochs: int = 15  # epochs of the baseline when no weights are given
    compress: CompressConfig = field(default_factory=lambda: CompressConfig(target_rate=4.0, rounds=2))
    target: str = "host"  # compile target: host, linux-aarch64, android-arm64
    device: str = "host"  # bench and latency device: host, qemu, adb[:SERIAL], or phones adb:S1,adb:S2 (S1 benches)
    runs: int = 50  # timed runs per binary
    threads: int = 1  # threads of the binary
    seed: int = 0
    torch_device: str = "cpu"  # where training runs
    latency_goal: str | None = None  # e.g. "2.5ms" on device (qemu: "3.2M" instructions); sets the compress target
    latency_steps: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25)  # grid of the latency table


def step(index: int, total: int, text: str) -> None:
    """One progress line per pipeline step (training and search show their own bars)."""
    note(f"[{index}/{total}] {text}")


def train_baseline(model: nn.Module, arch: str, config: RunConfig, splits: Splits, out: Path, resume: bool) -> None:
    """Train the baseline in place, checkpointed in ``out/baseline``."""
    meta = {"arch": arch, "num_classes": splits.num_classes, "in_channels": splits.input_shape[0]}
    train_config = TrainConfig(epochs=config.baseline_epochs, seed=config.seed, device=config.torch_device)
    train(model, splits, train_config, run_dir=out / "baseline", resume=resume, extra=meta)
    save_checkpoint(out / "baseline" / "model.pt", {**meta, "state_dict": model.state_dict()})


def compile_and_bench(models: dict[str, nn.Module], config: RunConfig, input_shape: tuple, out: Path) -> dict:
    """Compile each model for the target, bench it on the device (checked against onnxruntime first)."""
    from codegen import compile_model
    from runtime import get_devices

    device, results = get_devices(config.device)[0], {}
    for name, model in models.items():
        compiled = compile_model(model.eval(), config.target, out / f"binary-{name}", input_shape=(1, *input_shape),
                                 name=f"{config.model}-{name}")
        result = device.bench(compiled, runs=config.runs, threads=config.threads, profile=True).to_dict()
        result |= {"binary": str(compiled.binary), "binary_bytes": compiled.info["binary_bytes"]}
        kernels = dict(result.pop("kernel_ms") or [])
        if result["emulated"] and config.target != "host":
            from runtime.insn_count import instructions_per_inference, kernel_instructions

            result["emulated_instructions_per_inference"] = instructions_per_inference(compiled.binary).instructions
            kernels = kernel_instructions(compiled)
        result["layer_cost"] = [kernels.get(layer["kernel"]) for layer in compiled.info["layers"]]
        results[name] = result
    return results


def _latency_target(config: RunConfig, arch: str, dense: nn.Module, splits: Splits, out: Path):
    from .latency import latency_factor, latency_objective, parse_cost

    step(2, 5, f"latency table of {arch} on {config.device} (cached after the first build)")
    objective, table = latency_objective(arch, config.device, (1, *splits.input_shape), config.threads,
                                         out / "latency", config.latency_steps)
    return objective, table, latency_factor(objective, dense, parse_cost(config.latency_goal, objective.unit))


def run_pipeline(config: RunConfig, out: str | Path, resume: bool = False) -> dict:
    """Run the whole job into ``out``; returns the report (also written as report.json/.md and plots).

    The data and ``config.weights`` are loaded before ``out`` is created, so bad inputs leave nothing behind.
    """
    out, t0 = Path(out), time.time()
    splits = load_data(config.data, seed=config.seed)
    dense, arch = restore_model(config.weights, config.model, splits.num_classes, splits.input_shape[0])
    record_config(out, asdict(config))
    step(1, 5, f"baseline {config.model} on {splits.source}")
    if not config.weights:
        train_baseline(dense, arch, config, splits, out, resume)
    dense = dense.cpu()
    dense_test = evaluate(dense.eval(), splits.loader("test", 256))["accuracy"]
    budget = config.compress.budget
    compress = replace(config.compress, budget=replace(budget, train=replace(budget.train, device=config.torch_device)))
    objective = table = None
    if config.latency_goal:
        objective, table, factor = _latency_target(config, arch, dense, splits, out)
        compress = replace(compress, target_rate=None, target_macs=None, target_latency=factor)
    step(2, 5, f"compress to {compress.final_target()} in {compress.rounds} round(s)")
    t_compress = time.time()
    compressed = autocompress(dense, splits, compress, out=out / "compress", resume=resume, latency=objective,
                              arch=arch)
    earlier = compressed.seconds - (time.time() - t_compress)  # rounds finished by an earlier call (resume)
    small, summary = compressed.model, compressed.to_json()
    step(3, 5, f"compile dense and compressed models for {config.target}, bench on {config.device}")
    bench = compile_and_bench({"dense": dense, "compressed": small}, config, splits.input_shape, out)
    step(4, 5, "report")
    report = {
        "config": asdict(config), "data": splits.source, "arch": arch, "baseline_test_accuracy": dense_test,
        **{k: summary[k] for k in ("stats", "accuracy", "rounds")}, "bench": bench,
        "layers": {"dense": count_model(dense, splits.input_shape).to_dict()["layers"],
                   "compressed": count_model(small, splits.input_shape).to_dict()["layers"]},
        "files": {"checkpoint": str(out / "compress" / "model.pt"), "onnx": str(out / "binary-compressed" / "model.onnx"),
                  "binary": bench["compressed"]["binary"]},
        "layer_cost_unit": "emulated AArch64 instructions" if bench["compressed"]["emulated"] else "ms",
        "predicted_layer_cost": table.predict_layers(small, (1, *splits.input_shape)) if table else None,
        "seconds": time.time() - t0 + earlier,
    }
    write_json(out / "report.json", report)
    write_report(report, out)
    step(5, 5, f"done in {report['seconds']:.0f} s: {out / 'report.md'}")
    return report
