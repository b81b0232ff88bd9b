"""The package's import graph, read from the source with `ast` (imports inside functions
included): the rooms of docs/architecture.md import only rooms on lower floors, no module
imports one that (directly or through others) imports it back, the compiled core and
the core network are reached only through their documented doors, and imports inside
functions are kept for optional dependencies."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pynn"

# Room -> floor. A module may import its own room and rooms on lower floors. "base" holds
# the helpers every room uses; lecture and reference use nothing but base.
FLOORS = {"base": 0, "reference": 1, "lecture": 1, "training": 2, "io": 3, "distributed": 4, "nn": 5,
          "sklearn": 6, "cli": 7, "facade": 8}
BASE_MODULES = {"pynn._checks", "pynn._load_core", "pynn._core", "pynn._files", "pynn._version", "pynn.datasets"}

# The only modules that may import pynn._core: the loader and the package that exposes it,
# the owner of the core network (pynn/nn/), and one core function each outside it.
CORE_DOOR = {"pynn", "pynn._load_core", "pynn._checks", "pynn.training.shuffle", "pynn.distributed.mpi"}

# Imported inside functions, so that importing pynn never needs them.
OPTIONAL = {"torch", "sklearn", "onnx", "mpi4py", "dask", "matplotlib", "tqdm", "threadpoolctl", "pynn.sklearn"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
MODULES["pynn._core"] = PACKAGE / "_core.pyi"


def room(module: str) -> str:
    # pynn/bench.py and pynn/config.py keep two old names of the CLI's modules: facade too.
    if module in ("pynn", "pynn.__main__", "pynn.bench", "pynn.config"):
        return "facade"
    if module in BASE_MODULES:
        return "base"
    top = module.split(".")[1]
    return top


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports(module: str):
    """(imported pynn module, line, inside a function?, name) for every import in `module`;
    other packages' modules are yielded with their top-level name."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if _is_package(module) else module.rpartition(".")[0]
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = {id(n) for f in functions for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        inner = id(node) in nested
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, inner
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in MODULES else base), node.lineno, inner


def _pynn_imports(module: str):
    for target, line, inner in imports(module):
        if target == "pynn" or target.startswith("pynn."):
            yield target, line, inner


PYNN_MODULES = sorted(m for m in MODULES if m != "pynn._core")


@pytest.mark.parametrize("module", PYNN_MODULES)
def test_imports_run_down_the_floors(module):
    floor = FLOORS[room(module)]
    upward = [f"line {line}: {target} ({room(target)})" for target, line, _ in _pynn_imports(module)
              if FLOORS[room(target)] > floor]
    assert not upward, f"{module} ({room(module)}) imports a room above it: {upward}"


def test_no_import_circles():
    # Importing pynn.a.b from outside pynn.a runs pynn/a/__init__.py first: an edge to it too.
    graph = {m: set() for m in PYNN_MODULES}
    for m in PYNN_MODULES:
        for t, _, _ in _pynn_imports(m):
            parts = t.split(".")
            graph[m] |= {p for p in (".".join(parts[:i]) for i in range(2, len(parts) + 1))
                         if p in MODULES and p != m and not m.startswith(p + ".")}
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "open":
                cycles.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = "done"

    for m in PYNN_MODULES:
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import circles: {cycles}"


@pytest.mark.parametrize("module", PYNN_MODULES)
def test_core_only_through_its_door(module):
    if module in CORE_DOOR or room(module) == "nn":
        return
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    reached = [f"line {line}: import" for target, line, _ in _pynn_imports(module) if target == "pynn._core"]
    reached += [f"line {n.lineno}: .{n.attr}" for n in ast.walk(tree)
                if isinstance(n, ast.Attribute) and n.attr in ("_core", "_net")]
    assert not reached, f"{module} reaches the core outside pynn/nn/ and its door: {reached}"


@pytest.mark.parametrize("module", PYNN_MODULES)
def test_imports_inside_functions_only_for_optional_dependencies(module):
    lazy = [f"line {line}: {target}" for target, line, inner in imports(module)
            if inner and target not in OPTIONAL and target.split(".")[0] not in OPTIONAL]
    assert not lazy, f"{module} imports inside functions what it could import at its top: {lazy}"


def test_the_graph_reader_sees_imports_inside_functions():
    found = {t for t, _, inner in imports("pynn.distributed.mpi") if inner}
    assert "mpi4py" in found


@pytest.mark.parametrize("module", [m for m in PYNN_MODULES if m not in ("pynn.__main__", "pynn.bench", "pynn.config")])
def test_each_module_says_what_it_may_import(module):
    doc = ast.get_docstring(ast.parse(MODULES[module].read_text(encoding="utf-8"))) or ""
    assert "May import:" in doc, f"{module}'s docstring does not say what it may import"
