# Build with the Android NDK's clang (ANDROID_NDK_HOME must be set); a static executable for arm64-v8a.
# Not exercised by the test suite (no NDK on the CI machines).
if(NOT DEFINED ENV{ANDROID_NDK_HOME})
  message(FATAL_ERROR "cmake/android-ndk.cmake needs ANDROID_NDK_HOME pointing at an Android NDK")
endif()
set(ANDROID_ABI arm64-v8a CACHE STRING "")
set(ANDROID_PLATFORM 24 CACHE STRING "")  # pthread_barrier_* need API level 24
set(ANDROID_SUPPORT_FLEXIBLE_PAGE_SIZES ON CACHE BOOL "")  # NDK r27+: segments aligned for 16 KB pages
include("$ENV{ANDROID_NDK_HOME}/build/cmake/android.toolchain.cmake")
string(APPEND CMAKE_EXE_LINKER_FLAGS_INIT " -Wl,-z,max-page-size=16384")  # older NDKs too
set(BENCH_STATIC ON CACHE BOOL "Link fully statically" FORCE)
