# Build with the Android NDK's clang (ANDROID_NDK_HOME must be set); a static executable for arm64-v8a.
# Not exercised by the test suite (no NDK on the CI machines).
if(NOT DEFINED ENV{ANDROID_NDK_HOME})
  message(FATAL_ERROR "cmake/android-ndk.cmake needs ANDROID_NDK_HOME pointing at an Android NDK")
endif()
set(ANDROID_ABI arm64-v8a CACHE STRING "")
set(ANDROID_PLATFORM 24 CACHE STRING "")  # pthread_barrier_* need API level 24
include("$ENV{ANDROID_NDK_HOME}/build/cmake/android.toolchain.cmake")
set(BENCH_STATIC ON CACHE BOOL "Link fully statically" FORCE)
