"""What a finished trial leaves in MLflow besides metrics: the LR curve it was retrained with,
the pruning report(s), and the final pruned weights (loadable with weights_only=True)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from pruning.checkpoint import save_checkpoint
from pruning.data import DataBundle
from pruning.schedules import Schedule
from trainables.config import TrialConfig
from trainables.tracking import TrialRun


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


def lr_curve_figure(schedules: list[Schedule], title: str):
    """The per-iteration LR of consecutive schedules (rounds) on one axis of epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    xs: list[float] = []
    ys: list[float] = []
    base = 0
    for schedule in schedules:
        stride = max(1, schedule.total_steps // 400)  # ≤ 400 points a round keeps the PNG small
        for step in range(0, schedule.total_steps, stride):
            xs.append(base + step / schedule.steps_per_epoch)
            ys.append(schedule.lr(step))
        base += schedule.epochs
    ax.plot(xs, ys)
    ax.set(xlabel="epoch", ylabel="learning rate", title=title)
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
