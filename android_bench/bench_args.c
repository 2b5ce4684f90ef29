/*!
 * \file bench_args.c
 * \brief Parsing of --input --output --warmup --warmup-ms --runs --min-ms --delay-ms --threads --pin --seed
 *        --workspace-mb --profile --info.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_args.h"
#include "logging.h"

static const char kUsage[] =
    "usage: %s [--input F] [--output F] [--warmup N] [--warmup-ms T] [--runs N] [--min-ms T] [--delay-ms T]\n"
    "          [--threads T] [--pin CPULIST] [--seed S] [--workspace-mb M] [--profile] [--info]\n"
    "  --input F        raw little-endian float32 input of the model's input shape (default: random)\n"
    "  --output F       write the last run's raw float32 output here\n"
    "  --warmup N       untimed runs before timing (default 3)\n"
    "  --warmup-ms T    warm up for at least T ms of wall time as well (default 0)\n"
    "  --runs N         timed runs (default 10)\n"
    "  --min-ms T       time runs until at least T ms of wall time have passed as well (default 0)\n"
    "  --delay-ms T     sleep T ms before every inference but the first, against thermal throttling; the sleep\n"
    "                   is not timed but counts in --warmup-ms and --min-ms (default 0)\n"
    "  --threads T      threads for parallel kernels, the caller included (default 1, at most %d)\n"
    "  --pin CPULIST    pin thread i to the i-th CPU of a list like 4-7 or 0,2 (default: no pinning)\n"
    "  --seed S         seed of the random input, uniform in [-1, 1) (default 0)\n"
    "  --workspace-mb M kernel workspace per thread in MiB (default %u)\n"
    "  --profile        also time every kernel call; adds \"kernels\": [{name, median_ms}] in call order\n"
    "  --info           print the model facts as one JSON line and exit\n"
    "Warm-up and timed runs each stop at %d runs. T is in [0, %d].\n"
    "Prints one JSON line: the runs done, the settings, per-run times in ms and first_ms (the very first\n"
    "inference, cold, warm-up or not), min/median/mean/std (population)/p90 of the timed runs, and\n"
    "parallel_launches: the kernel launches of warm-up and timed runs that ran on more than one thread.\n";

/* A number in [lo, hi] (an integer where integral) into out; otherwise prints the problem and returns 0. */
static int BenchArgs_Number(const char* flag, const char* text, double lo, double hi, int integral, double* out) {
  char* end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= lo && v <= hi) || (integral && v != floor(v))) {
    BENCH_LOG("invalid %s '%s': expected %s in [%.0f, %.0f]", flag, text, integral ? "an integer" : "a number",
              lo, hi);
    return 0;
  }
  *out = v;
  return 1;
}

/* Parse "0-3,6" into cpus; returns the count or -1. */
static int BenchArgs_CpuList(const char* text, int* cpus) {
  int n = 0;
  const char* p = text;
  while (*p) {
    char* end = NULL;
    long lo = strtol(p, &end, 10), hi = lo;
    if (end == p || lo < 0) return -1;
    p = end;
    if (*p == '-') {
      hi = strtol(p + 1, &end, 10);
      if (end == p + 1 || hi < lo) return -1;
      p = end;
    }
    for (long c = lo; c <= hi; ++c) {
      if (n >= BENCH_MAX_CPUS || c >= 1024) return -1;
      cpus[n++] = (int)c;
    }
    if (*p == ',') ++p;
    else if (*p != '\0') return -1;
  }
  return n;
}

bench_error_t BenchArgs_Parse(int argc, char** argv, BenchArgs* out, int* exit_now) {
  *out = (BenchArgs){.warmup = 3, .runs = 10, .threads = 1, .workspace_mb = BENCH_WORKSPACE_BYTES >> 20};
  *exit_now = 0;
  for (int i = 1; i < argc; ++i) {
    const char* flag = argv[i];
    if (!strcmp(flag, "--help") || !strcmp(flag, "-h")) {
      printf(kUsage, argv[0], BENCH_MAX_THREADS, BENCH_WORKSPACE_BYTES >> 20, BENCH_MAX_RUNS, BENCH_MAX_MS);
      *exit_now = 1;
      return kBenchOk;
    }
    if (!strcmp(flag, "--info")) {
      out->info_only = 1;
      continue;
    }
    if (!strcmp(flag, "--profile")) {
      out->profile = 1;
      continue;
    }
    if (i + 1 >= argc) {
      BENCH_LOG("%s needs a value (see --help)", flag);
      return kBenchErrorArgsInvalid;
    }
    const char* val = argv[++i];
    double v = 0;
    int ok = 1;
    if (!strcmp(flag, "--input")) out->input_path = val;
    else if (!strcmp(flag, "--output")) out->output_path = val;
    else if (!strcmp(flag, "--warmup") && (ok = BenchArgs_Number(flag, val, 0, BENCH_MAX_RUNS, 1, &v)))
      out->warmup = (int)v;
    else if (!strcmp(flag, "--runs") && (ok = BenchArgs_Number(flag, val, 1, BENCH_MAX_RUNS, 1, &v)))
      out->runs = (int)v;
    else if (!strcmp(flag, "--warmup-ms") && (ok = BenchArgs_Number(flag, val, 0, BENCH_MAX_MS, 0, &v)))
      out->warmup_ms = v;
    else if (!strcmp(flag, "--min-ms") && (ok = BenchArgs_Number(flag, val, 0, BENCH_MAX_MS, 0, &v)))
      out->min_ms = v;
    else if (!strcmp(flag, "--delay-ms") && (ok = BenchArgs_Number(flag, val, 0, BENCH_MAX_MS, 0, &v)))
      out->delay_ms = v;
    else if (!strcmp(flag, "--threads") && (ok = BenchArgs_Number(flag, val, 1, BENCH_MAX_THREADS, 1, &v)))
      out->threads = (int)v;
    else if (!strcmp(flag, "--workspace-mb") && (ok = BenchArgs_Number(flag, val, 1, 4096, 1, &v)))
      out->workspace_mb = (int)v;
    else if (!strcmp(flag, "--seed") && (ok = BenchArgs_Number(flag, val, 0, 0x7fffffffL, 1, &v)))
      out->seed = (uint64_t)v;
    else if (!strcmp(flag, "--pin")) {
      out->pin_text = val;
      out->num_cpus = BenchArgs_CpuList(val, out->cpus);
      if (out->num_cpus <= 0) {
        BENCH_LOG("invalid --pin '%s': expected a CPU list like 0-3,6 (at most %d CPUs)", val, BENCH_MAX_CPUS);
        return kBenchErrorArgsInvalid;
      }
    } else if (ok) {
      BENCH_LOG("unknown flag '%s'; expected one of: --input --output --warmup --warmup-ms --runs --min-ms "
                "--delay-ms --threads --pin --seed --workspace-mb --profile --info --help", flag);
      return kBenchErrorArgsInvalid;
    }
    if (!ok) return kBenchErrorArgsInvalid;
  }
  return kBenchOk;
}
