"""The in-round LR shapes of the cyclic schedules (clr, scyc), as pure functions of the step.

- `one_cycle`: PyTorch's OneCycleLR (Le & Hua's CLR; the 1-cycle inside each S-Cyc round).
- `silo_lr`: the ramp-then-step shape SILO's code runs inside every round (TMLR 2023, github
  Martin1937/SILO). What its `train()` does per optimizer step, read in `resnet_20_cifar_10.py`:

      iteration_num = iteration_num + 1            # reset to 0 at the start of every round
      if iteration_num <= 20000: curr_lr = curr_lr + slope       # slope = max_lr / 20000
      if iter_ >= 25: curr_lr = max_lr/10          # iter_ = the epoch within the round
      if iter_ >= 32: curr_lr = max_lr/100
      for param_group in optimizer.param_groups: param_group['lr'] = curr_lr   # then the step

  with `curr_lr = args.lr` (default 0) at epoch 0 of the round, 50 epochs a round, SGD momentum
  0.9 (constant: no momentum schedule) and weight decay 5e-4. The LR is raised *before* the
  first step, so the t-th step (0-based) runs at lr0 + min(t + 1, 20000) · max_lr / 20000: the
  (t + 1) of docs/science.md §2 is right, and step 0 gets max_lr/20000 > 0 even with lr0 = 0. The
  drops are absolute (max_lr/10, then max_lr/100), not compounded. At CIFAR-10's 563 steps per
  epoch the drop at epoch 25 (step 14,075) comes before the ramp's end (step 20,000): the LR
  climbs only to 14,075/20,000 ≈ 0.70·max_lr, and the cap never matters at that data size.
  `vgg_19_cifar_10.py` runs a variant: stepsize 10,000, `curr_lr = iteration_num*slope` (no lr0,
  no cap), held at max_lr from epoch 14, /10 from 80, /100 from 120 of 160 epochs: with 563
  steps per epoch that is `silo_lr` with ramp_steps=10000, drop_epochs=(14, 80, 120),
  drop_factors=(1.0, 0.1, 0.01).

Here the LR is computed in closed form, lr0 + n · (max_lr/ramp_steps); SILO's running sum of
`slope` differs from it by float rounding only (~1e-16 relative per added step).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

ANNEAL_STRATEGIES = ("cos", "linear")


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        cos_out = math.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out
    return (end - start) * pct + start


def one_cycle(
    step: int,
    total_steps: int,
    *,
    max_lr: float,
    pct_start: float,
    div_factor: float,
    final_div_factor: float,
    anneal: str = "cos",
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> tuple[float, float]:
    """(lr, momentum) of OneCycleLR at `step` of `total_steps`.

    Warm-up from max_lr/div_factor to max_lr over the first pct_start of the steps (momentum
    max → base), then anneal to max_lr/div_factor/final_div_factor (momentum base → max).
    """
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    warmup_end = float(pct_start * total_steps) - 1
    if step <= warmup_end:
        start_step, end_step = 0.0, warmup_end
        lrs, moms = (initial_lr, max_lr), (max_momentum, base_momentum)
    else:
        start_step, end_step = warmup_end, total_steps - 1
        lrs, moms = (max_lr, min_lr), (base_momentum, max_momentum)
    span = end_step - start_step
    pct = (step - start_step) / span if span != 0 else 0.0
    return _anneal(anneal, *lrs, pct), _anneal(anneal, *moms, pct)


def silo_lr(
    step: int,
    *,
    steps_per_epoch: int,
    max_lr: float,
    ramp_steps: int = 20_000,
    lr0: float = 0.0,
    drop_epochs: Sequence[int] = (25, 32),
    drop_factors: Sequence[float] = (0.1, 0.01),
) -> float:
    """SILO's LR at `step` (0-based, within the round): the ramp lr0 + min(step + 1, ramp_steps)
    · max_lr/ramp_steps until the first drop epoch, then max_lr · drop_factors[i] from
    drop_epochs[i] on (the last drop reached wins; the factors are not compounded)."""
    dropped = bisect_right(drop_epochs, step // steps_per_epoch)
    if dropped:
        return max_lr * drop_factors[dropped - 1]
    return lr0 + min(step + 1, ramp_steps) * (max_lr / ramp_steps)
