/*!
 * \file error_hook.h
 * \brief What the last failing kernel said, and a report naming the kernel.
 */
#ifndef ANDROID_BENCH_ERROR_HOOK_H_
#define ANDROID_BENCH_ERROR_HOOK_H_

/*! \brief The message recorded by TVMFFIErrorSetRaisedFromCStrParts ("kind: parts..."). */
const char* Error_LastMessage(void);

/*! \brief Print "kernel INDEX 'NAME' failed (rc=RC): message" and return kBenchErrorModelKernel. */
int Error_ReportKernel(const char* kernel, int index, int rc);

#endif  /* ANDROID_BENCH_ERROR_HOOK_H_ */
