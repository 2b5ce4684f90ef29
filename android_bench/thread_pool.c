/*!
 * \file thread_pool.c
 * \brief TVMBackendParallelLaunch and TVMBackendParallelBarrier on a small pthread pool.
 *
 * One launch runs min(num_task, threads) tasks, one per thread, so a barrier inside a task cannot deadlock.
 * A launch from inside a task (nested parallelism) runs serially as a single task.
 *
 * Launches come once per layer, microseconds apart, so waking a sleeping worker (a futex round trip of tens of
 * microseconds) would cost as much as a small layer's work. A launch is published by bumping an atomic generation
 * and finished by counting down an atomic pending count; both sides spin on those for up to SPIN_ROUNDS pauses and
 * only then sleep on a condition variable. The mutex is taken only around sleeping and waking a sleeper: a sleeper
 * announces itself in an atomic count (or flag) before it checks once more, and the other side reads it after
 * its own update, so one of the two always sees the other (sequentially consistent atomics).
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
  _Alignas(64) _Atomic uint64_t generation; /* bumped once per launch, after its fields below are written */
  _Atomic int shutdown;
  _Atomic int sleepers;          /* workers asleep (or about to sleep) on start_cv */
  _Alignas(64) _Atomic int pending; /* workers that have not finished the current launch */
  _Atomic int caller_sleeping;   /* the launching thread sleeps (or is about to) on done_cv */
  _Atomic int failed;
  _Alignas(64) FTVMParallelLambda lambda;
  void* cdata;
  TVMParallelGroupEnv env;
  pthread_barrier_t barrier;
  long launches; /* launches split over more than one thread */
} ThreadPool;

static ThreadPool g_pool = {.num_threads = 1, .mu = PTHREAD_MUTEX_INITIALIZER,
                            .start_cv = PTHREAD_COND_INITIALIZER, .done_cv = PTHREAD_COND_INITIALIZER};
static _Thread_local int tls_in_task;

typedef struct {
  int index;
  int cpu;          /* -1: not pinned */
  uint64_t seen;    /* the generation when the worker was created: it waits for the next one */
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

/* Wait for the launch after \p seen; returns its generation, or 0 when the pool shuts down. */
static uint64_t ThreadPool_WaitForLaunch(uint64_t seen) {
  for (int i = 0; i < SPIN_ROUNDS; ++i) {
    uint64_t now = atomic_load_explicit(&g_pool.generation, memory_order_acquire);
    if (now != seen) return now;
    if (atomic_load_explicit(&g_pool.shutdown, memory_order_relaxed)) return 0;
    ThreadPool_Relax();
  }
  pthread_mutex_lock(&g_pool.mu);
  atomic_fetch_add(&g_pool.sleepers, 1);
  while (atomic_load(&g_pool.generation) == seen && !atomic_load(&g_pool.shutdown)) {
    pthread_cond_wait(&g_pool.start_cv, &g_pool.mu);
  }
  atomic_fetch_sub(&g_pool.sleepers, 1);
  pthread_mutex_unlock(&g_pool.mu);
  return atomic_load(&g_pool.shutdown) ? 0 : atomic_load(&g_pool.generation);
}

/* Wait until every worker has finished the current launch. */
static void ThreadPool_WaitForWorkers(void) {
  for (int i = 0; i < SPIN_ROUNDS; ++i) {
    if (atomic_load_explicit(&g_pool.pending, memory_order_acquire) == 0) return;
    ThreadPool_Relax();
  }
  pthread_mutex_lock(&g_pool.mu);
  atomic_store(&g_pool.caller_sleeping, 1);
  while (atomic_load(&g_pool.pending) > 0) pthread_cond_wait(&g_pool.done_cv, &g_pool.mu);
  atomic_store(&g_pool.caller_sleeping, 0);
  pthread_mutex_unlock(&g_pool.mu);
}

/* Wake every thread that sleeps on \p cv, when its sleeper count or flag says one may. */
static void ThreadPool_Wake(_Atomic int* sleeping, pthread_cond_t* cv) {
  if (atomic_load(sleeping) == 0) return;
  pthread_mutex_lock(&g_pool.mu);
  pthread_cond_broadcast(cv);
  pthread_mutex_unlock(&g_pool.mu);
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
  uint64_t seen = self->seen;
  while ((seen = ThreadPool_WaitForLaunch(seen)) != 0) {
    if (self->index < g_pool.env.num_task && ThreadPool_RunTask(self->index) != 0) {
      atomic_store_explicit(&g_pool.failed, 1, memory_order_relaxed);
    }
    if (atomic_fetch_sub(&g_pool.pending, 1) == 1) ThreadPool_Wake(&g_pool.caller_sleeping, &g_pool.done_cv);
  }
  return NULL;
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
    g_worker_args[i].seen = atomic_load(&g_pool.generation);
    if (pthread_create(&g_pool.threads[i], NULL, ThreadPool_WorkerMain, &g_worker_args[i]) != 0) {
      return kBenchErrorThreadPoolCreate;
    }
    g_pool.num_started = i;
  }
  return kBenchOk;
}

void ThreadPool_Shutdown(void) {
  pthread_mutex_lock(&g_pool.mu);
  atomic_store(&g_pool.shutdown, 1);
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
  g_pool.lambda = flambda;
  g_pool.cdata = cdata;
  g_pool.env.sync_handle = &g_pool.barrier;
  g_pool.env.num_task = n;
  pthread_barrier_init(&g_pool.barrier, NULL, (unsigned)n);
  atomic_store_explicit(&g_pool.pending, g_pool.num_threads - 1, memory_order_relaxed);
  atomic_store_explicit(&g_pool.failed, 0, memory_order_relaxed);
  g_pool.launches++;
  atomic_fetch_add(&g_pool.generation, 1); /* publishes the fields above */
  ThreadPool_Wake(&g_pool.sleepers, &g_pool.start_cv);

  int rc = ThreadPool_RunTask(0);

  ThreadPool_WaitForWorkers();
  pthread_barrier_destroy(&g_pool.barrier);
  return atomic_load_explicit(&g_pool.failed, memory_order_relaxed) || rc != 0 ? -1 : 0;
}

int TVMBackendParallelBarrier(int task_id, TVMParallelGroupEnv* penv) {
  (void)task_id;
  if (penv->num_task <= 1 || penv->sync_handle == NULL) return 0;
  pthread_barrier_wait((pthread_barrier_t*)penv->sync_handle);
  return 0;
}
