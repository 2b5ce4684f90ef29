/*!
 * \file bench_args.c
 * \brief Parsing of --input --output --warmup --runs --threads --pin --seed --workspace-mb --profile --info.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_args.h"
#include "logging.h"

static const char kUsage[] =
    "usage: %s [--input F] [--output F] [--warmup N] [--runs N] [--threads T] [--pin CPULIST]\n"
    "          [--seed S] [--workspace-mb M] [--profile] [--info]\n"
    "  --input F        raw little-endian float32 input of the model's input shape (default: random)\n"
    "  --output F       write the last run's raw float32 output here\n"
    "  --warmup N       untimed runs before timing (default 3)\n"
    "  --runs N         timed runs (default 10, at most %d)\n"
    "  --threads T      threads for parallel kernels, the caller included (default 1, at most %d)\n"
    "  --pin CPULIST    pin thread i to the i-th CPU of a list like 4-7 or 0,2 (default: no pinning)\n"
    "  --seed S         seed of the random input, uniform in [-1, 1) (default 0)\n"
    "  --workspace-mb M kernel workspace per thread in MiB (default %u)\n"
    "  --profile        also time every kernel call; adds \"kernels\": [{name, median_ms}] in call order\n"
    "  --info           print the model facts as one JSON line and exit\n"
    "Prints one JSON line with per-run times in ms and their min/median/mean/p90, and parallel_launches:\n"
    "the kernel launches of warm-up and timed runs that ran on more than one thread.\n";

static int BenchArgs_Int(const char* flag, const char* text, long lo, long hi, long* out) {
  char* end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
    BENCH_LOG("invalid %s '%s': expected an integer in [%ld, %ld]", flag, text, lo, hi);
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
      printf(kUsage, argv[0], BENCH_MAX_RUNS, BENCH_MAX_THREADS, BENCH_WORKSPACE_BYTES >> 20);
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
    long v = 0;
    int ok = 1;
    if (!strcmp(flag, "--input")) out->input_path = val;
    else if (!strcmp(flag, "--output")) out->output_path = val;
    else if (!strcmp(flag, "--warmup") && (ok = BenchArgs_Int(flag, val, 0, BENCH_MAX_RUNS, &v))) out->warmup = (int)v;
    else if (!strcmp(flag, "--runs") && (ok = BenchArgs_Int(flag, val, 1, BENCH_MAX_RUNS, &v))) out->runs = (int)v;
    else if (!strcmp(flag, "--threads") && (ok = BenchArgs_Int(flag, val, 1, BENCH_MAX_THREADS, &v))) out->threads = (int)v;
    else if (!strcmp(flag, "--workspace-mb") && (ok = BenchArgs_Int(flag, val, 1, 4096, &v))) out->workspace_mb = (int)v;
    else if (!strcmp(flag, "--seed") && (ok = BenchArgs_Int(flag, val, 0, 0x7fffffffL, &v))) out->seed = (uint64_t)v;
    else if (!strcmp(flag, "--pin")) {
      out->pin_text = val;
      out->num_cpus = BenchArgs_CpuList(val, out->cpus);
      if (out->num_cpus <= 0) {
        BENCH_LOG("invalid --pin '%s': expected a CPU list like 0-3,6 (at most %d CPUs)", val, BENCH_MAX_CPUS);
        return kBenchErrorArgsInvalid;
      }
    } else if (ok) {
      BENCH_LOG("unknown flag '%s'; expected one of: --input --output --warmup --runs --threads --pin --seed "
                "--workspace-mb --profile --info --help", flag);
      return kBenchErrorArgsInvalid;
    }
    if (!ok) return kBenchErrorArgsInvalid;
  }
  return kBenchOk;
}
