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
from trainables.runs import TrialRun


def log_trial_artifacts(
    run: TrialRun,
    tc: TrialConfig,
    model: torch.nn.Module,
    masks: dict[str, torch.Tensor] | None,
    reports: list[dict[str, Any]],
    schedules: list[Schedule],
) -> None:
    """The pruning report(s) with the schedules retrained with (one per round: name, length,
    params — enough to rebuild them exactly, e.g. `prunetune schedule … --plot`), and the final
    pruned weights; shared by prune_retrain and the Scratch-E/B baselines. No per-trial plot:
    rendering one cost more than a small trial's bookkeeping (bench/bookkeeping.py), the LR is
    an MLflow metric per epoch, and `compare` draws the curves of the selected trials."""
    run.log_dict(
        {"rounds": reports, "schedules": [s.to_dict() for s in schedules]},
        "pruning_report.json",
    )
    with tempfile.TemporaryDirectory(prefix="prunetune-final-") as tmp:
        path = Path(tmp) / "pruned_model.pt"
        save_checkpoint(
            path, model=model.cpu(), masks=masks, extra={"trial": tc.params()["trial"]}
        )
        run.log_artifact(str(path), "model")


def round_schedules(
    tc: TrialConfig, bundle: DataBundle, reports: list[dict[str, Any]]
) -> list[Schedule]:
    """The schedules the trial's rounds ran, each built from the reports of the rounds before."""
    return [
        tc.schedule_for_round(bundle, k, reports) for k in range(tc.first_round, tc.rounds + 1)
    ]
