/*!
 * \file bench_args.h
 * \brief Command-line flags of the benchmark executable.
 */
#ifndef ANDROID_BENCH_BENCH_ARGS_H_
#define ANDROID_BENCH_BENCH_ARGS_H_

#include <stdint.h>

#include "config.h"
#include "error_codes.h"

typedef struct {
  const char* input_path;   /* raw float32; NULL: seeded random input */
  const char* output_path;  /* NULL: do not write */
  int warmup;               /* at least this many warm-up runs ... */
  double warmup_ms;         /* ... and at least this long (ms of wall time, delays included) */
  int runs;                 /* at least this many timed runs ... */
  double min_ms;            /* ... and at least this long */
  double delay_ms;          /* sleep before every inference but the first (against thermal throttling) */
  int threads;
  int cpus[BENCH_MAX_CPUS]; /* --pin list */
  int num_cpus;
  const char* pin_text;
  uint64_t seed;
  int workspace_mb;
  int info_only;            /* --info: print the model facts as JSON and exit */
  int profile;              /* --profile: time every kernel call of the timed runs */
} BenchArgs;

/*! \brief Parse argv; prints the problem (or the usage for --help) and returns non-zero on failure. */
bench_error_t BenchArgs_Parse(int argc, char** argv, BenchArgs* out, int* exit_now);

#endif  /* ANDROID_BENCH_BENCH_ARGS_H_ */
