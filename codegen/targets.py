"""Compilation targets: the TVM (LLVM) target dict and the C toolchain kind for each name."""
from __future__ import annotations

from dataclasses import dataclass, field

import tvm


@dataclass(frozen=True)
class TargetSpec:
    """One target: its name, the LLVM target dict for TVM, and whether the executable runs on this host."""

    name: str
    llvm: dict = field(hash=False)
    native: bool  # runs here without emulation
    arch: str  # ELF machine of the executable: "x86_64" or "aarch64"

    def tvm_target(self) -> tvm.target.Target:
        """The ``tvm.target.Target`` built from the dict."""
        return tvm.target.Target(self.llvm)

    def vector_shape(self) -> tuple[int, int]:
        """(float32 lanes per vector register, number of vector registers) the kernels tile for."""
        if self.arch == "aarch64":
            return 4, 32  # NEON: 32 x 128-bit
        features = tvm.target.codegen.llvm_get_cpu_features(self.tvm_target())
        if "avx512f" in features:
            return 16, 32
        return (8, 16) if "avx2" in features else (4, 16)


_BASE = {
    "host": TargetSpec("host", {"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu()}, True, "x86_64"),
    "linux-aarch64": TargetSpec("linux-aarch64", {"kind": "llvm", "mtriple": "aarch64-linux-gnu",
                                                  "mattr": ["+neon"]}, False, "aarch64"),
    "android-arm64": TargetSpec("android-arm64", {"kind": "llvm", "mtriple": "aarch64-linux-android",
                                                  "mattr": ["+neon"]}, False, "aarch64"),
}
TARGET_NAMES = tuple(_BASE)


def get_target(name: str, mattr: tuple[str, ...] | list[str] = (), mcpu: str | None = None) -> TargetSpec:
    """The target called ``name`` with extra CPU features (``+dotprod``) and an optional ``mcpu``.

    Parameters
    ----------
    name : str
        One of ``TARGET_NAMES``.
    mattr : sequence of str
        LLVM feature flags, each starting with ``+`` or ``-``.
    mcpu : str, optional
        LLVM CPU name, e.g. ``cortex-a76``.

    Returns
    -------
    spec : TargetSpec
    """
    if name not in _BASE:
        raise ValueError(f"unknown target {name!r}; expected one of: {', '.join(TARGET_NAMES)}")
    bad = [flag for flag in mattr if not flag[:1] in "+-" or len(flag) < 2]
    if bad:
        raise ValueError(f"invalid CPU feature flag(s) {', '.join(map(repr, bad))}; expected e.g. +dotprod")
    base = _BASE[name]
    llvm = dict(base.llvm)
    features = list(llvm.get("mattr", [])) + [f for f in mattr if f not in llvm.get("mattr", [])]
    if features:
        llvm["mattr"] = features
    if mcpu:
        llvm["mcpu"] = mcpu
    return TargetSpec(base.name, llvm, base.native, base.arch)
