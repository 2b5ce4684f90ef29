"""C toolchains: the host compiler, zig (musl, fully static) and the Android NDK's clang.

The runtime sources in ``android_bench/`` and the generated driver are compiled and linked with the kernel
object in one compiler call.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolchainError

BENCH_DIR = Path(__file__).resolve().parent.parent / "android_bench"
NDK_API_LEVEL = 24  # pthread_barrier and friends need API 24
PAGE_16K = ("-Wl,-z,max-page-size=16384",)  # Android 15+ devices may use 16 KB pages; segments must align to them


@dataclass(frozen=True)
class Toolchain:
    """A compiler command line prefix and the flags every build gets."""

    name: str
    cc: tuple[str, ...]
    flags: tuple[str, ...]


def bench_sources() -> list[Path]:
    """The C files of the benchmark runtime."""
    if not BENCH_DIR.is_dir():
        raise ToolchainError(f"benchmark runtime sources not found at {BENCH_DIR}")
    return sorted(BENCH_DIR.glob("*.c"))


def get_toolchain(target: str) -> Toolchain:
    """The toolchain for a target name (see ``codegen.targets``).

    ``host`` uses ``$CC`` or ``cc``; ``linux-aarch64`` uses zig's clang for aarch64-linux-musl, static;
    ``android-arm64`` uses the NDK's clang when ``ANDROID_NDK_HOME`` is set, otherwise the same static
    musl build (a static executable runs on Android from /data/local/tmp); either is aligned for 16 KB pages.
    """
    common = ("-O2", "-std=gnu11", "-Wall", "-Wno-unused-function")
    if target == "host":
        cc = os.environ.get("CC", "cc")
        if shutil.which(cc) is None:
            raise ToolchainError(f"host C compiler {cc!r} not found; install gcc or set CC")
        return Toolchain("host-cc", (cc,), common + ("-pthread",))
    if target == "android-arm64" and os.environ.get("ANDROID_NDK_HOME"):
        return Toolchain("android-ndk", (str(_ndk_clang(Path(os.environ["ANDROID_NDK_HOME"]))),),
                         common + ("-static", "-pthread") + PAGE_16K)
    if target in ("linux-aarch64", "android-arm64"):
        pages = PAGE_16K if target == "android-arm64" else ()
        return Toolchain("zig-aarch64-linux-musl", (sys.executable, "-m", "ziglang", "cc", "-target",
                                                    "aarch64-linux-musl"), common + ("-static",) + pages)
    raise ValueError(f"no toolchain for target {target!r}")


def _ndk_clang(ndk: Path) -> Path:
    host = f"{platform.system().lower()}-x86_64"
    clang = ndk / "toolchains" / "llvm" / "prebuilt" / host / "bin" / f"aarch64-linux-android{NDK_API_LEVEL}-clang"
    if not clang.is_file():
        raise ToolchainError(f"ANDROID_NDK_HOME={ndk} has no {clang.name} under toolchains/llvm/prebuilt/{host}/bin")
    return clang


def link_executable(toolchain: Toolchain, sources: list[Path], include_dirs: list[Path], output: Path,
                    strip: bool = True) -> None:
    """Compile ``sources`` (C, assembly, objects) and link them into ``output``.

    Parameters
    ----------
    toolchain : Toolchain
        From :func:`get_toolchain`.
    sources : list of Path
        ``.c``, ``.S`` and ``.o`` files.
    include_dirs : list of Path
        Header (and ``.incbin``) search directories.
    output : Path
        The executable to write.
    strip : bool
        Drop the symbol table and debug information (``-s``); the code and its addresses are the same
        either way.
    """
    includes = [arg for d in include_dirs for arg in (f"-I{d}", f"-Wa,-I{d}")]
    cmd = [*toolchain.cc, *toolchain.flags, *(["-s"] if strip else []), *includes, "-o", str(output),
           *map(str, sources), "-lm"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise ToolchainError(f"C compiler not found: {toolchain.cc[0]}") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ToolchainError(f"{toolchain.name} failed (exit {proc.returncode}) building {output.name}:\n{tail}")
