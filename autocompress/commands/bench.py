"""``autocompress bench``: run a compiled model on a device, check it against onnxruntime, report latency."""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

from .argtypes import COUNT, NON_NEGATIVE, POSITIVE, POSITIVE_INT, cpu_pin

HELP = ("Benchmark a compiled model directory on the host, under qemu-aarch64 (correctness and executed AArch64 "
        "instructions per inference, one thread; marked emulated) or on an Android phone over adb (the binary is "
        "pushed only when the phone lacks it). The output is checked against onnxruntime on the same input first; "
        "no latency is reported when it is off by more than --tolerance. Reports the first (cold) inference and "
        "min/median/mean/std/p90 of the timed runs, and where it ran pinned and why.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="directory written by 'autocompress compile -o DIR'")
    parser.add_argument("--device", default="host", help="host, qemu, adb (the only phone) or adb:SERIAL")
    parser.add_argument("--runs", type=POSITIVE_INT, default=10, help="timed runs, at least")
    parser.add_argument("--min-ms", dest="runs_min_ms", type=NON_NEGATIVE, default=0.0, metavar="MS",
                        help="go on timing until MS of wall time have passed as well (at most 100000 runs)")
    parser.add_argument("--warmup", type=COUNT, default=3, help="untimed runs before timing, at least")
    parser.add_argument("--warmup-ms", dest="warmup_min_ms", type=NON_NEGATIVE, default=0.0, metavar="MS",
                        help="go on warming up until MS of wall time have passed as well, e.g. 500 to let a phone's "
                             "governor raise the clock")
    parser.add_argument("--delay-ms", type=NON_NEGATIVE, default=0.0, metavar="MS",
                        help="sleep MS before every inference but the first, against thermal throttling (not "
                             "timed; counted in --min-ms and --warmup-ms)")
    parser.add_argument("--threads", type=POSITIVE_INT, default=1, help="threads for parallel kernels")
    parser.add_argument("--pin", type=cpu_pin, default="auto", metavar="auto|none|CPULIST",
                        help="auto: the fastest cores by each CPU's cpuinfo_max_freq (not pinned where unreadable, "
                             "where no CPU would be left out, or under qemu); none; or CPUs such as 4-7, thread i "
                             "on the i-th (taskset on adb). The result records the choice and why")
    parser.add_argument("--seed", type=COUNT, default=0, help="seed of the random input")
    parser.add_argument("--tolerance", type=POSITIVE, default=1e-4,
                        help="absolute part of the allowed difference from onnxruntime per output element")
    parser.add_argument("--rtol", type=NON_NEGATIVE, default=1e-5,
                        help="relative part: an element may differ by --tolerance + RTOL x |onnxruntime's value|")
    parser.add_argument("--json", action="store_true", help="print the full result as one JSON line")


def run(args: argparse.Namespace) -> int:
    from codegen import CompiledModel
    from runtime import get_device
    from runtime.insn_count import instructions_per_inference

    compiled = CompiledModel.load(args.dir)
    result = get_device(args.device).bench(compiled, runs=args.runs, warmup=args.warmup, threads=args.threads,
                                           pin=args.pin, seed=args.seed, tolerance=args.tolerance,
                                           rtol=args.rtol, warmup_min_ms=args.warmup_min_ms,
                                           runs_min_ms=args.runs_min_ms, delay_ms=args.delay_ms)
    if result.emulated:
        result = replace(result, instructions_per_inference=instructions_per_inference(compiled.binary).instructions)
    print(json.dumps(result.to_dict()) if args.json else result.summary())
    return 0
