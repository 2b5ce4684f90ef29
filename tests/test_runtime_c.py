"""The C runtime on its own: thread pool, thread-safe workspaces, barrier, error hook (host build)."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from codegen.toolchain import BENCH_DIR, bench_sources, get_toolchain, link_executable

POOL_TEST = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "error_hook.h"
#include "thread_pool.h"
#include "tvm_abi.h"
#include "workspace.h"

static volatile int g_arrived[64];
static int g_counts[64], g_barrier_ok = 1, g_workspace_ok = 1;

static int Task(int id, TVMParallelGroupEnv* env, void* cdata) {
  for (int rep = 0; rep < 50; ++rep) {
    size_t n = 1000 + (size_t)id;
    unsigned char* a = TVMBackendAllocWorkspace(1, 0, n, 2, 32);
    unsigned char* b = TVMBackendAllocWorkspace(1, 0, 77, 2, 32);
    if (!a || !b || ((uintptr_t)a | (uintptr_t)b) % 64) { g_workspace_ok = 0; return -1; }
    memset(a, id, n);
    memset(b, 255 - id, 77);
    for (size_t i = 0; i < n; ++i) if (a[i] != (unsigned char)id) g_workspace_ok = 0;
    if (TVMBackendFreeWorkspace(1, 0, b) || TVMBackendFreeWorkspace(1, 0, a)) return -1;
  }
  g_arrived[id] = 1;
  TVMBackendParallelBarrier(id, env);
  for (int i = 0; i < env->num_task; ++i) if (!g_arrived[i]) g_barrier_ok = 0;
  g_counts[id]++;
  return 0;
}

static int FailOnTaskOne(int id, TVMParallelGroupEnv* env, void* cdata) { return id == 1 ? -1 : 0; }

int main(int argc, char** argv) {
  int threads = atoi(argv[1]);
  if (Workspace_Init(threads, 1 << 20) || ThreadPool_Init(threads, NULL, 0)) return 1;
  int launches_ok = 1;
  for (int r = 0; r < 40; ++r) {
    if (r % 10 == 9) usleep(20000);  /* idle long enough for the workers to stop spinning and sleep */
    memset((void*)g_arrived, 0, sizeof(g_arrived));
    if (TVMBackendParallelLaunch(Task, NULL, 0) != 0) launches_ok = 0;
  }
  int fail_rc = TVMBackendParallelLaunch(FailOnTaskOne, NULL, 0);
  ThreadPool_Shutdown();  /* a pool can be started again */
  if (ThreadPool_Init(threads, NULL, 0) || TVMBackendParallelLaunch(Task, NULL, 0) != 0) launches_ok = 0;
  void* a = TVMBackendAllocWorkspace(1, 0, 64, 2, 32);
  void* b = TVMBackendAllocWorkspace(1, 0, 64, 2, 32);
  int bad_free = TVMBackendFreeWorkspace(1, 0, a);
  TVMBackendFreeWorkspace(1, 0, b);
  TVMBackendFreeWorkspace(1, 0, a);
  void* big = TVMBackendAllocWorkspace(1, 0, 2 << 20, 2, 32);
  const char* parts[2] = {"shape mismatch ", "at arg 2"};
  TVMFFIErrorSetRaisedFromCStrParts("ValueError", parts, 2);
  printf("{\"threads\": %d, \"launches_ok\": %d, \"counts\": [", ThreadPool_NumThreads(), launches_ok);
  for (int i = 0; i < threads; ++i) printf("%s%d", i ? ", " : "", g_counts[i]);
  printf("], \"barrier_ok\": %d, \"workspace_ok\": %d, \"fail_rc\": %d, \"bad_free\": %d, \"overflow_null\": %d, "
         "\"in_use\": %zu, \"message\": \"%s\"}\n", g_barrier_ok, g_workspace_ok, fail_rc, bad_free, big == NULL,
         Workspace_BytesInUse(), Error_LastMessage());
  ThreadPool_Shutdown();
  return 0;
}
"""


@pytest.fixture(scope="module")
def pool_test(tmp_path_factory):
    src = tmp_path_factory.mktemp("pool") / "pool_test.c"
    src.write_text(POOL_TEST)
    exe = src.with_suffix("")
    runtime = [p for p in bench_sources() if p.name != "bench_main.c"]
    link_executable(get_toolchain("host"), [*runtime, src], [BENCH_DIR], exe)
    return exe


@pytest.mark.parametrize("threads", [1, 4])
def test_thread_pool_and_workspaces(pool_test, threads):
    proc = subprocess.run([str(pool_test), str(threads)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["threads"] == threads and out["launches_ok"] == 1
    assert out["counts"] == [41] * threads  # every task ran once per launch, after sleeping workers woke too
    assert out["barrier_ok"] == 1 and out["workspace_ok"] == 1
    assert out["fail_rc"] == (-1 if threads > 1 else 0)  # a single thread runs only task 0
    assert out["bad_free"] == -1 and "not the last allocation" in proc.stderr
    assert out["overflow_null"] == 1 and out["in_use"] == 0
    assert out["message"] == "ValueError: shape mismatch at arg 2"


def test_failing_kernel_is_named(artifacts, tmp_path):
    """A kernel that rejects its arguments makes the binary name it and exit with the model error code."""
    compiled = artifacts.get("small_cnn", "dense", "host")
    src = compiled.out_dir / "src"
    driver = (src / "model.c").read_text()
    first = re.search(r"static int64_t (s_t\d+_w0)\[\] = \{(\d+),", driver)
    broken = tmp_path / "model.c"
    broken.write_text(driver.replace(first.group(0), f"static int64_t {first.group(1)}[] = {{{int(first.group(2)) + 1},"))
    exe = tmp_path / "broken"
    link_executable(get_toolchain("host"), [*bench_sources(), broken, src / "weights.S", src / "kernels.o"],
                    [BENCH_DIR, src], exe)
    proc = subprocess.run([str(exe), "--runs", "1", "--warmup", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 5
    assert re.search(r"kernel 0 '\w+' failed \(rc=-1\): ValueError: .*shape", proc.stderr), proc.stderr


def test_bench_flag_errors(artifacts):
    binary = str(artifacts.get("small_cnn", "dense", "host").binary)
    for flags, message in [(["--runs", "0"], "invalid --runs '0': expected an integer in [1, 100000]"),
                           (["--runs", "1.5"], "invalid --runs '1.5'"), (["--pin", "x"], "invalid --pin 'x'"),
                           (["--min-ms", "-1"], "invalid --min-ms '-1': expected a number in [0, 3600000]"),
                           (["--warmup-ms", "nan"], "invalid --warmup-ms 'nan'"),
                           (["--delay-ms", "1e9"], "invalid --delay-ms '1e9'"),
                           (["--bogus", "1"], "unknown flag '--bogus'"), (["--input", "/nonexistent"], "cannot open")]:
        proc = subprocess.run([binary, *flags], capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and message in proc.stderr, (flags, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1
    usage = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert all(flag in usage for flag in ("--warmup-ms T", "--min-ms T", "--delay-ms T", "first_ms"))


@pytest.mark.slow
def test_min_ms_stops_at_the_run_limit(artifacts):
    """An hour of --min-ms on a tiny model ends at the binary's limit of 100000 timed runs."""
    binary = str(artifacts.get("small_cnn", "dense", "host").binary)
    proc = subprocess.run([binary, "--warmup", "0", "--min-ms", "3600000"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["runs"] == len(result["times_ms"]) == 100000 and result["runs_min_ms"] == 3600000
