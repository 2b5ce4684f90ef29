/*!
 * \file platform_posix.c
 * \brief platform.h for POSIX systems: Linux (glibc, musl), Android (bionic) and qemu user mode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "platform.h"

void Platform_Abort(int exit_code) { exit(exit_code); }

uint64_t Platform_TimerNowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void Platform_SleepMs(double ms) {
  uint64_t ns = (uint64_t)(ms * 1e6);
  struct timespec left = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

int Platform_NumCpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

void* Platform_MemoryAllocate(size_t nbytes, size_t align) {
  void* ptr = NULL;
  if (posix_memalign(&ptr, align, nbytes ? nbytes : align) != 0) return NULL;
  return ptr;
}

void Platform_MemoryFree(void* ptr) { free(ptr); }

bench_error_t Platform_PinCurrentThread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0 ? kBenchOk : kBenchErrorPlatformAffinity;
}
