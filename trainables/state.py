"""Where a trial stands: saved with every checkpoint, so a retried trial continues exactly."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrialState:
    """The position (round, epoch), the running bests and what pruning reported so far."""

    round: int = 1  # 1-indexed round being retrained
    epoch: int = 0  # epochs finished in this round
    pruned_this_round: bool = False
    run_id: str | None = None
    started: float = field(default_factory=time.time)
    wall_before: float = 0.0  # wall time spent in earlier attempts
    best_val: float = -math.inf
    best_test_at_best_val: float = float("nan")
    last_val: float = float("nan")
    last_test: float = float("nan")
    epochs_reached: int = 0
    dense_macs: float = float("nan")  # MACs of the unpruned model: macs_ratio is against it
    dense_val_acc: float = float("nan")  # of the dense model this trial started from
    dense_test_acc: float = float("nan")
    reports: list[dict[str, Any]] = field(default_factory=list)
    diverged: bool = False
    pending_metrics: list[list[Any]] = field(default_factory=list)  # not yet in MLflow
    # The weights one epoch before the end of the last training (weight_change ranks by
    # |w_end − w_(end−1)|); kept in the checkpoint so a retried trial prunes the same weights.
    previous_weights: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["wall_before"] = self.wall_time()
        d.pop("started")
        return d

    def new_round(self) -> None:
        """Forget the previous round's bests: the metrics of a round describe its sparsity."""
        self.best_val, self.best_test_at_best_val = -math.inf, float("nan")

    def wall_time(self) -> float:
        return self.wall_before + (time.time() - self.started)

    @property
    def last_report(self) -> dict[str, Any]:
        """The latest pruning report ({} before the first pruning)."""
        return self.reports[-1] if self.reports else {}
