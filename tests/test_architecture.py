"""The import rules of docs/architecture.md hold: packages import one way, and no module cycle exists."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("compress", "codegen", "runtime", "latency", "autocompress")
ALLOWED = {  # package -> the project packages it may import (anywhere in a module, lazy imports included)
    "compress": set(),
    "codegen": set(),
    "runtime": {"codegen"},  # insn_count relinks a compiled model with its symbols
    "latency": {"compress", "codegen", "runtime"},
    "autocompress": {"compress", "codegen", "runtime", "latency"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Absolute names of the project modules ``path`` imports."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return {n for n in names if n.split(".")[0] in PACKAGES}


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_one_way(package):
    wrong = {f"{_module_name(p)} -> {name}" for p in (ROOT / package).rglob("*.py")
             for name in _imports(p, top_level_only=False)
             if name.split(".")[0] not in ALLOWED[package] | {package}}
    assert not wrong, sorted(wrong)


def test_no_import_cycles_between_modules():
    sources = _sources()
    graph = {name: {i for i in _imports(path, top_level_only=True) if i in sources and i != name}
             for name, path in sources.items()}
    graph = {name: {d for d in deps if not name.startswith(d + ".")} for name, deps in graph.items()}  # own package
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep] if dep in stack else [node, dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
