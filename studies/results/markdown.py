"""A comparison as text: the display table (mean ± std, gaps, Δ vs the reference with its CI,
raw and Holm-adjusted p, Hedges' g), the markdown report, and the per-schedule summary that
`prunetune show` and the end of `run` print."""

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
    "val": "val %",
    "test": "test acc % (mean ± std)",
    "oracle_acc": "oracle %",
    "gap_oracle": "Δ oracle [95 % CI]",
    "dense_acc": "dense %",
    "gap_dense": "Δ dense [95 % CI]",
    "delta": "Δ vs ref [95 % CI]",
    "test_used": "test (n)",
    "p_value": "p",
    "p_holm": "p (Holm)",
    "wilcoxon_p": "Wilcoxon p",
    "tost_p_holm": "TOST p (Holm)",
    "effect": "effect",
    "status": "status",
    "max_lr": "max LR",
    "sparsity": "sparsity %",
    "note": "note",
}


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table as strings: accuracy as mean ± std (the mean alone with one seed), gaps and Δ
    in points with their CIs, the test used and its n, blanks for NaN.

    Oracle and dense columns are left out when no row has a value (the header and notes say
    why) and show "–" on the rows that lack one; the Wilcoxon column when no row has 6 pairs.
    """
    if table.empty:
        return pd.DataFrame(columns=list(DISPLAY.values()))
    rows = list(table.itertuples(index=False))
    shown = table.assign(
        val=table["val_acc_mean"].map(lambda v: _num(v, "{:.2f}")),
        test=[
            _pm(m, s) for m, s in zip(table["test_acc_mean"], table["test_acc_std"], strict=True)
        ],
        oracle_acc=table["oracle_acc"].map(lambda v: _num(v, "{:.2f}", "–")),
        dense_acc=table["dense_acc"].map(lambda v: _num(v, "{:.2f}", "–")),
        gap_oracle=[_ci(r.gap_oracle, r.gap_oracle_low, r.gap_oracle_high, "–") for r in rows],
        gap_dense=[_ci(r.gap_dense, r.gap_dense_low, r.gap_dense_high, "–") for r in rows],
        delta=[_delta(r) for r in rows],
        test_used=[_test_used(r) for r in rows],
        p_value=table["p_value"].map(lambda v: _num(v, "{:.3g}")),
        p_holm=table["p_holm"].map(lambda v: _num(v, "{:.3g}")),
        wilcoxon_p=table["wilcoxon_p"].map(lambda v: _num(v, "{:.3g}")),
        tost_p_holm=table["tost_p_holm"].map(lambda v: _num(v, "{:.3g}")),
        effect=[_effect(r) for r in rows],
        max_lr=table["max_lr"].map(lambda v: _num(v, "{:.3g}")),
        sparsity=table["sparsity"].map(lambda v: _num(100 * v, "{:.1f}")),
        budget=table["budget"].map(lambda v: _num(v, "{:.0f}")),
        epochs=table["epochs"].map(lambda v: _num(v, "{:.0f}")),
        round=table["round"].map(lambda v: _num(v, "{:.0f}")),
    )
    return shown[[c for c in DISPLAY if c not in _hidden(table)]].rename(columns=DISPLAY)


def _hidden(table: pd.DataFrame) -> set[str]:
    hidden = set() if (table["round"] != 1).any() else {"round"}
    if table["oracle_acc"].isna().all():
        hidden |= {"oracle_acc", "gap_oracle"}
    if table["dense_acc"].isna().all():
        hidden |= {"dense_acc", "gap_dense"}
    if table["wilcoxon_p"].isna().all():
        hidden.add("wilcoxon_p")
    return hidden


def _delta(row) -> str:
    """ "ref" on the reference; Δ [low, high] in points; Δ alone where the CI is undefined."""
    if row.reference:
        return "ref"
    return _ci(row.delta_ref, row.delta_ref_low, row.delta_ref_high)


def _ci(value: float, low: float, high: float, missing: str = "") -> str:
    if pd.isna(value):
        return missing
    if pd.isna(low):
        return f"{value:+.2f}"
    return f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


def _test_used(row) -> str:
    """ "paired t (3)": the test against the reference and the pairs (or smaller side) it had."""
    if row.reference or not row.design:
        return ""
    name = "paired t" if row.design == "paired" else "Welch"
    return f"{name} ({int(row.n_test)})"


def _effect(row) -> str:
    """dz for a paired row, Hedges' g for an unpaired one."""
    if not pd.isna(row.dz):
        return f"dz {row.dz:+.2f}"
    return "" if pd.isna(row.hedges_g) else f"g {row.hedges_g:+.2f}"


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
    has_oracle = not comparison.oracle.empty
    oracle_picks = "; the oracle picks its max LR per seed and round on validation too"
    has_dense = bool(comparison.table["dense_acc"].notna().any())
    gaps = " and ".join(g for g, ok in (("Δ oracle", has_oracle), ("Δ dense", has_dense)) if ok)
    gaps = f"; {gaps} in points (negative = below) with 95 % CIs, paired by seed" if gaps else ""
    return (
        f"# Study `{name}`: retraining schedules compared\n\n"
        f"- model: {spec.get('model', {}).get('name', '?')}; "
        f"data set: {spec.get('dataset', {}).get('name', '?')}\n"
        f"- pruning: {', '.join(pruning.get('methods', [])) or '?'} ({shape}); "
        f"retraining budgets (epochs): {budgets or '?'}\n"
        f"- seeds: {seeds}; oracle: {_oracle_text(comparison, oracle)}\n"
        "- selected on **validation**: per (method, target, budget, schedule, seed) the trial "
        "with the best final validation accuracy (this picks a searched max LR)"
        f"{oracle_picks if has_oracle else ''}\n"
        "- reference chosen on **validation**, tested on **test**: in each "
        f"method/target/budget{'/round' if comparison.iterative else ''} group the reference "
        "(Δ column: ref) is the schedule with the best mean validation accuracy over seeds "
        "(ties: more seeds, then schedule name); every other row is compared with it on test "
        "accuracy\n"
        "- reported on **test**: final test accuracy of the selected trials, mean ± std "
        "(ddof 1) over seeds (the mean alone where n = 1: one seed has no spread), in %"
        f"{gaps}; scratch-e/scratch-b rows are shown in every budget "
        "group\n"
        f"{_statistics_text(comparison)}"
    )


def _oracle_text(comparison: Comparison, oracle: str | None) -> str:
    if comparison.oracle.empty:
        return f"none (study `{oracle}` has no finished oracle run)" if oracle else "none"
    return f"study `{oracle}`" if oracle else "this study's oracle runs"


def _statistics_text(comparison: Comparison) -> str:
    tables = "the main table"
    if comparison.iterative:  # one family per report, duplicates included (compare.py)
        tables = "main and per-round tables; the last round's tests appear in both and count twice"
    m, margin = comparison.family_size, f"±{comparison.margin:g}"
    family = f"all {m} tests of this report" if m else "the tests of this report (none here)"
    return (
        "- statistics over seeds, each row vs its group's reference (docs/science.md §9): rows "
        "that share seeds with the reference are **paired by seed** (same dense model and data "
        "split), Welch's test only where no seed is shared; **test (n)** names the test and the "
        "pairs (or the smaller side) it had. **Δ vs ref [95 % CI]** = mean test acc − the "
        "reference's, in points, with the 95 % confidence interval of that test; **p** = its "
        "two-sided p; **Wilcoxon p** = signed-rank test of the pairs (shown from 6 pairs on: "
        f"below, it cannot reach 0.05); **TOST p** = two one-sided tests of equivalence within "
        f"{margin} points (compare.equivalence_margin); **p (Holm)**, **TOST p (Holm)** = "
        f"adjusted by Holm–Bonferroni over {family} (difference tests and TOSTs of {tables}, "
        "one family); **effect** = dz (mean difference / SD of the differences) when paired, "
        "Hedges' g when not; **status**: higher / lower (p (Holm) < 0.05), "
        f"equivalent within {margin} (TOST p (Holm) < 0.05), else inconclusive. Blank where "
        "fewer than 2 seeds to test or no seed-to-seed spread\n"
    )


def _pm(mean: float, std: float) -> str:
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def _num(value: float, fmt: str, missing: str = "") -> str:
    return missing if value is None or pd.isna(value) else fmt.format(value)


def _format_floats(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(
        lambda col: col.map(lambda v: _num(v, "{:.4g}")) if col.dtype.kind == "f" else col
    )


# --- the per-schedule summary of `show` and `run` -------------------------------------------

SUMMARY_DISPLAY = {
    "method": "method",
    "target": "target",
    "epochs": "epochs",
    "schedule": "schedule",
    "n": "n",
    "val": "val %",
    "test": "test % (mean ± std)",
    "max_lr": "max LR",
    "sparsity": "sparsity %",
}
MISSING_SHOWN = 12


RANGED = "the ratio is searched over a range"


def summary_text(
    summary: pd.DataFrame, missing: pd.DataFrame | None = None, unlisted_because: str = RANGED
) -> str:
    """`runs.schedule_summary` (and the `runs.missing_cells` if given) as lines of ≤ 99
    columns; `missing=None` means the cells were not derivable (`unlisted_because`)."""
    if summary.empty:
        return "no finished trials yet\n"
    shown = summary.assign(
        val=summary["val_acc_mean"].map(lambda v: _num(v, "{:.2f}", "-")),
        test=[
            _pm(m, s)
            for m, s in zip(summary["test_acc_mean"], summary["test_acc_std"], strict=True)
        ],
        max_lr=summary["max_lr"].map(lambda v: _num(v, "{:.3g}", "-")),
        sparsity=summary["sparsity"].map(lambda v: _num(100 * v, "{:.1f}", "-")),
        epochs=summary["epochs"].map(lambda v: _num(v, "{:.0f}", "-")),
    )
    text = (
        "per schedule, target and budget: mean ± std over seeds of the trial selected on\n"
        "validation per seed (accuracies in %, max LR the median; best mean val first)\n"
        + shown[list(SUMMARY_DISPLAY)].rename(columns=SUMMARY_DISPLAY).to_string(index=False)
        + "\n"
    )
    return text + _missing_text(missing, unlisted_because)


def _missing_text(missing: pd.DataFrame | None, unlisted_because: str = RANGED) -> str:
    """Missing cells grouped per (method, target, epochs, schedule), listing their seeds."""
    if missing is None:
        return f"cells without a finished trial: not listed ({unlisted_because})\n"
    if missing.empty:
        return "every method × target × budget × schedule × seed cell has a finished trial\n"
    key = ["method", "target", "epochs", "schedule"]
    groups = list(missing.groupby(key, sort=True, dropna=False))
    lines = [
        f"{len(missing)} cell(s) without a selected trial (failed, running, not sampled yet, "
        "or no final val acc):"
    ]
    for (method, target, epochs, schedule), g in groups[:MISSING_SHOWN]:
        seeds = ("seed " if len(g) == 1 else "seeds ") + ", ".join(
            str(int(s)) for s in sorted(g["seed"])
        )
        lines.append(
            f"  {method} {target}, {_num(epochs, '{:.0f}', '?')} epochs, {schedule}: {seeds}"
        )
    if len(groups) > MISSING_SHOWN:
        lines.append(
            f"  … and {len(groups) - MISSING_SHOWN} more schedule/target/budget combinations"
        )
    return "\n".join(lines) + "\n"
