/*!
 * \file error_codes.h
 * \brief Error codes: (category << 8) | code, zero is success.
 */
#ifndef ANDROID_BENCH_ERROR_CODES_H_
#define ANDROID_BENCH_ERROR_CODES_H_

typedef enum {
  kBenchErrorCategoryPlatform = 1,
  kBenchErrorCategoryWorkspace = 2,
  kBenchErrorCategoryThreadPool = 3,
  kBenchErrorCategoryArgs = 4,
  kBenchErrorCategoryIO = 5,
  kBenchErrorCategoryModel = 6,
} bench_error_category_t;

#define BENCH_ERROR(category, code) (((category) << 8) | (code))

typedef enum {
  kBenchOk = 0,
  kBenchErrorPlatformNoMemory = BENCH_ERROR(kBenchErrorCategoryPlatform, 1),
  kBenchErrorPlatformAffinity = BENCH_ERROR(kBenchErrorCategoryPlatform, 2),
  kBenchErrorWorkspaceOverflow = BENCH_ERROR(kBenchErrorCategoryWorkspace, 1),
  kBenchErrorWorkspaceBadFree = BENCH_ERROR(kBenchErrorCategoryWorkspace, 2),
  kBenchErrorWorkspaceTooDeep = BENCH_ERROR(kBenchErrorCategoryWorkspace, 3),
  kBenchErrorThreadPoolCreate = BENCH_ERROR(kBenchErrorCategoryThreadPool, 1),
  kBenchErrorThreadPoolTask = BENCH_ERROR(kBenchErrorCategoryThreadPool, 2),
  kBenchErrorArgsInvalid = BENCH_ERROR(kBenchErrorCategoryArgs, 1),
  kBenchErrorIORead = BENCH_ERROR(kBenchErrorCategoryIO, 1),
  kBenchErrorIOWrite = BENCH_ERROR(kBenchErrorCategoryIO, 2),
  kBenchErrorIOSize = BENCH_ERROR(kBenchErrorCategoryIO, 3),
  kBenchErrorModelKernel = BENCH_ERROR(kBenchErrorCategoryModel, 1),
} bench_error_t;

#endif  /* ANDROID_BENCH_ERROR_CODES_H_ */
