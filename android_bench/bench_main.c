/*!
 * \file bench_main.c
 * \brief The benchmark front: input, warm-up, timed runs, output file, one JSON line on stdout.
 */
#include <stdio.h>

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

/* Per kernel call, the median over runs of its time; kernel_ns holds runs rows of num_kernels entries. */
static void Bench_PrintKernels(const ModelInfo* info, const BenchArgs* args, const uint64_t* kernel_ns) {
  double* column = Platform_MemoryAllocate(sizeof(double) * (size_t)args->runs, BENCH_ALIGN_BYTES);
  CHECK(column != NULL, "out of memory for %d kernel times", args->runs);
  printf(", \"kernels\": [");
  for (int k = 0; k < info->num_kernels; ++k) {
    for (int i = 0; i < args->runs; ++i) column[i] = (double)kernel_ns[(size_t)i * info->num_kernels + k] * 1e-6;
    printf("%s{\"name\": \"%s\", \"median_ms\": %.6f}", k ? ", " : "", info->kernel_names[k],
           BenchStats_Compute(column, args->runs).median);
  }
  printf("]");
  Platform_MemoryFree(column);
}

static void Bench_PrintResult(const ModelInfo* info, const BenchArgs* args, const double* ms,
                              const uint64_t* kernel_ns) {
  BenchStats s = BenchStats_Compute(ms, args->runs);
  Bench_PrintInfo(info);
  printf(", \"threads\": %d, \"pin\": \"%s\", \"runs\": %d, \"warmup\": %d, \"input\": \"%s\", \"seed\": %llu",
         args->threads, args->pin_text ? args->pin_text : "", args->runs, args->warmup,
         args->input_path ? "file" : "random", (unsigned long long)args->seed);
  printf(", \"parallel_launches\": %ld, \"workspace_peak_bytes\": %zu, \"times_ms\": [", ThreadPool_Launches(),
         Workspace_PeakBytes());
  for (int i = 0; i < args->runs; ++i) printf("%s%.6f", i ? ", " : "", ms[i]);
  printf("], \"min_ms\": %.6f, \"median_ms\": %.6f, \"mean_ms\": %.6f, \"p90_ms\": %.6f", s.min, s.median,
         s.mean, s.p90);
  if (kernel_ns) Bench_PrintKernels(info, args, kernel_ns);
  printf("}\n");
}

static int Bench_Time(const BenchArgs* args, void* input, void* output, double* ms) {
  for (int i = 0; i < args->runs; ++i) {
    uint64_t t0 = Platform_TimerNowNs();
    int rc = Model_Run(input, output);
    ms[i] = (double)(Platform_TimerNowNs() - t0) * 1e-6;
    if (rc != 0) return rc;
  }
  return kBenchOk;
}

/* Bench_Time, with every kernel call timed into row i of kernel_ns. */
static int Bench_TimeProfiled(const ModelInfo* info, const BenchArgs* args, void* input, void* output, double* ms,
                              uint64_t* kernel_ns) {
  for (int i = 0; i < args->runs; ++i) {
    uint64_t t0 = Platform_TimerNowNs();
    int rc = Model_RunProfiled(input, output, kernel_ns + (size_t)i * info->num_kernels);
    ms[i] = (double)(Platform_TimerNowNs() - t0) * 1e-6;
    if (rc != 0) return rc;
  }
  return kBenchOk;
}

static int Bench_Run(const ModelInfo* info, const BenchArgs* args, void* input, void* output, double* ms,
                     uint64_t* kernel_ns) {
  for (int i = 0; i < args->warmup; ++i) {
    int rc = Model_Run(input, output);
    if (rc != 0) return rc;
  }
  int rc = kernel_ns ? Bench_TimeProfiled(info, args, input, output, ms, kernel_ns)
                     : Bench_Time(args, input, output, ms);
  if (rc != kBenchOk) return rc;
  CHECK_EQ(Workspace_BytesInUse(), 0, "workspace leaked after %d runs of %s", args->runs, info->name);
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
  double* ms = Platform_MemoryAllocate(sizeof(double) * (size_t)args.runs, BENCH_ALIGN_BYTES);
  size_t profile_bytes = args.profile ? sizeof(uint64_t) * (size_t)args.runs * (size_t)info->num_kernels : 0;
  uint64_t* kernel_ns = args.profile ? Platform_MemoryAllocate(profile_bytes, BENCH_ALIGN_BYTES) : NULL;
  CHECK(input && output && ms && (kernel_ns || !args.profile), "out of memory (%zu + %zu + %zu bytes)",
        info->input_bytes, info->output_bytes, profile_bytes);
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
  rc = Bench_Run(info, &args, input, output, ms, kernel_ns);
  ThreadPool_Shutdown();
  if (rc != kBenchOk) return 5;
  if (args.output_path && BenchIO_Write(args.output_path, output, info->output_bytes) != kBenchOk) return 3;
  Bench_PrintResult(info, &args, ms, kernel_ns);
  Workspace_Shutdown();
  return 0;
}
