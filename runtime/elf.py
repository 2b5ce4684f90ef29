"""The few facts of a 64-bit little-endian ELF file the instruction counter needs: its type, entry point,
program interpreter, and function symbols (from ``.symtab``).

>>> facts = read_elf("model_bench.sym")
>>> facts.position_independent, hex(facts.entry), facts.functions[0].name
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

ET_DYN = 3
PT_INTERP = 3
SHT_SYMTAB = 2
STT_FUNC = 2
SHN_UNDEF = 0


@dataclass(frozen=True)
class Function:
    """A defined function symbol: its address (a section offset in an object file) and size in bytes."""

    name: str
    address: int
    size: int


@dataclass(frozen=True)
class ElfFacts:
    """What :func:`read_elf` found."""

    position_independent: bool  # ET_DYN: loaded at a bias chosen at run time
    entry: int
    interpreter: bool  # PT_INTERP: dynamically linked
    functions: tuple[Function, ...]


def read_elf(path: str | Path) -> ElfFacts:
    """Read the header, program headers and function symbols of an ELF64 little-endian file."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
    e_type, = struct.unpack_from("<H", data, 16)
    entry, phoff, shoff = struct.unpack_from("<QQQ", data, 24)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 54)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    return ElfFacts(e_type == ET_DYN, entry, PT_INTERP in types, _functions(data, sections))


def _functions(data: bytes, sections: list[tuple]) -> tuple[Function, ...]:
    functions = []
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != SHT_SYMTAB:
            continue
        strtab = sections[link][4]
        for pos in range(offset, offset + size, entsize):
            name_off, info, _, shndx, value, sym_size = struct.unpack_from("<IBBHQQ", data, pos)
            if info & 0xF == STT_FUNC and shndx != SHN_UNDEF:
                end = data.index(b"\0", strtab + name_off)
                functions.append(Function(data[strtab + name_off:end].decode(), value, sym_size))
    return tuple(functions)
