"""Results keep retraining starts apart: LRW (lrw from the pruned weights) and weight rewinding
(lrw from the dense run's epoch k) are different rows, each rebuildable from its schedule."""

from __future__ import annotations

import pandas as pd

from studies.results.plots import schedule_color
from studies.results.runs import select_trials, tidy_trials


def test_lrw_and_weight_rewinding_are_different_rows() -> None:
    """Same schedule tag, starts pruned and rewind: two arms, 'lrw' and 'lrw+rewind'; runs
    recorded before starts existed count as 'pruned'."""
    base = {
        "status": "FINISHED",
        "tags.role": "search",
        "tags.schedule": "lrw",
        "tags.method": "l1",
        "tags.ratio": "0.5",
        "tags.seed": "0",
        "params.trial.epochs": "4",
        "metrics.final/val_acc": 0.9,
        "metrics.final/test_acc": 0.9,
    }
    frame = pd.DataFrame(
        [
            {**base, "run_id": "a", "tags.start": "pruned"},
            {**base, "run_id": "b", "tags.start": "rewind"},
            {**base, "run_id": "c"},
        ]
    )
    tidy = tidy_trials(frame)
    assert tidy["schedule"].tolist() == ["lrw", "lrw+rewind", "lrw"]
    assert tidy["schedule_name"].tolist() == ["lrw"] * 3
    assert tidy["start"].tolist() == ["pruned", "rewind", "pruned"]
    assert sorted(select_trials(tidy)["schedule"]) == ["lrw", "lrw+rewind"]
    assert schedule_color("lrw+rewind") == schedule_color("lrw") != schedule_color("clr")
