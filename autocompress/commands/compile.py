"""``autocompress compile``: a registry model or an ONNX file -> one static executable for a target."""
from __future__ import annotations

import argparse
import sys

from .argtypes import POSITIVE_INT, shape_arg
from .common import out_folder

HELP = ("Compile a model with Apache TVM into one self-contained static executable (benchmark front included) "
        "for the host or ARM64 Linux/Android. Writes the executable, the ONNX used and compile.json to -o DIR.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from codegen import TARGET_NAMES
    from compress.models import MODELS

    parser.add_argument("model", nargs="?", help=f"registry model: {', '.join(MODELS)}, or an .onnx file (same as "
                                                 "--onnx); omit it when --weights is our checkpoint")
    parser.add_argument("--onnx", help="compile this ONNX file instead of a registry model; a dynamic batch "
                                       "dimension is fixed to 1 (see --input-shape)")
    parser.add_argument("--input-shape", type=shape_arg, metavar="N,C,H,W",
                        help="with --onnx: the whole input shape, fixing every dynamic dimension")
    parser.add_argument("--weights", help="checkpoint or state_dict to load into the registry model")
    parser.add_argument("--num-classes", type=POSITIVE_INT, default=10, help="classifier outputs of the registry model")
    parser.add_argument("--target", default="host", choices=TARGET_NAMES,
                        help="host: native x86-64; linux-aarch64 / android-arm64: static ARM64 built with zig "
                             "(android-arm64 uses the NDK's clang when ANDROID_NDK_HOME is set)")
    parser.add_argument("--mattr", action="append", default=[], metavar="FEATURE",
                        help="extra LLVM CPU feature, repeatable or comma-separated, e.g. +dotprod")
    parser.add_argument("--mcpu", help="LLVM CPU name, e.g. cortex-a76, or a phone core preset: a55, a76, x1 ... "
                                       "(codegen.targets.PHONE_CPUS)")
    parser.add_argument("--schedule", default="auto", choices=("auto", "none"),
                        help="auto (default): every conv and linear layer gets a kernel specialised to its nonzero "
                             "columns and filters (pruned columns are never read or multiplied); none: TVM's default "
                             "lowering, the unscheduled baseline")
    parser.add_argument("--tune", action="store_true",
                        help="tune the kernels on --device: a handful of register-tile settings (the fixed rule "
                             "among them), each built into one whole-model candidate, measured per kernel (ms; "
                             "instruction counts under qemu), the cheapest per layer built into -o DIR and checked "
                             "against onnxruntime; the choice is cached by device fingerprint and model")
    parser.add_argument("--device", metavar="host|qemu|adb[:SERIAL]",
                        help="with --tune: where to measure (default host); it must run --target's binaries: "
                             "host for host, qemu for linux-aarch64, adb for android-arm64")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")


def run(args: argparse.Namespace) -> int:
    from codegen import compile_model

    device = _tuning_device(args)
    if args.model and args.model.endswith(".onnx") and not args.onnx:  # a file where a model name goes
        args.model, args.onnx = None, args.model
    out_folder(args.output, "-o/--output")
    if bool(args.model or args.weights) == bool(args.onnx):
        raise ValueError("give exactly one of MODEL (or --weights naming one) or --onnx FILE")
    if args.onnx and args.weights:
        raise ValueError("--weights applies to a registry MODEL; an ONNX file carries its own weights")
    mattr = [flag for item in args.mattr for flag in item.split(",") if flag]
    if args.input_shape and not args.onnx:
        raise ValueError("--input-shape applies to --onnx; a registry model has its own input shape")
    if args.onnx:
        source, shape, name = args.onnx, args.input_shape, None
    else:
        source, shape, name = _registry_model(args)
    if device is None:
        compiled = compile_model(source, target=args.target, out_dir=args.output, input_shape=shape, name=name,
                                 mattr=mattr, mcpu=args.mcpu, schedule=args.schedule)
        notices, tuning = compiled.info["notices"], []
    else:
        from latency.tuning import describe, tune

        tuned = tune(source, device, args.output, input_shape=shape, name=name, mattr=mattr, mcpu=args.mcpu)
        compiled, notices, tuning = tuned.compiled, tuned.notices, describe(tuned)
    info = compiled.info
    for notice in notices:
        print(f"note: {notice}", file=sys.stderr)
    print(f"compiled {info['name']} for {info['target']}: {compiled.binary} ({info['binary_bytes'] / 1e6:.2f} MB, "
          f"{info['kernels']} kernels, {info['compile_seconds']:.1f} s, hash {info['model_hash']})")
    if info["layers"]:
        useful = sum(layer["useful_macs"] for layer in info["layers"])
        shaped = sum(layer["dense_macs"] for layer in info["layers"])
        print(f"{len(info['layers'])} conv/linear layers with specialised kernels: {useful / 1e6:.2f}M multiply-adds "
              f"on nonzero weights of {shaped / 1e6:.2f}M in their shapes")
    for line in tuning:
        print(line)
    return 0


def _tuning_device(args: argparse.Namespace):
    """The device ``--tune`` measures on (None without ``--tune``), after checking it runs ``--target``'s binaries."""
    from latency.measure import TARGETS
    from runtime import get_device

    if not args.tune:
        if args.device:
            raise ValueError("--device applies to --tune (where the kernels are measured); add --tune or drop it")
        return None
    if args.schedule != "auto":
        raise ValueError("--tune chooses the tiles of --schedule auto's kernels; drop --schedule none")
    spec = args.device or "host"
    kind = spec.partition(":")[0]
    if kind in TARGETS and TARGETS[kind] != args.target:
        raise ValueError(f"--tune --device {spec} runs {TARGETS[kind]} binaries, not --target {args.target}; "
                         f"give --target {TARGETS[kind]} or a device for {args.target}")
    return get_device(spec)


def _registry_model(args: argparse.Namespace):
    """The registry model (or the one a checkpoint names, compaction replayed), its input shape and name."""
    from compress.models import get_spec
    from compress.restore import restore_model

    model, name = restore_model(args.weights, args.model, args.num_classes)
    return model.eval(), (1, *get_spec(name).input_shape), name
