/*!
 * \file bench_main.c
 * \brief The benchmark front: input, warm-up, timed runs (each by count and by time, with an optional delay
 *        between inferences), output file, one JSON line on stdout.
 */
#include <stdio.h>
#include <string.h>

#include "bench_args.h"
#include "bench_io.h"
#include "bench_stats.h"
#include "config.h"
#include "logging.h"
#include "model.h"
#include "thread_pool.h"
#include "workspace.h"

static void Bench_PrintShape(const int64_t* shape, int ndim) {
  printf("[");
  for (int i = 0; i < ndim; ++i) printf("%s%lld", i ? ", " : "", (long long)shape[i]);
  printf("]");
}

static void Bench_PrintInfo(const ModelInfo* info) {
  printf("{\"model\": \"%s\", \"model_hash\": \"%s\", \"target\": \"%s\", \"kernel_calls\": %d, \"input_shape\": ",
         info->name, info->hash, info->target, info->num_kernels);
  Bench_PrintShape(info->input_shape, info->input_ndim);
  printf(", \"output_shape\": ");
  Bench_PrintShape(info->output_shape, info->output_ndim);
}

/* What the warm-up and the timed runs measured. */
typedef struct {
  double first_ms;     /* the process's very first inference, cold */
  int warmup;          /* warm-up runs done */
  int runs;            /* timed runs done */
  int capacity;        /* rows allocated in ms and kernel_ns */
  double* ms;          /* per timed run */
  uint64_t* kernel_ns; /* a row of num_kernels kernel call times per timed run; NULL without --profile */
} BenchTimes;

/* Per kernel call, the median over the timed runs of its time. */
static void Bench_PrintKernels(const ModelInfo* info, const BenchTimes* t) {
  double* column = Platform_MemoryAllocate(sizeof(double) * (size_t)t->runs, BENCH_ALIGN_BYTES);
  CHECK(column != NULL, "out of memory for %d kernel times", t->runs);
  printf(", \"kernels\": [");
  for (int k = 0; k < info->num_kernels; ++k) {
    for (int i = 0; i < t->runs; ++i) column[i] = (double)t->kernel_ns[(size_t)i * info->num_kernels + k] * 1e-6;
    printf("%s{\"name\": \"%s\", \"median_ms\": %.6f}", k ? ", " : "", info->kernel_names[k],
           BenchStats_Compute(column, t->runs).median);
  }
  printf("]");
  Platform_MemoryFree(column);
}

static void Bench_PrintResult(const ModelInfo* info, const BenchArgs* args, const BenchTimes* t) {
  BenchStats s = BenchStats_Compute(t->ms, t->runs);
  Bench_PrintInfo(info);
  printf(", \"threads\": %d, \"pin\": \"%s\", \"runs\": %d, \"warmup\": %d, \"warmup_min_ms\": %g, "
         "\"runs_min_ms\": %g, \"delay_ms\": %g, \"input\": \"%s\", \"seed\": %llu",
         args->threads, args->pin_text ? args->pin_text : "", t->runs, t->warmup, args->warmup_ms, args->min_ms,
         args->delay_ms, args->input_path ? "file" : "random", (unsigned long long)args->seed);
  printf(", \"parallel_launches\": %ld, \"workspace_peak_bytes\": %zu, \"times_ms\": [", ThreadPool_Launches(),
         Workspace_PeakBytes());
  for (int i = 0; i < t->runs; ++i) printf("%s%.6f", i ? ", " : "", t->ms[i]);
  printf("], \"first_ms\": %.6f, \"min_ms\": %.6f, \"median_ms\": %.6f, \"mean_ms\": %.6f, \"std_ms\": %.6f, "
         "\"p90_ms\": %.6f", t->first_ms, s.min, s.median, s.mean, s.std, s.p90);
  if (t->kernel_ns) Bench_PrintKernels(info, t);
  printf("}\n");
}

/* A copy of the first used bytes of old (freed) in a new block of bytes. */
static void* Bench_Grow(void* old, size_t used, size_t bytes) {
  void* block = Platform_MemoryAllocate(bytes, BENCH_ALIGN_BYTES);
  CHECK(block != NULL, "out of memory for %zu bytes of run times", bytes);
  if (old) {
    memcpy(block, old, used);
    Platform_MemoryFree(old);
  }
  return block;
}

/* Room for rows timed runs in t, their kernel times included under --profile. */
static void BenchTimes_Reserve(BenchTimes* t, int rows, const ModelInfo* info, const BenchArgs* args) {
  size_t row = sizeof(uint64_t) * (size_t)info->num_kernels;
  t->ms = Bench_Grow(t->ms, sizeof(double) * (size_t)t->runs, sizeof(double) * (size_t)rows);
  if (args->profile) t->kernel_ns = Bench_Grow(t->kernel_ns, row * (size_t)t->runs, row * (size_t)rows);
  t->capacity = rows;
}

/* Whether a phase of n runs begun at start_ns is over: count runs and min_ms of wall time, or BENCH_MAX_RUNS. */
static int Bench_PhaseOver(int n, int count, double min_ms, uint64_t start_ns) {
  return n >= BENCH_MAX_RUNS || (n >= count && (double)(Platform_TimerNowNs() - start_ns) * 1e-6 >= min_ms);
}

/* One inference, after --delay-ms unless it is the first; its time into *ms, its kernels' into kernel_row. */
static int Bench_Once(const BenchArgs* args, BenchTimes* t, void* input, void* output, uint64_t* kernel_row,
                      double* ms) {
  int first = t->warmup + t->runs == 0;
  if (!first && args->delay_ms > 0) Platform_SleepMs(args->delay_ms);
  uint64_t t0 = Platform_TimerNowNs();
  int rc = kernel_row ? Model_RunProfiled(input, output, kernel_row) : Model_Run(input, output);
  *ms = (double)(Platform_TimerNowNs() - t0) * 1e-6;
  if (first) t->first_ms = *ms;
  return rc;
}

static int Bench_Run(const ModelInfo* info, const BenchArgs* args, void* input, void* output, BenchTimes* t) {
  double ms = 0;
  uint64_t start = Platform_TimerNowNs();
  for (; !Bench_PhaseOver(t->warmup, args->warmup, args->warmup_ms, start); ++t->warmup) {
    int rc = Bench_Once(args, t, input, output, NULL, &ms);
    if (rc != 0) return rc;
  }
  start = Platform_TimerNowNs();
  for (; !Bench_PhaseOver(t->runs, args->runs, args->min_ms, start); ++t->runs) {
    if (t->runs == t->capacity) {
      BenchTimes_Reserve(t, t->capacity > BENCH_MAX_RUNS / 2 ? BENCH_MAX_RUNS : 2 * t->capacity, info, args);
    }
    uint64_t* row = t->kernel_ns ? t->kernel_ns + (size_t)t->runs * info->num_kernels : NULL;
    int rc = Bench_Once(args, t, input, output, row, &t->ms[t->runs]);
    if (rc != 0) return rc;
  }
  CHECK_EQ(Workspace_BytesInUse(), 0, "workspace leaked after %d runs of %s", t->runs, info->name);
  return kBenchOk;
}

int main(int argc, char** argv) {
  BenchArgs args;
  int exit_now = 0;
  if (BenchArgs_Parse(argc, argv, &args, &exit_now) != kBenchOk) return 2;
  if (exit_now) return 0;
  const ModelInfo* info = Model_GetInfo();
  if (args.info_only) {
    Bench_PrintInfo(info);
    printf("}\n");
    return 0;
  }
  void* input = Platform_MemoryAllocate(info->input_bytes, BENCH_ALIGN_BYTES);
  void* output = Platform_MemoryAllocate(info->output_bytes, BENCH_ALIGN_BYTES);
  CHECK(input && output, "out of memory (%zu + %zu bytes)", info->input_bytes, info->output_bytes);
  BenchTimes times = {0};
  BenchTimes_Reserve(&times, args.runs, info, &args);
  if (args.input_path) {
    if (BenchIO_ReadExact(args.input_path, input, info->input_bytes) != kBenchOk) return 3;
  } else {
    BenchIO_RandomFloats(input, info->input_bytes / sizeof(float), args.seed);
  }
  int rc = Workspace_Init(args.threads, (size_t)args.workspace_mb << 20);
  if (rc != kBenchOk) {
    BENCH_LOG("cannot allocate %d workspace arenas of %d MiB (error 0x%x)", args.threads, args.workspace_mb, rc);
    return 4;
  }
  rc = ThreadPool_Init(args.threads, args.cpus, args.num_cpus);
  if (rc != kBenchOk) {
    BENCH_LOG("cannot start %d threads pinned to '%s' (error 0x%x)", args.threads,
              args.pin_text ? args.pin_text : "", rc);
    return 4;
  }
  rc = Bench_Run(info, &args, input, output, &times);
  ThreadPool_Shutdown();
  if (rc != kBenchOk) return 5;
  if (args.output_path && BenchIO_Write(args.output_path, output, info->output_bytes) != kBenchOk) return 3;
  Bench_PrintResult(info, &args, &times);
  Workspace_Shutdown();
  return 0;
}
