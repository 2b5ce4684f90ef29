/* A qemu TCG plugin (plugin API version 1, qemu-user 7.2) counting executed guest instructions.
 *
 * Usage: qemu-aarch64 -plugin ./libinsn.so,out=/path/counts.json[,classes=on][,ranges=FILE,entry=ADDR] ./binary
 * Writes {"instructions": N, "classes": {...}, "ranges": [...]} at exit. With classes=on every instruction is
 * also counted into one of load/store/branch/simd_fp/other, from its disassembly at translation time.
 * With ranges=FILE (lines "START END", hexadecimal link-time addresses, END exclusive, sorted, disjoint)
 * the instructions executed inside each range are counted too. entry=ADDR is the program's link-time entry
 * point: the first block qemu translates (a static binary starts there) gives the load bias of a
 * position-independent executable (0 for a fixed-address one).
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
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn* insn);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

enum { CLASS_LOAD, CLASS_STORE, CLASS_BRANCH, CLASS_SIMD_FP, CLASS_OTHER, NUM_CLASSES };
static const char* kClassNames[NUM_CLASSES] = {"load", "store", "branch", "simd_fp", "other"};
static uint64_t g_total;
static uint64_t g_classes[NUM_CLASSES];
static int g_with_classes;
static char g_out_path[4096];

typedef struct {
  uint64_t start, end;
} Range;
static Range* g_ranges;
static uint64_t* g_range_counts;
static size_t g_num_ranges;
static uint64_t g_entry;
static int64_t g_bias;
static int g_bias_known;

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

/* Index of the range holding link-time address addr, or -1. */
static long FindRange(uint64_t addr) {
  size_t lo = 0, hi = g_num_ranges;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (addr < g_ranges[mid].start) hi = mid;
    else if (addr >= g_ranges[mid].end) lo = mid + 1;
    else return (long)mid;
  }
  return -1;
}

/* One inline add per run of consecutive instructions of the block that fall into the same range. */
static void CountRanges(struct qemu_plugin_tb* tb, size_t n) {
  long current = -1;
  uint64_t run = 0;
  for (size_t i = 0; i <= n; ++i) {
    long r = -1;
    if (i < n) {
      uint64_t vaddr = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i));
      if (!g_bias_known) {
        g_bias = (int64_t)(vaddr - g_entry);
        g_bias_known = 1;
      }
      r = FindRange(vaddr - (uint64_t)g_bias);
    }
    if (r != current || i == n) {
      if (current >= 0) qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
                                                                  &g_range_counts[current], run);
      current = r;
      run = 0;
    }
    ++run;
  }
}

static void OnTranslate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  size_t n = qemu_plugin_tb_n_insns(tb);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &g_total, n);
  if (g_num_ranges) CountRanges(tb, n);
  if (!g_with_classes) return;
  for (size_t i = 0; i < n; ++i) {
    struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    char* text = qemu_plugin_insn_disas(insn);
    int cls = text ? Classify(text) : CLASS_OTHER;
    free(text);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &g_classes[cls], 1);
  }
}

/* Read "START END" lines; returns 0, or -1 after saying what is wrong. */
static int LoadRanges(const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "insn plugin: cannot open ranges file '%s'\n", path);
    return -1;
  }
  size_t capacity = 0;
  unsigned long long start, end;
  while (fscanf(f, "%llx %llx", &start, &end) == 2) {
    if (g_num_ranges == capacity) {
      capacity = capacity ? 2 * capacity : 256;
      g_ranges = realloc(g_ranges, capacity * sizeof(Range));
      if (!g_ranges) break;
    }
    int sorted = g_num_ranges == 0 || g_ranges[g_num_ranges - 1].end <= start;
    if (end <= start || !sorted) {
      fprintf(stderr, "insn plugin: range %llx %llx in '%s' is empty or not after the previous one\n", start,
              end, path);
      fclose(f);
      return -1;
    }
    g_ranges[g_num_ranges++] = (Range){start, end};
  }
  int complete = feof(f) && g_ranges;
  fclose(f);
  g_range_counts = g_ranges ? calloc(g_num_ranges, sizeof(uint64_t)) : NULL;
  if (!complete || !g_range_counts) {
    fprintf(stderr, "insn plugin: ranges file '%s' is malformed or empty (expected lines 'START END')\n", path);
    return -1;
  }
  return 0;
}

static void OnExit(qemu_plugin_id_t id, void* userdata) {
  FILE* f = g_out_path[0] ? fopen(g_out_path, "w") : stderr;
  if (!f) return;
  fprintf(f, "{\"instructions\": %llu, \"classes\": {", (unsigned long long)g_total);
  for (int c = 0; c < NUM_CLASSES && g_with_classes; ++c)
    fprintf(f, "%s\"%s\": %llu", c ? ", " : "", kClassNames[c], (unsigned long long)g_classes[c]);
  fprintf(f, "}, \"ranges\": [");
  for (size_t r = 0; r < g_num_ranges; ++r)
    fprintf(f, "%s%llu", r ? ", " : "", (unsigned long long)g_range_counts[r]);
  fprintf(f, "]}\n");
  if (f != stderr) fclose(f);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc, char** argv) {
  int entry_given = 0;
  for (int i = 0; i < argc; ++i) {
    if (strncmp(argv[i], "out=", 4) == 0) snprintf(g_out_path, sizeof(g_out_path), "%s", argv[i] + 4);
    else if (strcmp(argv[i], "classes=on") == 0) g_with_classes = 1;
    else if (strncmp(argv[i], "ranges=", 7) == 0) {
      if (LoadRanges(argv[i] + 7) != 0) return -1;
    } else if (strncmp(argv[i], "entry=", 6) == 0) {
      g_entry = strtoull(argv[i] + 6, NULL, 16);
      entry_given = 1;
    } else {
      fprintf(stderr, "insn plugin: unknown argument '%s' (expected out=PATH, classes=on, ranges=FILE, "
              "entry=ADDR)\n", argv[i]);
      return -1;
    }
  }
  g_bias_known = !entry_given;  /* without entry=, ranges are run-time addresses */
  qemu_plugin_register_vcpu_tb_trans_cb(id, OnTranslate);
  qemu_plugin_register_atexit_cb(id, OnExit, NULL);
  return 0;
}
