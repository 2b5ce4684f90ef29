/*!
 * \file bench_io.h
 * \brief Raw float32 input/output files and the seeded random input.
 */
#ifndef ANDROID_BENCH_BENCH_IO_H_
#define ANDROID_BENCH_BENCH_IO_H_

#include <stddef.h>
#include <stdint.h>

#include "error_codes.h"

/*! \brief Read exactly \p nbytes from \p path; a file of another size is an error naming both sizes. */
bench_error_t BenchIO_ReadExact(const char* path, void* dst, size_t nbytes);

/*! \brief Write \p nbytes to \p path. */
bench_error_t BenchIO_Write(const char* path, const void* src, size_t nbytes);

/*! \brief Fill \p count floats uniform in [-1, 1) from a splitmix64 stream seeded with \p seed. */
void BenchIO_RandomFloats(float* dst, size_t count, uint64_t seed);

#endif  /* ANDROID_BENCH_BENCH_IO_H_ */
