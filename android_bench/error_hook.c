/*!
 * \file error_hook.c
 * \brief The error setter kernels call before returning -1, and the report of which kernel failed.
 */
#include <pthread.h>
#include <string.h>

#include "config.h"
#include "error_hook.h"
#include "logging.h"
#include "tvm_abi.h"

static char g_message[BENCH_ERROR_BYTES];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

void TVMFFIErrorSetRaisedFromCStrParts(const char* kind, const char** message_parts, int32_t num_parts) {
  pthread_mutex_lock(&g_mu);
  size_t len = 0;
  g_message[0] = '\0';
  const char* head[2] = {kind ? kind : "Error", ": "};
  for (int i = 0; i < 2 + num_parts; ++i) {
    const char* part = i < 2 ? head[i] : message_parts[i - 2];
    if (part == NULL) continue;
    size_t n = strlen(part);
    if (n > sizeof(g_message) - 1 - len) n = sizeof(g_message) - 1 - len;
    memcpy(g_message + len, part, n);
    len += n;
  }
  g_message[len] = '\0';
  pthread_mutex_unlock(&g_mu);
}

int TVMFFIEnvModRegisterSystemLibSymbol(const char* name, void* symbol) {
  /* Kernels are called directly by symbol; there is no system-library lookup table to fill. */
  (void)name;
  (void)symbol;
  return 0;
}

const char* Error_LastMessage(void) { return g_message[0] ? g_message : "(no message)"; }

int Error_ReportKernel(const char* kernel, int index, int rc) {
  BENCH_LOG("kernel %d '%s' failed (rc=%d): %s", index, kernel, rc, Error_LastMessage());
  return kBenchErrorModelKernel;
}
