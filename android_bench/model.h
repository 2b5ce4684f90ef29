/*!
 * \file model.h
 * \brief What a generated model driver (model.c, written by the Python codegen) provides.
 */
#ifndef ANDROID_BENCH_MODEL_H_
#define ANDROID_BENCH_MODEL_H_

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char* name;      /* model name given at compile time */
  const char* hash;      /* sha256 prefix of the weights blob and the kernel object */
  const char* target;    /* codegen target name, e.g. "linux-aarch64" */
  int32_t num_kernels;   /* kernel calls per inference */
  int32_t input_ndim;
  const int64_t* input_shape;
  size_t input_bytes;    /* float32 input */
  int32_t output_ndim;
  const int64_t* output_shape;
  size_t output_bytes;   /* float32 output */
  const char* const* kernel_names;  /* num_kernels names, in call order */
} ModelInfo;

/*! \brief Static facts about the compiled model. */
const ModelInfo* Model_GetInfo(void);

/*!
 * \brief One inference: copy \p input (input_bytes) in, run every kernel, copy the result to \p output.
 * \return 0, or kBenchErrorModelKernel after reporting which kernel failed.
 */
int Model_Run(const void* input, void* output);

/*!
 * \brief Model_Run that also stores the duration of each kernel call in \p kernel_ns (num_kernels entries,
 *        call order), measured with Platform_TimerNowNs around the call.
 */
int Model_RunProfiled(const void* input, void* output, uint64_t* kernel_ns);

#endif  /* ANDROID_BENCH_MODEL_H_ */
