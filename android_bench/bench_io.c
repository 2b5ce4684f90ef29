/*!
 * \file bench_io.c
 * \brief File input/output with sizes checked, and a deterministic random input.
 */
#include <stdio.h>

#include "bench_io.h"
#include "logging.h"

bench_error_t BenchIO_ReadExact(const char* path, void* dst, size_t nbytes) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
    BENCH_LOG("cannot open input '%s'", path);
    return kBenchErrorIORead;
  }
  size_t got = fread(dst, 1, nbytes, f);
  int extra = fgetc(f) != EOF;
  fclose(f);
  if (got != nbytes || extra) {
    BENCH_LOG("input '%s' has %s%zu bytes, the model expects %zu (raw float32)", path, extra ? "more than " : "",
              got, nbytes);
    return kBenchErrorIOSize;
  }
  return kBenchOk;
}

bench_error_t BenchIO_Write(const char* path, const void* src, size_t nbytes) {
  FILE* f = fopen(path, "wb");
  if (f == NULL || fwrite(src, 1, nbytes, f) != nbytes) {
    BENCH_LOG("cannot write output '%s'", path);
    if (f) fclose(f);
    return kBenchErrorIOWrite;
  }
  return fclose(f) == 0 ? kBenchOk : kBenchErrorIOWrite;
}

static uint64_t BenchIO_SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void BenchIO_RandomFloats(float* dst, size_t count, uint64_t seed) {
  uint64_t state = seed;
  for (size_t i = 0; i < count; ++i) {
    /* 24 random bits -> [0, 1) exactly representable, then [-1, 1). */
    dst[i] = (float)(BenchIO_SplitMix64(&state) >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
}
