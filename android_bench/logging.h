/*!
 * \file logging.h
 * \brief Messages on stderr and CHECK macros that print file:line, the expression and its values, then abort.
 */
#ifndef ANDROID_BENCH_LOGGING_H_
#define ANDROID_BENCH_LOGGING_H_

#include <stdio.h>

#include "platform.h"

#define BENCH_LOG(fmt, ...) fprintf(stderr, "bench: " fmt "\n", ##__VA_ARGS__)

#define BENCH_LOG_AT(fmt, ...) fprintf(stderr, "bench: %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__)

#define CHECK(cond, fmt, ...)                                      \
  do {                                                             \
    if (!(cond)) {                                                 \
      BENCH_LOG_AT("check failed: %s: " fmt, #cond, ##__VA_ARGS__); \
      Platform_Abort(1);                                           \
    }                                                              \
  } while (0)

#define CHECK_OP_(x, y, op, fmt, ...)                                                           \
  do {                                                                                         \
    long long x_ = (long long)(x), y_ = (long long)(y);                                        \
    if (!(x_ op y_)) {                                                                         \
      BENCH_LOG_AT("check failed: %s %s %s (%lld vs %lld): " fmt, #x, #op, #y, x_, y_,          \
                   ##__VA_ARGS__);                                                             \
      Platform_Abort(1);                                                                       \
    }                                                                                          \
  } while (0)

#define CHECK_EQ(x, y, fmt, ...) CHECK_OP_(x, y, ==, fmt, ##__VA_ARGS__)
#define CHECK_LE(x, y, fmt, ...) CHECK_OP_(x, y, <=, fmt, ##__VA_ARGS__)
#define CHECK_LT(x, y, fmt, ...) CHECK_OP_(x, y, <, fmt, ##__VA_ARGS__)
#define CHECK_GE(x, y, fmt, ...) CHECK_OP_(x, y, >=, fmt, ##__VA_ARGS__)

#endif  /* ANDROID_BENCH_LOGGING_H_ */
