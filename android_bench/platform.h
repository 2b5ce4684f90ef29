/*!
 * \file platform.h
 * \brief Everything the benchmark needs from the operating system; one implementation per platform
 *        (platform_posix.c serves Linux, Android and qemu user mode).
 */
#ifndef ANDROID_BENCH_PLATFORM_H_
#define ANDROID_BENCH_PLATFORM_H_

#include <stddef.h>
#include <stdint.h>

#include "error_codes.h"

/*! \brief Print nothing more and end the process with \p exit_code. */
void Platform_Abort(int exit_code) __attribute__((noreturn));

/*! \brief Monotonic time in nanoseconds. */
uint64_t Platform_TimerNowNs(void);

/*! \brief Sleep at least \p ms milliseconds. */
void Platform_SleepMs(double ms);

/*! \brief Number of online CPUs (at least 1). */
int Platform_NumCpus(void);

/*! \brief Memory aligned to \p align bytes (a power of two); NULL when out of memory. */
void* Platform_MemoryAllocate(size_t nbytes, size_t align);

/*! \brief Release memory from Platform_MemoryAllocate. */
void Platform_MemoryFree(void* ptr);

/*! \brief Pin the calling thread to one CPU. */
bench_error_t Platform_PinCurrentThread(int cpu);

#endif  /* ANDROID_BENCH_PLATFORM_H_ */
