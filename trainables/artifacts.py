"""What a finished trial leaves in MLflow besides metrics: the LR curve it was retrained with,
the pruning report(s), and the final pruned weights (loadable with weights_only=True)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pruning.checkpoint import save_checkpoint
from pruning.data import DataBundle
from pruning.schedules import Schedule
from trainables.config import TrialConfig
from trainables.runs import TrialRun


def log_trial_artifacts(
    run: TrialRun,
    tc: TrialConfig,
    model: torch.nn.Module,
    masks: dict[str, torch.Tensor] | None,
    reports: list[dict[str, Any]],
    schedules: list[Schedule],
    title: str,
) -> None:
    """Pruning report(s), the LR curve of `schedules` (one per round, chained) and the final
    pruned weights; shared by prune_retrain and the Scratch-E/B baselines."""
    run.log_dict({"rounds": reports}, "pruning_report.json")
    run.log_figure(lr_curve_figure(schedules, title), "lr_curve.png")
    with tempfile.TemporaryDirectory(prefix="prunetune-final-") as tmp:
        path = Path(tmp) / "pruned_model.pt"
        save_checkpoint(
            path, model=model.cpu(), masks=masks, extra={"trial": tc.params()["trial"]}
        )
        run.log_artifact(str(path), "model")


def round_schedules(tc: TrialConfig, bundle: DataBundle) -> list[Schedule]:
    return [tc.schedule_for_round(bundle, k) for k in range(tc.first_round, tc.rounds + 1)]


def lr_curve(schedules: list[Schedule], points_per_round: int = 400) -> tuple[list, list]:
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
