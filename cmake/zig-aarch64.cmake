# Cross-compile for static ARM64 Linux/Android (musl) with zig's clang from the PyPI `ziglang` package.
# ZIG_PYTHON: the Python that has ziglang installed (default: python3 on PATH).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

if(NOT ZIG_PYTHON)
  if(DEFINED ENV{ZIG_PYTHON})
    set(ZIG_PYTHON "$ENV{ZIG_PYTHON}")
  else()
    find_program(ZIG_PYTHON NAMES python3 python REQUIRED)
  endif()
endif()
set(ENV{ZIG_PYTHON} "${ZIG_PYTHON}")  # try_compile projects re-read this file

# CMake wants one executable as the compiler, so wrap `python -m ziglang cc -target ...` in a script. Without -O
# (CMake's compiler identification) zig turns UBSan on and builds its runtime, about 20 s of CPU; no build uses it.
set(_zig_cc "${CMAKE_BINARY_DIR}/zig-aarch64-cc")
file(WRITE "${_zig_cc}" "#!/bin/sh\nexec \"${ZIG_PYTHON}\" -m ziglang cc -target aarch64-linux-musl -fno-sanitize=undefined \"$@\"\n")
file(CHMOD "${_zig_cc}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE)
set(CMAKE_C_COMPILER "${_zig_cc}")
set(CMAKE_ASM_COMPILER "${_zig_cc}")
set(BENCH_STATIC ON CACHE BOOL "Link fully statically" FORCE)
# Compiler checks build static libraries, not linked executables: linking one would make zig build a dynamic musl
# libc (about a minute of CPU) that the static link never uses.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
