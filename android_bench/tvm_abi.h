/*!
 * \file tvm_abi.h
 * \brief The binary interface between TVM-generated kernels and this runtime, declared from the
 *        DLPack / tvm-ffi ABI (layouts must match: DLTensor is 48 bytes, an argument slot 16 bytes).
 */
#ifndef ANDROID_BENCH_TVM_ABI_H_
#define ANDROID_BENCH_TVM_ABI_H_

#include <stdint.h>

typedef struct {
  int32_t device_type; /* 1 = CPU */
  int32_t device_id;
} DLDevice;

typedef struct {
  uint8_t code; /* 0 int, 1 uint, 2 float */
  uint8_t bits;
  uint16_t lanes;
} DLDataType;

typedef struct {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides; /* NULL: compact row-major */
  uint64_t byte_offset;
} DLTensor;

/*! \brief tvm-ffi type index of a plain DLTensor pointer argument. */
#define TVM_ABI_DLTENSOR_PTR 7

/*! \brief One packed argument: a type index and an 8-byte value. */
typedef struct {
  int32_t type_index;
  uint32_t zero_padding;
  union {
    int64_t v_int64;
    double v_float64;
    void* v_ptr;
  };
} TVMAbiAny;

/*! \brief Signature of an exported kernel symbol __tvm_ffi_<name>; returns 0 or -1. */
typedef int (*TVMAbiKernel)(void* self, const TVMAbiAny* args, int32_t num_args, TVMAbiAny* result);

typedef struct {
  void* sync_handle;
  int32_t num_task;
} TVMParallelGroupEnv;

typedef int (*FTVMParallelLambda)(int task_id, TVMParallelGroupEnv* penv, void* cdata);

/* Functions the kernels call; this runtime defines them. */
void* TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes, int dtype_code_hint,
                               int dtype_bits_hint);
int TVMBackendFreeWorkspace(int device_type, int device_id, void* ptr);
int TVMBackendParallelLaunch(FTVMParallelLambda flambda, void* cdata, int num_task);
int TVMBackendParallelBarrier(int task_id, TVMParallelGroupEnv* penv);
void TVMFFIErrorSetRaisedFromCStrParts(const char* kind, const char** message_parts, int32_t num_parts);
int TVMFFIEnvModRegisterSystemLibSymbol(const char* name, void* symbol);

_Static_assert(sizeof(TVMAbiAny) == 16, "TVMAbiAny must be 16 bytes");

#endif  /* ANDROID_BENCH_TVM_ABI_H_ */
