/*!
 * \file bench_stats.c
 * \brief min / median / mean / std / p90 over a copy of the per-run times.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_stats.h"
#include "logging.h"

static int BenchStats_Cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

BenchStats BenchStats_Compute(const double* values, int n) {
  CHECK_GE(n, 1, "no values");
  double* sorted = Platform_MemoryAllocate(sizeof(double) * (size_t)n, sizeof(double));
  CHECK(sorted != NULL, "out of memory for %d values", n);
  memcpy(sorted, values, sizeof(double) * (size_t)n);
  qsort(sorted, (size_t)n, sizeof(double), BenchStats_Cmp);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += sorted[i];
  double mean = sum / n, squares = 0;
  for (int i = 0; i < n; ++i) squares += (sorted[i] - mean) * (sorted[i] - mean);
  int rank90 = (int)ceil(0.9 * n) - 1;
  BenchStats s = {
      .min = sorted[0],
      .median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
      .mean = mean,
      .std = sqrt(squares / n),
      .p90 = sorted[rank90 < 0 ? 0 : rank90],
  };
  Platform_MemoryFree(sorted);
  return s;
}
