"""Running and timing the compiled binaries: host, qemu-aarch64 and adb devices."""
