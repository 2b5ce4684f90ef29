/*!
 * \file thread_pool.h
 * \brief The pthread pool behind TVMBackendParallelLaunch: the caller runs task 0, workers the rest.
 */
#ifndef ANDROID_BENCH_THREAD_POOL_H_
#define ANDROID_BENCH_THREAD_POOL_H_

#include "error_codes.h"

/*!
 * \brief Start \p num_threads - 1 workers. With \p num_cpus > 0, thread i (the caller is 0) is pinned to
 *        cpus[i % num_cpus]. Binds each thread to its own workspace arena.
 */
bench_error_t ThreadPool_Init(int num_threads, const int* cpus, int num_cpus);

/*! \brief Stop and join the workers. */
void ThreadPool_Shutdown(void);

/*! \brief Number of threads, the caller included. */
int ThreadPool_NumThreads(void);

/*! \brief Parallel launches that ran on more than one thread since the program started. */
long ThreadPool_Launches(void);

#endif  /* ANDROID_BENCH_THREAD_POOL_H_ */
