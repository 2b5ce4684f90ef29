/*!
 * \file workspace.c
 * \brief TVMBackendAllocWorkspace / TVMBackendFreeWorkspace over per-thread stack arenas.
 *
 * Kernels free workspaces in the reverse order they allocated them, also inside parallel tasks, so each
 * thread bumps a pointer in its own arena: no lock and no malloc on the hot path. A free that is not the
 * last allocation of this thread is reported as an error.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "logging.h"
#include "tvm_abi.h"
#include "workspace.h"

typedef struct {
  uint8_t* base;
  size_t used;
  int depth;
  size_t marks[BENCH_MAX_WORKSPACE_DEPTH]; /* `used` before each live allocation */
} Arena;

static Arena g_arenas[BENCH_MAX_THREADS];
static int g_num_arenas;
static size_t g_arena_bytes;
static atomic_size_t g_peak;
static _Thread_local int tls_slot;

bench_error_t Workspace_Init(int num_threads, size_t bytes_per_thread) {
  CHECK(num_threads >= 1 && num_threads <= BENCH_MAX_THREADS, "num_threads=%d, BENCH_MAX_THREADS=%d",
        num_threads, BENCH_MAX_THREADS);
  g_arena_bytes = (bytes_per_thread + BENCH_ALIGN_BYTES - 1) / BENCH_ALIGN_BYTES * BENCH_ALIGN_BYTES;
  for (int i = 0; i < num_threads; ++i) {
    g_arenas[i].base = Platform_MemoryAllocate(g_arena_bytes, BENCH_ALIGN_BYTES);
    g_arenas[i].used = 0;
    g_arenas[i].depth = 0;
    if (g_arenas[i].base == NULL) return kBenchErrorPlatformNoMemory;
    g_num_arenas = i + 1;
  }
  return kBenchOk;
}

void Workspace_Shutdown(void) {
  for (int i = 0; i < g_num_arenas; ++i) Platform_MemoryFree(g_arenas[i].base);
  g_num_arenas = 0;
}

void Workspace_BindThread(int slot) {
  CHECK(slot >= 0 && slot < BENCH_MAX_THREADS, "slot=%d", slot);
  tls_slot = slot;
}

size_t Workspace_BytesInUse(void) { return g_arenas[tls_slot].used; }

size_t Workspace_PeakBytes(void) { return atomic_load(&g_peak); }

static void Workspace_NotePeak(size_t used) {
  size_t peak = atomic_load(&g_peak);
  while (used > peak && !atomic_compare_exchange_weak(&g_peak, &peak, used)) {
  }
}

void* TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes, int dtype_code_hint,
                               int dtype_bits_hint) {
  Arena* arena = &g_arenas[tls_slot];
  size_t rounded = (size_t)(nbytes + BENCH_ALIGN_BYTES - 1) / BENCH_ALIGN_BYTES * BENCH_ALIGN_BYTES;
  if (tls_slot >= g_num_arenas || arena->depth >= BENCH_MAX_WORKSPACE_DEPTH ||
      rounded > g_arena_bytes - arena->used) {
    BENCH_LOG("TVMBackendAllocWorkspace(%d, %d, %llu, %d, %d) -> NULL: thread slot %d, %zu of %zu bytes "
              "used, depth %d (raise --workspace-mb or BENCH_MAX_WORKSPACE_DEPTH)",
              device_type, device_id, (unsigned long long)nbytes, dtype_code_hint, dtype_bits_hint, tls_slot,
              arena->used, g_arena_bytes, arena->depth);
    return NULL;
  }
  void* ptr = arena->base + arena->used;
  arena->marks[arena->depth++] = arena->used;
  arena->used += rounded;
  Workspace_NotePeak(arena->used);
  return ptr;
}

int TVMBackendFreeWorkspace(int device_type, int device_id, void* ptr) {
  Arena* arena = &g_arenas[tls_slot];
  if (arena->depth == 0 || (uint8_t*)ptr != arena->base + arena->marks[arena->depth - 1]) {
    BENCH_LOG("TVMBackendFreeWorkspace(%d, %d, %p): not the last allocation of thread slot %d (depth %d)",
              device_type, device_id, ptr, tls_slot, arena->depth);
    return -1;
  }
  arena->used = arena->marks[--arena->depth];
  return 0;
}
