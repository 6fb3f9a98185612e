"""A comparison as text: the display table (mean ± std, gaps, corrected p-values) and the
markdown report."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from studies.results.compare import Comparison

DISPLAY = {
    "method": "method",
    "target": "target",
    "budget": "budget",
    "round": "round",
    "schedule": "schedule",
    "epochs": "epochs",
    "n": "n",
    "test": "test acc % (mean ± std)",
    "oracle_acc": "oracle %",
    "gap_oracle": "Δ oracle",
    "dense_acc": "dense %",
    "gap_dense": "Δ dense",
    "p_value": "p vs best",
    "max_lr": "max LR",
    "sparsity": "sparsity %",
    "note": "note",
}


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table as strings: accuracy as mean ± std, gaps in points, blanks for NaN."""
    if table.empty:
        return pd.DataFrame(columns=list(DISPLAY.values()))
    shown = table.assign(
        test=[
            _pm(m, s) for m, s in zip(table["test_acc_mean"], table["test_acc_std"], strict=True)
        ],
        oracle_acc=table["oracle_acc"].map(lambda v: _num(v, "{:.2f}")),
        dense_acc=table["dense_acc"].map(lambda v: _num(v, "{:.2f}")),
        gap_oracle=table["gap_oracle"].map(lambda v: _num(v, "{:+.2f}")),
        gap_dense=table["gap_dense"].map(lambda v: _num(v, "{:+.2f}")),
        p_value=table["p_value"].map(lambda v: _num(v, "{:.3g}")),
        max_lr=table["max_lr"].map(lambda v: _num(v, "{:.3g}")),
        sparsity=table["sparsity"].map(lambda v: _num(100 * v, "{:.1f}")),
        budget=table["budget"].map(lambda v: _num(v, "{:.0f}")),
        epochs=table["epochs"].map(lambda v: _num(v, "{:.0f}")),
        round=table["round"].map(lambda v: _num(v, "{:.0f}")),
    )
    columns = [c for c in DISPLAY if c != "round" or (table["round"] != 1).any()]
    return shown[columns].rename(columns=DISPLAY)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (pandas' to_markdown needs tabulate, not installed)."""
    if frame.empty:
        return "_(no rows)_\n"

    def cells(values) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    lines = [cells(frame.columns), cells(["---"] * len(frame.columns))]
    lines += [cells(row) for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def render_markdown(
    comparison: Comparison,
    *,
    name: str,
    spec: dict[str, Any],
    notes: list[str],
    oracle_study: str | None = None,
) -> str:
    parts = [_header(comparison, name, spec, oracle_study)]
    title = "after the last round" if comparison.iterative else "one-shot"
    parts += [f"\n## Main table ({title})\n\n", markdown_table(display_table(comparison.table))]
    if comparison.iterative:
        parts += ["\n## Per round\n\n", markdown_table(display_table(comparison.rounds))]
        parts += ["\n## Max LR per round: S-Cyc and the others vs the oracle's choice\n\n"]
        parts += [markdown_table(_format_floats(comparison.max_lr_rounds))]
    parts += ["\n## Notes\n\n", *(f"- {n}\n" for n in notes or ["none"])]
    return "".join(parts)


def _header(comparison: Comparison, name: str, spec: dict[str, Any], oracle: str | None) -> str:
    pruning = spec.get("pruning", {})
    shape = pruning.get("schedule", "one-shot")
    if shape == "iterative":
        shape += f", {pruning.get('rounds', '?')} rounds"
    sel = comparison.selected
    seeds = ", ".join(str(int(s)) for s in sorted(sel["seed"].dropna().unique())) or "?"
    budgets = ", ".join(f"{b:.0f}" for b in sorted(sel["budget"].dropna().unique()))
    return (
        f"# Study `{name}`: retraining schedules compared\n\n"
        f"- model: {spec.get('model', {}).get('name', '?')}; "
        f"data set: {spec.get('dataset', {}).get('name', '?')}\n"
        f"- pruning: {', '.join(pruning.get('methods', [])) or '?'} ({shape}); "
        f"retraining budgets (epochs): {budgets or '?'}\n"
        f"- seeds: {seeds}; oracle: {f'study `{oracle}`' if oracle else 'this study'}\n"
        "- selected on **validation**: per (method, target, budget, schedule, seed) the trial "
        "with the best final validation accuracy (this picks a searched max LR); the oracle "
        "picks its max LR per seed and round on validation too\n"
        "- reported on **test**: final test accuracy of the selected trials, mean ± std "
        "(ddof 1) over seeds, in %; Δ oracle and Δ dense in points (negative = below); "
        "p vs best: Welch t-test against the best schedule (mean test acc) of the same "
        "method/target/budget; scratch-e/scratch-b rows are shown in every budget group\n"
    )


def _pm(mean: float, std: float) -> str:
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def _num(value: float, fmt: str) -> str:
    return "" if value is None or pd.isna(value) else fmt.format(value)


def _format_floats(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(
        lambda col: col.map(lambda v: _num(v, "{:.4g}")) if col.dtype.kind == "f" else col
    )
