/*!
 * \file config.h
 * \brief Compile-time limits of the benchmark runtime; override any of them with -DNAME=VALUE.
 */
#ifndef ANDROID_BENCH_CONFIG_H_
#define ANDROID_BENCH_CONFIG_H_

/*! \brief Alignment of every buffer handed to a kernel (TVM kernels assume 64-byte-aligned data). */
#ifndef BENCH_ALIGN_BYTES
#define BENCH_ALIGN_BYTES 64
#endif

/*! \brief Most worker threads the pool runs, the caller included. */
#ifndef BENCH_MAX_THREADS
#define BENCH_MAX_THREADS 16
#endif

/*! \brief Workspace bytes per thread (kernels' temporary buffers, allocated LIFO). */
#ifndef BENCH_WORKSPACE_BYTES
#define BENCH_WORKSPACE_BYTES (16u << 20)
#endif

/*! \brief Most live workspace allocations per thread. */
#ifndef BENCH_MAX_WORKSPACE_DEPTH
#define BENCH_MAX_WORKSPACE_DEPTH 64
#endif

/*! \brief Most warm-up runs and most timed runs in one invocation, whatever --warmup-ms and --min-ms ask. */
#ifndef BENCH_MAX_RUNS
#define BENCH_MAX_RUNS 100000
#endif

/*! \brief Most milliseconds of --warmup-ms, --min-ms and --delay-ms (an hour). */
#ifndef BENCH_MAX_MS
#define BENCH_MAX_MS 3600000
#endif

/*! \brief Most CPUs named by --pin. */
#ifndef BENCH_MAX_CPUS
#define BENCH_MAX_CPUS 64
#endif

/*! \brief Size of the buffer holding the last kernel error message. */
#ifndef BENCH_ERROR_BYTES
#define BENCH_ERROR_BYTES 1024
#endif

#endif  /* ANDROID_BENCH_CONFIG_H_ */
