"""A comparison's plots: accuracy against sparsity (with the oracle and the dense model), the
LR curves of the selected schedules, and the max LR per round (S-Cyc's S-curve vs the oracle).

Figures are bare matplotlib `Figure`s: no pyplot, no global backend, nothing kept alive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pruning.schedules import SCHEDULES, Schedule
from studies.results.compare import Comparison
from studies.results.runs import winner_rows
from studies.spec.contract import plan_of_record
from trainables.config import round_schedule
from trainables.keys import Role

# The schedules' shapes are drawn per epoch; the real steps per epoch depend on the data set
# and batch size, which only change the resolution of per-iteration schedules (clr, scyc).
PLOT_STEPS_PER_EPOCH = 20
MAX_LR_PANELS = 6
ACC_PLOT, LR_PLOT, MAX_LR_PLOT = "accuracy_vs_sparsity.png", "lr_curves.png", "max_lr_rounds.png"
_PALETTE = [
    f"tab:{c}"
    for c in (["blue", "orange", "green", "red", "purple", "brown", "pink", "olive", "cyan"])
]
_BASELINES = ("scratch-e", "scratch-b")


def schedule_color(schedule: str) -> str:
    """One colour per schedule name in every plot of every report (registry order); a
    schedule with another start ('lrw+rewind') keeps its schedule's colour."""
    schedule = schedule.partition("+")[0]
    names = [*SCHEDULES.names(), *_BASELINES]
    return _PALETTE[names.index(schedule) % len(_PALETTE)] if schedule in names else "tab:gray"


def plot_accuracy_vs_sparsity(comparison: Comparison, path: Path) -> Path:
    """Test acc (± std over seeds) against sparsity per schedule and budget, oracle dashed.

    Iterative studies plot every round (sparsity grows per round); one-shot studies plot
    their pruning targets. Named configs without a sparsity metric cannot be placed.
    """
    table = comparison.rounds if comparison.iterative else comparison.table
    table = table.assign(x=100 * pd.to_numeric(table["sparsity"], errors="coerce"))
    methods = sorted(table["method"].unique()) or ["-"]
    fig = Figure(figsize=(6 * len(methods), 4.5))
    axes = fig.subplots(1, len(methods), squeeze=False)
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


def _draw_schedules(ax: Axes, rows: pd.DataFrame) -> None:
    """One error-bar line per (schedule, budget); a baseline once, since it joins every budget."""
    scratch = rows["role"] == Role.BASELINE
    once = rows[scratch].drop_duplicates(["schedule", "target", "round"])
    for (schedule, budget), g in pd.concat([rows[~scratch], once]).groupby(["schedule", "budget"]):
        own = g["role"].iloc[0] == Role.BASELINE
        ax.errorbar(
            g["x"],
            g["test_acc_mean"],
            yerr=g["test_acc_std"].fillna(0.0),
            marker="s" if own else "o",
            capsize=3,
            color=schedule_color(schedule),
            label=f"{schedule} (own epochs)" if own else f"{schedule} ({budget:.0f} ep)",
        )


def plot_lr_curves(
    comparison: Comparison, spec: dict[str, Any], path: Path, notes: list[str]
) -> Path:
    """LR per epoch of each retraining schedule per (method, target, budget) group, drawn with
    the max LR of the group's selected trial; iterative studies chain their rounds."""
    sel = comparison.selected[comparison.selected["role"] != Role.BASELINE]
    groups = list(sel.groupby(["method", "target", "budget"], sort=True))
    if len(groups) > MAX_LR_PANELS:
        notes.append(f"LR curves drawn for the first {MAX_LR_PANELS} of {len(groups)} groups")
    groups = groups[:MAX_LR_PANELS] or [(("-", "-", 0.0), sel)]
    fig = Figure(figsize=(8, 3.2 * len(groups)))
    axes = fig.subplots(len(groups), 1, squeeze=False)
    rounds = int(spec["pruning"]["rounds"]) if comparison.iterative else 1
    for ax, ((method, target, budget), g) in zip(axes[:, 0], groups, strict=True):
        for best in winner_rows(g, ["schedule"]).itertuples():
            _draw_trial_lr(ax, spec, best, rounds, notes)
        ax.set_title(f"{method} {target}, {budget:.0f} epochs")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, path)


def _draw_trial_lr(ax: Axes, spec: dict[str, Any], best: Any, rounds: int, notes: list[str]):
    """The LR of one selected trial's schedule over all its rounds, built as the trial built it."""
    max_lr = None if pd.isna(best.max_lr) else float(best.max_lr)
    label = best.schedule + ("" if max_lr is None else f" (max LR {max_lr:.3g})")
    if SCHEDULES.get(best.schedule_name).per_round_peak:
        label += " (max LR per round from the nominal ratio)"
    try:
        schedules = [
            round_schedule(
                plan_of_record(spec),
                best.schedule_name,
                int(best.epochs),
                max_lr,
                _float_or(best.target, 0.0),
                k,
                PLOT_STEPS_PER_EPOCH,
                best.start,
            )
            for k in range(1, rounds + 1)
        ]
    except (ValueError, TypeError) as err:  # a spec this version cannot rebuild: say so
        notes.append(f"LR curve of {best.schedule} not drawn: {err}")
        return
    draw_lr_curve(ax, schedules, label=label, color=schedule_color(best.schedule_name))


def plot_max_lr_rounds(comparison: Comparison, path: Path) -> Path:
    """Each schedule's max LR per round (S-Cyc's S-curve, CLR's constant) and the oracle's."""
    table = comparison.max_lr_rounds
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for key, g in table.groupby(["method", "target", "budget"]):
        tag = f"{key[0]} {key[1]} {key[2]:.0f}ep"
        for column in [c for c in g.columns if c.startswith("max_lr_")]:
            schedule = column.removeprefix("max_lr_")
            ax.plot(
                g["round"],
                g[column],
                marker="o",
                color=schedule_color(schedule),
                label=f"{schedule} ({tag})",
            )
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


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _float_or(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


# --- LR curves: the one drawer of a schedule ------------------------------------------------


def lr_curve(
    schedules: list[Schedule], points_per_round: int = 400
) -> tuple[list[float], list[float]]:
    """(epochs, LRs) of consecutive schedules (rounds) on one axis of epochs, at most
    `points_per_round` points each (per-iteration schedules have thousands of steps)."""
    xs: list[float] = []
    ys: list[float] = []
    base = 0
    for schedule in schedules:
        stride = max(1, schedule.total_steps // points_per_round)
        for step in range(0, schedule.total_steps, stride):
            xs.append(base + step / schedule.steps_per_epoch)
            ys.append(schedule.lr(step))
        base += schedule.epochs
    return xs, ys


def draw_lr_curve(ax: Axes, schedules: list[Schedule], **plot_kwargs: Any) -> None:
    """Draw the LR of `schedules` (rounds in sequence) on `ax`, log LR axis: LRs span decades
    (1-cycle from max/100 to max/1e4), which a linear axis flattens to zero."""
    ax.plot(*lr_curve(schedules), **plot_kwargs)
    ax.set(xlabel="epoch", ylabel="learning rate")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")


def lr_curve_figure(schedules: list[Schedule], title: str) -> Figure:
    """The LR curve of one trial as a figure of its own."""
    # A bare Figure needs no pyplot and no global backend: trial actors are reused and
    # headless, and pyplot would keep every figure alive until closed.
    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    draw_lr_curve(ax, schedules)
    ax.set_title(title)
    fig.tight_layout()
    return fig
