/*!
 * \file bench_stats.h
 * \brief Summary statistics of per-run times.
 */
#ifndef ANDROID_BENCH_BENCH_STATS_H_
#define ANDROID_BENCH_BENCH_STATS_H_

typedef struct {
  double min, median, mean, std, p90;
} BenchStats;

/*! \brief Statistics of \p n values (n >= 1); nearest-rank p90, median of the two middle values when n is even,
 *         population standard deviation. */
BenchStats BenchStats_Compute(const double* values, int n);

#endif  /* ANDROID_BENCH_BENCH_STATS_H_ */
