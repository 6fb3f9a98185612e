"""The trial contract's rules, read from the source: trainables/ reads the study through the
typed trial plan (never the spec by string paths), and no schedule's or pruning method's name
decides behaviour outside the plug-ins' own modules (the rest asks their capabilities)."""

from __future__ import annotations

import ast
from pathlib import Path

from pruning.methods import METHODS
from pruning.schedules import SCHEDULES

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_HOMES = ("pruning/schedules", "pruning/methods")
PLUGIN_NAMES = frozenset(SCHEDULES.names()) | frozenset(METHODS.names())
# Strings that coincide with a plug-in's name but name something else there.
NOT_PLUGINS = {("studies/plan/search.py", "random")}  # Optuna's RandomSampler, search.sampler


def _sources(*packages: str) -> list[Path]:
    return [p for pkg in packages for p in sorted((ROOT / pkg).rglob("*.py"))]


def _spec_paths(tree: ast.AST) -> list[int]:
    """Lines that index something called `spec` by a key (spec["retrain"], tc.spec[...])
    or fetch the key "spec" from a dict (config["spec"], config.get("spec"))."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            value, key = node.value, node.slice
            named = (isinstance(value, ast.Name) and value.id == "spec") or (
                isinstance(value, ast.Attribute) and value.attr == "spec"
            )
            if named or (isinstance(key, ast.Constant) and key.value == "spec"):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            args = node.args
            first = args[0] if args else None
            if (
                node.func.attr == "get"
                and isinstance(first, ast.Constant)
                and first.value == "spec"
            ):
                lines.append(node.lineno)
    return lines


def test_trainables_never_index_the_spec_by_string_paths() -> None:
    """Trials get a typed TrialPlan; a spec["..."] lookup in trainables/ is a string path."""
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _sources("trainables")
        for line in _spec_paths(ast.parse(path.read_text()))
    ]
    assert not found, found


def test_the_spec_path_finder_can_fail() -> None:
    """The rule above sees the forms it forbids."""
    code = 'a = spec["retrain"]\nb = tc.spec["x"]\nc = config["spec"]\nd = config.get("spec")'
    assert _spec_paths(ast.parse(code)) == [1, 2, 3, 4]


def _name_decisions(tree: ast.AST) -> list[tuple[int, str]]:
    """Comparisons (==, !=, in, not in) against a registered schedule or method name."""
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not all(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        for side in [node.left, *node.comparators]:
            items = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
            for item in items:
                if isinstance(item, ast.Constant) and item.value in PLUGIN_NAMES:
                    out.append((node.lineno, item.value))
    return out


def test_no_plugin_name_decides_behaviour_outside_the_plugins() -> None:
    """Outside pruning/schedules and pruning/methods, code asks a plug-in's capabilities
    (per_round_peak, replays_pretraining, searched_peak, ranks_globally, ...) instead of
    comparing its name: a new schedule or method is one file and its registration."""
    found = []
    for path in _sources("pruning", "trainables", "studies"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(PLUGIN_HOMES):
            continue
        decisions = _name_decisions(ast.parse(path.read_text()))
        found += [f"{rel}:{n} {name}" for n, name in decisions if (rel, name) not in NOT_PLUGINS]
    assert not found, found


def test_the_name_decision_finder_can_fail() -> None:
    """The rule above sees ==, != and `in` against names, not other strings."""
    code = 'if s == "scyc": pass\nif m in ("l1", "x"): pass\nif s != "other": pass'
    assert _name_decisions(ast.parse(code)) == [(1, "scyc"), (2, "l1")]
