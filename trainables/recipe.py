"""Where retraining starts from (retrain.start) and what that implies: the dense run's epoch
whose weights a trial rewinds to, the LR segment LR rewinding replays with it, and the dense-run
epochs a study keeps snapshots of. The pretraining recipe's own facts are methods of
`trainables.trial_plan.Pretraining`.

Torch-free, so the study spec (studies.spec) checks against the same functions the trials use.
"""

from __future__ import annotations

from pruning.schedules import SCHEDULES
from trainables.trial_plan import TrialPlan

# --- where retraining starts from (retrain.start) ---------------------------------------------

PRUNED, INIT, REINIT, REWIND = "pruned", "init", "reinit", "rewind"
# Fresh weights must not be the dense model's own initial draw (torch.manual_seed(seed)): with
# masks that would be a lottery ticket (Frankle & Carbin), not a random re-initialisation.
REINIT_SEED_BASE = 1_000_003
STARTS = (PRUNED, INIT, REINIT, REWIND, "rewind:EPOCH")


def parse_start(start: str) -> tuple[str, int | None]:
    """'pruned' | 'reinit' → (kind, None); 'init' → ('rewind', 0); 'rewind' → ('rewind', None)
    (the epoch follows from the budget); 'rewind:K' → ('rewind', K). ValueError otherwise."""
    kind, sep, epoch = start.partition(":")
    if not sep and kind in (PRUNED, REINIT, REWIND):
        return kind, None
    if not sep and kind == INIT:
        return REWIND, 0
    if sep and kind == REWIND and epoch.isdigit():
        return REWIND, int(epoch)
    raise ValueError(f"unknown retraining start {start!r}; valid: {', '.join(STARTS)}")


def rewind_epoch(start: str, pretrain_epochs: int, budget: int) -> int | None:
    """The dense run's epoch whose weights (and, for lrw, LR) retraining starts from; None for
    pruned/reinit. Plain 'rewind' is Renda et al.'s weight rewinding: T − E."""
    kind, epoch = parse_start(start)
    if kind != REWIND:
        return None
    return max(0, pretrain_epochs - budget) if epoch is None else epoch


def snapshot_epochs(plan: TrialPlan, *, needs_previous_weights: bool) -> list[int]:
    """The dense-run epochs a study's trials load: rewinding targets for every start × budget,
    and T − 1 when the pruning criterion compares the last epoch's weights with the one before
    (weight_change: round 1 compares the dense run's last two epochs)."""
    total = plan.pretrain.epochs
    epochs = {
        epoch
        for start in plan.retrain.starts
        for budget in plan.retrain.budgets
        if (epoch := rewind_epoch(start, total, budget)) is not None
    }
    if needs_previous_weights:
        epochs.add(total - 1)
    epochs.discard(total)  # the end of the run is the cached dense model itself
    return sorted(epochs)


def start_schedule_params(schedule: str, start: str, pretrain_epochs: int, budget: int) -> dict:
    """Schedule params a start implies: LR rewinding replays the original run from the epoch
    the weights were rewound to (Renda et al.: rewind weights and LR together; a budget other
    than T − K replays that segment compressed, docs/science.md §2)."""
    epoch = rewind_epoch(start, pretrain_epochs, budget)
    if SCHEDULES.get(schedule).replays_pretraining and epoch is not None:
        return {"start_epoch": epoch}
    return {}
