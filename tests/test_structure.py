"""The layout's rules, read from the source (nothing imported): no import circle in the three
packages, dependencies pointing one way, small modules and functions, and a reason written
next to every function-local import."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pruning", "trainables", "studies")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
LOCAL_IMPORT_RULE = ("trainables", "studies")
# Third-party packages each layer must not import (DESIGN: pruning ← trainables ← studies).
FORBIDDEN = {
    "pruning": {"ray", "optuna", "mlflow", "trainables", "studies"},
    "trainables": {"optuna", "studies"},
    "studies": set(),
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str) -> Iterator[tuple[ast.stmt, str]]:
    """(statement, imported module) for every import that runs (not under TYPE_CHECKING)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                parent = module.split(".")[: -node.level or None]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            # `from pkg import module` depends on pkg.module; the package __init__ it also runs
            # is the parent of every submodule and not counted as an edge of its own.
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            yield from ((node, m) for m in submodules)
            if len(submodules) < len(node.names):
                yield node, base
        stack.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        targets = set()
        for _, imported in _imports(tree, name):
            # importing a.b.c runs a and a.b too: depend on the deepest module we own
            parts = imported.split(".")
            for i in range(len(parts), 0, -1):
                if ".".join(parts[:i]) in MODULES:
                    targets.add(".".join(parts[:i]))
                    break
        targets.discard(name)
        graph[name] = targets
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle():
    """No module of pruning/trainables/studies imports itself back through others (imports
    under TYPE_CHECKING don't run and don't count; package __init__s do)."""
    cycle = _cycle(_graph())
    assert cycle is None, " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    """The test above can fail: a hand-made graph with a circle is caught."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_dependencies_point_one_way(package: str):
    """pruning imports no Ray/Optuna/MLflow/trainables/studies; trainables no Optuna/studies."""
    bad = []
    for name, path in MODULES.items():
        if name.split(".")[0] != package:
            continue
        for node, imported in _imports(ast.parse(path.read_text()), name):
            if imported.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {imported}")
    assert not bad, "\n".join(bad)


def test_modules_stay_small():
    """No module over ~400 lines: a bigger one is two modules."""
    long = {
        str(p.relative_to(ROOT)): n
        for p in MODULES.values()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_functions_stay_small():
    """No function over ~60 lines: a longer one is two functions."""
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {length}")
    assert not long, long


def test_function_local_imports_say_why():
    """An import inside a function has a comment on its line or the line before saying why
    (a heavy optional dependency, a circle the layout can't avoid): never an accident."""
    silent = []
    for name, path in MODULES.items():
        if name.split(".")[0] not in LOCAL_IMPORT_RULE:
            continue
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom) and not _commented(lines, node):
                    silent.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not silent, silent


def _commented(lines: list[str], node: ast.stmt) -> bool:
    """A `#` comment on the import's lines, or on the lines of the block of imports it is in,
    or on the line just above that block."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    while first > 0 and lines[first - 1].strip().startswith(("import ", "from ")):
        first -= 1
    block = lines[max(first - 1, 0) : last + 1]
    return any("#" in line for line in block)
