/*!
 * \file thread_pool.c
 * \brief TVMBackendParallelLaunch and TVMBackendParallelBarrier on a small pthread pool.
 *
 * One launch runs min(num_task, threads) tasks, one per thread, so a barrier inside a task cannot deadlock.
 * A launch from inside a task (nested parallelism) runs serially as a single task.
 *
 * Launches come once per layer, microseconds apart, so waking a sleeping worker (a futex round trip of tens of
 * microseconds) would cost as much as a small layer's work: workers and the launching thread first spin on the
 * launch counter for up to SPIN_ROUNDS pauses, and only then sleep on the condition variable.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "logging.h"
#include "thread_pool.h"
#include "tvm_abi.h"
#include "workspace.h"

typedef struct {
  pthread_t threads[BENCH_MAX_THREADS];
  int num_threads;
  int num_started;
  pthread_mutex_t mu;
  pthread_cond_t start_cv;
  pthread_cond_t done_cv;
  _Atomic uint64_t generation; /* bumped once per launch */
  _Atomic int shutdown;
  FTVMParallelLambda lambda;
  void* cdata;
  TVMParallelGroupEnv env;
  pthread_barrier_t barrier;
  _Atomic int pending; /* workers that have not finished the current launch */
  int failed;
  long launches; /* launches split over more than one thread */
} ThreadPool;

static ThreadPool g_pool = {.num_threads = 1, .mu = PTHREAD_MUTEX_INITIALIZER,
                            .start_cv = PTHREAD_COND_INITIALIZER, .done_cv = PTHREAD_COND_INITIALIZER};
static _Thread_local int tls_in_task;

typedef struct {
  int index;
  int cpu; /* -1: not pinned */
} WorkerArgs;

static WorkerArgs g_worker_args[BENCH_MAX_THREADS];

enum { SPIN_ROUNDS = 1 << 14 }; /* about 0.1-0.5 ms of pauses before a thread sleeps */

static inline void ThreadPool_Relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Spin until generation differs from seen (a launch) or the pool shuts down, for at most SPIN_ROUNDS. */
static void ThreadPool_SpinForLaunch(uint64_t seen) {
  for (int i = 0; i < SPIN_ROUNDS; ++i) {
    if (atomic_load_explicit(&g_pool.generation, memory_order_acquire) != seen || g_pool.shutdown) return;
    ThreadPool_Relax();
  }
}

/* Spin until every worker has finished the current launch, for at most SPIN_ROUNDS. */
static void ThreadPool_SpinForWorkers(void) {
  for (int i = 0; i < SPIN_ROUNDS; ++i) {
    if (atomic_load_explicit(&g_pool.pending, memory_order_acquire) == 0) return;
    ThreadPool_Relax();
  }
}

static int ThreadPool_RunTask(int task_id) {
  tls_in_task = 1;
  int rc = g_pool.lambda(task_id, &g_pool.env, g_pool.cdata);
  tls_in_task = 0;
  return rc;
}

static void* ThreadPool_WorkerMain(void* arg) {
  const WorkerArgs* self = arg;
  Workspace_BindThread(self->index);
  if (self->cpu >= 0 && Platform_PinCurrentThread(self->cpu) != kBenchOk) {
    BENCH_LOG("warning: cannot pin worker %d to cpu %d", self->index, self->cpu);
  }
  uint64_t seen = 0;
  for (;;) {
    ThreadPool_SpinForLaunch(seen);
    pthread_mutex_lock(&g_pool.mu);
    while (g_pool.generation == seen && !g_pool.shutdown) pthread_cond_wait(&g_pool.start_cv, &g_pool.mu);
    if (g_pool.shutdown) {
      pthread_mutex_unlock(&g_pool.mu);
      return NULL;
    }
    seen = g_pool.generation;
    int active = self->index < g_pool.env.num_task;
    pthread_mutex_unlock(&g_pool.mu);
    int rc = active ? ThreadPool_RunTask(self->index) : 0;
    pthread_mutex_lock(&g_pool.mu);
    if (rc != 0) g_pool.failed = 1;
    if (--g_pool.pending == 0) pthread_cond_signal(&g_pool.done_cv);
    pthread_mutex_unlock(&g_pool.mu);
  }
}

bench_error_t ThreadPool_Init(int num_threads, const int* cpus, int num_cpus) {
  CHECK(num_threads >= 1 && num_threads <= BENCH_MAX_THREADS, "num_threads=%d, BENCH_MAX_THREADS=%d",
        num_threads, BENCH_MAX_THREADS);
  g_pool.num_threads = num_threads;
  g_pool.shutdown = 0;
  Workspace_BindThread(0);
  if (num_cpus > 0 && Platform_PinCurrentThread(cpus[0]) != kBenchOk) return kBenchErrorPlatformAffinity;
  for (int i = 1; i < num_threads; ++i) {
    g_worker_args[i].index = i;
    g_worker_args[i].cpu = num_cpus > 0 ? cpus[i % num_cpus] : -1;
    if (pthread_create(&g_pool.threads[i], NULL, ThreadPool_WorkerMain, &g_worker_args[i]) != 0) {
      return kBenchErrorThreadPoolCreate;
    }
    g_pool.num_started = i;
  }
  return kBenchOk;
}

void ThreadPool_Shutdown(void) {
  pthread_mutex_lock(&g_pool.mu);
  g_pool.shutdown = 1;
  pthread_cond_broadcast(&g_pool.start_cv);
  pthread_mutex_unlock(&g_pool.mu);
  for (int i = 1; i <= g_pool.num_started; ++i) pthread_join(g_pool.threads[i], NULL);
  g_pool.num_started = 0;
  g_pool.num_threads = 1;
}

int ThreadPool_NumThreads(void) { return g_pool.num_threads; }

long ThreadPool_Launches(void) { return g_pool.launches; }

int TVMBackendParallelLaunch(FTVMParallelLambda flambda, void* cdata, int num_task) {
  int n = (num_task <= 0 || num_task > g_pool.num_threads) ? g_pool.num_threads : num_task;
  if (tls_in_task || n == 1 || g_pool.num_threads == 1) {
    TVMParallelGroupEnv env = {NULL, 1};
    return flambda(0, &env, cdata) == 0 ? 0 : -1;
  }
  pthread_mutex_lock(&g_pool.mu);
  g_pool.lambda = flambda;
  g_pool.cdata = cdata;
  g_pool.env.sync_handle = &g_pool.barrier;
  g_pool.env.num_task = n;
  pthread_barrier_init(&g_pool.barrier, NULL, (unsigned)n);
  g_pool.pending = g_pool.num_threads - 1;
  g_pool.failed = 0;
  g_pool.generation++;
  g_pool.launches++;
  pthread_cond_broadcast(&g_pool.start_cv);
  pthread_mutex_unlock(&g_pool.mu);

  int rc = ThreadPool_RunTask(0);

  ThreadPool_SpinForWorkers();
  pthread_mutex_lock(&g_pool.mu);
  while (g_pool.pending > 0) pthread_cond_wait(&g_pool.done_cv, &g_pool.mu);
  int failed = g_pool.failed || rc != 0;
  pthread_mutex_unlock(&g_pool.mu);
  pthread_barrier_destroy(&g_pool.barrier);
  return failed ? -1 : 0;
}

int TVMBackendParallelBarrier(int task_id, TVMParallelGroupEnv* penv) {
  (void)task_id;
  if (penv->num_task <= 1 || penv->sync_handle == NULL) return 0;
  pthread_barrier_wait((pthread_barrier_t*)penv->sync_handle);
  return 0;
}
