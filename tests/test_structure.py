"""The layout's rules, read from the source (nothing imported but the scheme registry, for its
prefixes): no import circle in the three packages, dependencies pointing one way, small modules
and functions, a reason written next to every function-local import, and storage URL schemes
spelled only where they are declared."""

from __future__ import annotations

import ast
import re
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


# Storage URL schemes are declared once (trainables/schemes/declared.py); everything else asks
# the registry. These fragments, and every registered prefix, are what spelling one looks like.
SCHEME_HOME = "trainables.schemes.declared"
SCHEME_FRAGMENTS = (
    "s3://", "gs://", "sqlite:", "journal:", "postgresql", "mysql", "http://", "https://",
    "file://", "az://", "abfs://",
)  # fmt: skip
# URLs in code that are not storage URLs: (module, string constant) → why it may stay.
NOT_STORES = {
    (
        "studies.session.links",
        "http://127.0.0.1:",
    ): "the page of the `mlflow ui` the user is told to run",
    ("studies.cli.study", ": http://127.0.0.1:"): "where `prunetune dashboard` serves its page",
    ("studies.session.ray_session", "http://"): "a Ray job-server address, not a store",
    ("studies.session.ray_session", "https://"): "a Ray job-server address, not a store",
}


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the bare strings in module, class and function bodies: docstrings, and the
    strings that document an attribute (prose, not code)."""
    return {
        id(stmt.value)
        for node in ast.walk(tree)
        if isinstance(node, _DOCUMENTED)
        for stmt in node.body
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
    }


def _scheme_pattern() -> re.Pattern[str]:
    from trainables.schemes import schemes  # the registry itself: its prefixes join the rule

    prefixes = {p for s in schemes() for p in s.prefixes}
    return re.compile("|".join(re.escape(f) for f in sorted({*SCHEME_FRAGMENTS, *prefixes})))


def _scheme_literals(source: str, pattern: re.Pattern[str]) -> Iterator[tuple[int, str]]:
    """(line, string) of each string constant in code (not a docstring) spelling a scheme."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in prose
            and pattern.search(node.value)
        ):
            yield node.lineno, node.value


def test_storage_schemes_are_spelled_in_one_module():
    """No module but the scheme registry's declarations spells a storage URL scheme in code
    (comments and docstrings may): the spec, the preflight, help text, retries and redaction
    ask the registry, so a new scheme is one declaration."""
    pattern, found = _scheme_pattern(), []
    for name, path in MODULES.items():
        if name == SCHEME_HOME:
            continue
        for line, text in _scheme_literals(path.read_text(), pattern):
            if (name, text) not in NOT_STORES:
                found.append(f"{path.relative_to(ROOT)}:{line} {text!r}")
    assert not found, "\n".join(found)


def test_the_scheme_rule_can_fail():
    """The rule above finds a scheme in code and in an f-string, not in a docstring or a
    comment, and every exemption still names a string that is there."""
    source = '''"""Module doc: sqlite:///PATH."""
def f(url):
    """Docstring: s3://bucket."""
    # comment: gs://bucket
    return url.startswith("s3://") or f"journal:{url}"
'''
    found = [text for _, text in _scheme_literals(source, _scheme_pattern())]
    assert found == ["s3://", "journal:"]
    for (module, text), why in NOT_STORES.items():
        strings = [t for _, t in _scheme_literals(MODULES[module].read_text(), _scheme_pattern())]
        assert text in strings, f"stale exemption {module}: {text!r} ({why})"
