/* A qemu TCG plugin (plugin API version 1, qemu-user 7.2) counting executed guest instructions.
 *
 * Usage: qemu-aarch64 -plugin ./libinsn.so,out=/path/counts.json[,classes=on] ./binary ...
 * Writes {"instructions": N, "classes": {...}} at exit. With classes=on every instruction is also
 * counted into one of load/store/branch/simd_fp/other, from its disassembly at translation time.
 * Counters are plain inline adds: exact for one guest thread; run counted binaries single-threaded.
 * The few plugin API functions used are declared here by hand (Debian ships no qemu-plugin.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                           void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb*));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb* tb, enum qemu_plugin_op op, void* ptr,
                                              uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, void*), void* userdata);
struct qemu_plugin_insn* qemu_plugin_tb_get_insn(const struct qemu_plugin_tb* tb, size_t idx);
char* qemu_plugin_insn_disas(const struct qemu_plugin_insn* insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn* insn, enum qemu_plugin_op op, void* ptr,
                                                uint64_t imm);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

enum { CLASS_LOAD, CLASS_STORE, CLASS_BRANCH, CLASS_SIMD_FP, CLASS_OTHER, NUM_CLASSES };
static const char* kClassNames[NUM_CLASSES] = {"load", "store", "branch", "simd_fp", "other"};
static uint64_t g_total;
static uint64_t g_classes[NUM_CLASSES];
static int g_with_classes;
static char g_out_path[4096];

static int IsBranch(const char* m) {
  static const char* kBranches[] = {"b", "bl", "br", "blr", "ret", "cbz", "cbnz", "tbz", "tbnz", NULL};
  if (strncmp(m, "b.", 2) == 0) return 1;
  for (int i = 0; kBranches[i]; ++i)
    if (strcmp(m, kBranches[i]) == 0) return 1;
  return 0;
}

/* A SIMD/FP register operand: v<digit>, q<digit>, d<digit>, s<digit>, h<digit> after a separator. */
static int HasVectorOperand(const char* ops) {
  for (const char* p = ops; *p; ++p) {
    int at_start = (p == ops) || p[-1] == ' ' || p[-1] == '{' || p[-1] == ',';
    if (at_start && strchr("vqdsh", *p) && p[1] >= '0' && p[1] <= '9') return 1;
  }
  return 0;
}

static int Classify(const char* disas) {
  char mnemonic[32] = {0};
  size_t n = strcspn(disas, " \t");
  if (n >= sizeof(mnemonic)) n = sizeof(mnemonic) - 1;
  memcpy(mnemonic, disas, n);
  const char* ops = disas + n;
  if (strncmp(mnemonic, "ld", 2) == 0) return CLASS_LOAD;
  if (strncmp(mnemonic, "st", 2) == 0) return CLASS_STORE;
  if (IsBranch(mnemonic)) return CLASS_BRANCH;
  if (mnemonic[0] == 'f' || HasVectorOperand(ops)) return CLASS_SIMD_FP;
  return CLASS_OTHER;
}

static void OnTranslate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  size_t n = qemu_plugin_tb_n_insns(tb);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &g_total, n);
  if (!g_with_classes) return;
  for (size_t i = 0; i < n; ++i) {
    struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    char* text = qemu_plugin_insn_disas(insn);
    int cls = text ? Classify(text) : CLASS_OTHER;
    free(text);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &g_classes[cls], 1);
  }
}

static void OnExit(qemu_plugin_id_t id, void* userdata) {
  FILE* f = g_out_path[0] ? fopen(g_out_path, "w") : stderr;
  if (!f) return;
  fprintf(f, "{\"instructions\": %llu, \"classes\": {", (unsigned long long)g_total);
  for (int c = 0; c < NUM_CLASSES && g_with_classes; ++c)
    fprintf(f, "%s\"%s\": %llu", c ? ", " : "", kClassNames[c], (unsigned long long)g_classes[c]);
  fprintf(f, "}}\n");
  if (f != stderr) fclose(f);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    if (strncmp(argv[i], "out=", 4) == 0) snprintf(g_out_path, sizeof(g_out_path), "%s", argv[i] + 4);
    else if (strcmp(argv[i], "classes=on") == 0) g_with_classes = 1;
    else {
      fprintf(stderr, "insn plugin: unknown argument '%s' (expected out=PATH, classes=on)\n", argv[i]);
      return -1;
    }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, OnTranslate);
  qemu_plugin_register_atexit_cb(id, OnExit, NULL);
  return 0;
}
