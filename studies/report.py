"""Write a comparison to disk (report.md, CSVs, PNG plots) and log it to the study's MLflow run.

Plots use matplotlib's Agg backend (no display on servers). LR curves are rebuilt from the study
spec with ``pruning.schedules.build_schedule``, the way the trials built them, so the report
shows the schedules that actually ran (with the max LR the search selected).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend
import pandas as pd
from matplotlib.ticker import MaxNLocator

from studies.compare import Comparison

# The schedules' shapes are drawn per epoch; the real steps per epoch depend on the data set
# and batch size, which only change the resolution of per-iteration schedules (clr, scyc).
PLOT_STEPS_PER_EPOCH = 20
MAX_LR_PANELS = 6
ACC_PLOT, LR_PLOT, MAX_LR_PLOT = "accuracy_vs_sparsity.png", "lr_curves.png", "max_lr_rounds.png"
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


def write_report(
    comparison: Comparison,
    out_dir: str | Path,
    *,
    name: str,
    spec: dict[str, Any],
    trials: pd.DataFrame,
    oracle_study: str | None = None,
) -> Path:
    """Write report.md, trials.csv, table CSVs and plots into `out_dir`; return report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trials.to_csv(out / "trials.csv", index=False)
    comparison.table.to_csv(out / "table.csv", index=False)
    plots = [plot_accuracy_vs_sparsity(comparison, out / ACC_PLOT)]
    notes = list(comparison.notes)
    plots.append(plot_lr_curves(comparison, spec, out / LR_PLOT, notes))
    if comparison.iterative:
        comparison.rounds.to_csv(out / "rounds.csv", index=False)
        comparison.max_lr_rounds.to_csv(out / "max_lr_rounds.csv", index=False)
        plots.append(plot_max_lr_rounds(comparison, out / MAX_LR_PLOT))
    text = render_markdown(
        comparison, name=name, spec=spec, notes=notes, oracle_study=oracle_study
    )
    text += "\n## Plots\n\n" + "".join(f"![{p.stem}]({p.name})\n\n" for p in plots)
    path = out / "report.md"
    path.write_text(text)
    return path


def log_report(tracking_uri: str, parent_run_id: str, out_dir: str | Path) -> None:
    """Log every file of the report as artifacts of the study's parent run, under report/."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).log_artifacts(parent_run_id, str(out_dir), "report")


# --- text -----------------------------------------------------------------------------------


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


# --- plots ----------------------------------------------------------------------------------


def plot_accuracy_vs_sparsity(comparison: Comparison, path: Path) -> Path:
    """Test acc (± std over seeds) against sparsity per schedule and budget, oracle dashed.

    Iterative studies plot every round (sparsity grows per round); one-shot studies plot
    their pruning targets. Named configs without a sparsity metric cannot be placed.
    """
    table = comparison.rounds if comparison.iterative else comparison.table
    table = table.assign(x=100 * pd.to_numeric(table["sparsity"], errors="coerce"))
    methods = sorted(table["method"].unique()) or ["-"]
    fig, axes = plt.subplots(1, len(methods), figsize=(6 * len(methods), 4.5), squeeze=False)
    for ax, method in zip(axes[0], methods, strict=True):
        rows = table[(table["method"] == method) & table["x"].notna()].sort_values("x")
        _draw_schedules(ax, rows)
        oracle = rows.dropna(subset=["oracle_acc"]).drop_duplicates(["target", "budget", "round"])
        if len(oracle):
            ax.plot(oracle["x"], oracle["oracle_acc"], "k--", marker="*", label="oracle")
        if rows["dense_acc"].notna().any():
            ax.axhline(rows["dense_acc"].mean(), color="gray", linestyle=":", label="dense")
        if rows.empty:
            ax.text(0.5, 0.5, "no sparsity values to plot", ha="center", transform=ax.transAxes)
        ax.set(title=f"{method}", xlabel="sparsity (%)", ylabel="test accuracy (%)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, path)


def _draw_schedules(ax, rows: pd.DataFrame) -> None:
    """One error-bar line per (schedule, budget); a baseline once, since it joins every budget."""
    scratch = rows["role"] == "baseline"
    once = rows[scratch].drop_duplicates(["schedule", "target", "round"])
    for (schedule, budget), g in pd.concat([rows[~scratch], once]).groupby(["schedule", "budget"]):
        own = g["role"].iloc[0] == "baseline"
        ax.errorbar(
            g["x"],
            g["test_acc_mean"],
            yerr=g["test_acc_std"].fillna(0.0),
            marker="s" if own else "o",
            capsize=3,
            label=f"{schedule} (own epochs)" if own else f"{schedule} ({budget:.0f} ep)",
        )


def plot_lr_curves(comparison: Comparison, spec: dict[str, Any], path: Path, notes: list[str]):
    """LR per epoch of each retraining schedule per (method, target, budget) group, drawn with
    the max LR of the group's best-validation trial; iterative studies chain their rounds."""
    sel = comparison.selected[comparison.selected["role"] != "baseline"]
    groups = list(sel.groupby(["method", "target", "budget"], sort=True))
    if len(groups) > MAX_LR_PANELS:
        notes.append(f"LR curves drawn for the first {MAX_LR_PANELS} of {len(groups)} groups")
    groups = groups[:MAX_LR_PANELS] or [(("-", "-", 0.0), sel)]
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 3.2 * len(groups)), squeeze=False)
    rounds = int(spec.get("pruning", {}).get("rounds", 1)) if comparison.iterative else 1
    for ax, ((method, target, budget), g) in zip(axes[:, 0], groups, strict=True):
        for schedule, trials in g.groupby("schedule"):
            best = trials.sort_values("val_acc", ascending=False, na_position="last").iloc[0]
            curve, label = _lr_curve(spec, schedule, best, rounds, notes)
            if curve:
                epochs = [i / PLOT_STEPS_PER_EPOCH for i in range(len(curve))]
                ax.plot(epochs, curve, label=label)
        ax.set(title=f"{method} {target}, {budget:.0f} epochs", xlabel="epoch", ylabel="LR")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, path)


def _lr_curve(spec, schedule: str, best: pd.Series, rounds: int, notes: list[str]):
    """The per-step LR of one trial's schedule over all its rounds (mirrors TrialConfig)."""
    from pruning.schedules import build_schedule

    params = dict(spec.get("retrain", {}).get("schedule_params", {}).get(schedule, {}))
    if pd.notna(best["max_lr"]):
        params["max_lr"] = float(best["max_lr"])
    label = schedule + (f" (max LR {best['max_lr']:.3g})" if pd.notna(best["max_lr"]) else "")
    if schedule == "scyc":
        label += " (S-curve max LR per round)"
    curve: list[float] = []
    try:
        for round_index in range(1, rounds + 1):
            per_round = dict(params)
            if schedule == "scyc":
                per_round.setdefault("round_index", round_index)
                per_round.setdefault("round_ratio", _float_or(best["target"], 0.0))
            built = build_schedule(
                schedule,
                epochs=int(best["epochs"]),
                steps_per_epoch=PLOT_STEPS_PER_EPOCH,
                **per_round,
            )
            curve += built.lrs()
    except (ValueError, TypeError) as err:  # a spec this version cannot rebuild: say so
        notes.append(f"LR curve of {schedule} not drawn: {err}")
        return [], label
    return curve, label


def plot_max_lr_rounds(comparison: Comparison, path: Path) -> Path:
    """Each schedule's max LR per round (S-Cyc's S-curve, CLR's constant) and the oracle's."""
    table = comparison.max_lr_rounds
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, g in table.groupby(["method", "target", "budget"]):
        tag = f"{key[0]} {key[1]} {key[2]:.0f}ep"
        for column in [c for c in g.columns if c.startswith("max_lr_")]:
            ax.plot(g["round"], g[column], marker="o", label=f"{column[7:]} ({tag})")
        if g["oracle_max_lr"].notna().any():
            ax.plot(g["round"], g["oracle_max_lr"], "k--", marker="*", label=f"oracle ({tag})")
    picks = comparison.oracle.dropna(subset=["max_lr"])
    if len(picks) and not table.empty:
        ax.scatter(picks["round"], picks["max_lr"], color="gray", s=12, label="oracle, per seed")
    if table.empty:
        ax.text(0.5, 0.5, "no per-round max LR recorded", ha="center", transform=ax.transAxes)
    ax.set(xlabel="round", ylabel="max LR", yscale="log", title="max LR per round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _float_or(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
