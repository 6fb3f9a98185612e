"""What a finished trial leaves in MLflow besides metrics: the LR curve it was retrained with,
the pruning report(s), and the final pruned weights (loadable with weights_only=True)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from pruning.checkpoint import save_checkpoint
from pruning.data import DataBundle
from trainables.config import TrialConfig
from trainables.tracking import TrialRun


def log_trial_artifacts(
    run: TrialRun,
    tc: TrialConfig,
    bundle: DataBundle,
    model: torch.nn.Module,
    masks: dict[str, torch.Tensor] | None,
    reports: list[dict[str, Any]],
) -> None:
    run.log_dict({"rounds": reports}, "pruning_report.json")
    run.log_figure(lr_curve_figure(tc, bundle), "lr_curve.png")
    with tempfile.TemporaryDirectory(prefix="prunetune-final-") as tmp:
        path = Path(tmp) / "pruned_model.pt"
        save_checkpoint(
            path, model=model.cpu(), masks=masks, extra={"trial": tc.params()["trial"]}
        )
        run.log_artifact(str(path), "model")


def lr_curve_figure(tc: TrialConfig, bundle: DataBundle):
    """The per-iteration LR of every round, on one axis of epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    xs: list[float] = []
    ys: list[float] = []
    for round_index in range(1, tc.rounds + 1):
        schedule = tc.schedule_for_round(bundle, round_index)
        spe = schedule.steps_per_epoch
        stride = max(1, schedule.total_steps // 400)  # ≤ 400 points a round keeps the PNG small
        base = (round_index - 1) * schedule.epochs
        for step in range(0, schedule.total_steps, stride):
            xs.append(base + step / spe)
            ys.append(schedule.lr(step))
    ax.plot(xs, ys)
    ax.set(xlabel="epoch", ylabel="learning rate", title=f"{tc.schedule} (max LR {tc.max_lr})")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
