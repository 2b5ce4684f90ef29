/*!
 * \file workspace.h
 * \brief Kernel workspaces: one LIFO stack arena per pool thread, so parallel tasks never share a lock.
 */
#ifndef ANDROID_BENCH_WORKSPACE_H_
#define ANDROID_BENCH_WORKSPACE_H_

#include <stddef.h>

#include "error_codes.h"

/*! \brief Allocate \p num_threads arenas of \p bytes_per_thread bytes each (once, before any kernel runs). */
bench_error_t Workspace_Init(int num_threads, size_t bytes_per_thread);

/*! \brief Release the arenas. */
void Workspace_Shutdown(void);

/*! \brief Bind the calling thread to arena \p slot (0 = the main thread). */
void Workspace_BindThread(int slot);

/*! \brief Bytes in use in the calling thread's arena (0 between kernel calls). */
size_t Workspace_BytesInUse(void);

/*! \brief The most bytes any arena held at once. */
size_t Workspace_PeakBytes(void);

#endif  /* ANDROID_BENCH_WORKSPACE_H_ */
