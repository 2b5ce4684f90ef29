"""C toolchains: the host compiler, zig (musl, fully static) and the Android NDK's clang.

The runtime sources in ``android_bench/`` and the generated driver are compiled and linked with the kernel
object in one compiler call.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
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
    env: tuple[tuple[str, str], ...] = ()  # variables set for the compiler, beside the caller's environment

    def environ(self) -> dict[str, str] | None:
        """The environment to run the compiler in (None: the caller's as it is)."""
        return {**os.environ, **dict(self.env)} if self.env else None


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
                                                    "aarch64-linux-musl"), common + ("-static",) + pages,
                         tuple(zig_env().items()))
    raise ValueError(f"no toolchain for target {target!r}")


def zig_env() -> dict[str, str]:
    """``ZIG_LIB_DIR`` pointing at one copy of zig's library folder per zig version, beside zig's global cache.

    zig keys what it builds once per target (musl libc and compiler_rt for aarch64: about 40 s) by the real path
    of its library folder, so each new virtual environment's own copy would build them again; a shared copy
    (hard links where the file system allows) lets every environment reuse them. Empty when ``ZIG_LIB_DIR`` is
    set already (it is inherited as it is) or no copy can be made.
    """
    spec = importlib.util.find_spec("ziglang")
    if os.environ.get("ZIG_LIB_DIR") or spec is None or spec.origin is None:
        return {}
    shared = zig_cache_dir() / f"autocompress-lib-{importlib.metadata.version('ziglang')}"
    try:
        if not shared.is_dir():
            _copy_once(Path(spec.origin).parent / "lib", shared)
    except OSError:
        return {}
    return {"ZIG_LIB_DIR": str(shared)}


def zig_cache_dir() -> Path:
    """zig's global cache folder: ``$ZIG_GLOBAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/zig`` or ``~/.cache/zig``."""
    if os.environ.get("ZIG_GLOBAL_CACHE_DIR"):
        return Path(os.environ["ZIG_GLOBAL_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zig"


def _copy_once(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` through a temporary folder beside it; a concurrent copy that lands first wins."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dst.name}-", dir=dst.parent))
    try:
        shutil.copytree(src, stage / "lib", copy_function=_link_or_copy)
        try:
            (stage / "lib").rename(dst)
        except OSError:
            if not dst.is_dir():  # not a concurrent copy that landed first
                raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


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
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=toolchain.environ())
    except FileNotFoundError:
        raise ToolchainError(f"C compiler not found: {toolchain.cc[0]}") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ToolchainError(f"{toolchain.name} failed (exit {proc.returncode}) building {output.name}:\n{tail}")
