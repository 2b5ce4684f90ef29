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
PHONE_CPUS = {  # --mcpu presets: short name -> LLVM CPU of a common Android phone core (big.LITTLE roles)
    "a53": "cortex-a53", "a55": "cortex-a55", "a510": "cortex-a510", "a520": "cortex-a520",  # little
    "a76": "cortex-a76", "a77": "cortex-a77", "a78": "cortex-a78", "a710": "cortex-a710",  # big
    "a715": "cortex-a715", "a720": "cortex-a720",
    "x1": "cortex-x1", "x2": "cortex-x2", "x3": "cortex-x3", "x4": "cortex-x4",  # prime
}


def get_target(name: str, mattr: tuple[str, ...] | list[str] = (), mcpu: str | None = None) -> TargetSpec:
    """The target called ``name`` with extra CPU features (``+dotprod``) and an optional ``mcpu``.

    Parameters
    ----------
    name : str
        One of ``TARGET_NAMES``.
    mattr : sequence of str
        LLVM feature flags, each starting with ``+`` or ``-``.
    mcpu : str, optional
        LLVM CPU name, e.g. ``cortex-a76``, or a preset of :data:`PHONE_CPUS` (``a55``, ``a76``, ``x1``...);
        a name LLVM does not know for the target is an error (LLVM itself would fall back to generic).

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
        llvm["mcpu"] = _llvm_cpu(mcpu, llvm.get("mtriple") or tvm.target.codegen.llvm_get_system_triple())
    return TargetSpec(base.name, llvm, base.native, base.arch)


def _llvm_cpu(mcpu: str, triple: str) -> str:
    """The LLVM CPU named by ``mcpu`` (a :data:`PHONE_CPUS` preset or an LLVM name), checked for ``triple``."""
    cpu = PHONE_CPUS.get(mcpu, mcpu)
    if not tvm.target.codegen.llvm_is_valid_cpu(cpu, triple):
        raise ValueError(f"unknown CPU {mcpu!r} for {triple}; expected an LLVM CPU name or a phone core preset: "
                         f"{', '.join(f'{k} ({v})' for k, v in PHONE_CPUS.items())}")
    return cpu
