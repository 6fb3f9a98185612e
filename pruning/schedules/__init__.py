"""Learning-rate schedules for (re)training pruned networks, by name (docs/science.md §1–2).

    schedule = build_schedule("clr", epochs=40, steps_per_epoch=704, max_lr=0.05)
    schedule.lr(step), schedule.momentum(step)      # set before every optimizer step

Members: step (original training / Scratch-E/B), ft, lrw, slr, clr, scyc, cosine, constant.
`max_lr` is accepted by every schedule that has a free peak and sets it: for ft and constant
it is their constant `lr`, for step its `base_lr`; lrw and slr scale their whole shape so the
peak equals max_lr; scyc computes its peak and takes no max_lr.

clr and scyc take `shape`: "one-cycle" (default, OneCycleLR) or "silo" (SILO's code: a ramp of
max_lr/ramp_steps per step, then absolute drops; momentum left to the optimizer).
"""

from __future__ import annotations

from typing import Any

from pruning.registry import Registry
from pruning.schedules.base import EpochwiseSchedule, Schedule
from pruning.schedules.constant import ConstantSchedule, FineTuning
from pruning.schedules.cosine import CosineSchedule
from pruning.schedules.cycle import SHAPES, CycleSchedule
from pruning.schedules.one_cycle import CyclicLRRestarting
from pruning.schedules.restarting import ScaledLRRestarting
from pruning.schedules.rewinding import LRRewinding
from pruning.schedules.s_cyclic import SCyclic, pruned_fraction, s_curve, scyc_max_lr
from pruning.schedules.shapes import one_cycle, silo_lr
from pruning.schedules.step import StepSchedule, step_lr

__all__ = [
    "SCHEDULES",
    "SHAPES",
    "CycleSchedule",
    "EpochwiseSchedule",
    "Schedule",
    "build_schedule",
    "one_cycle",
    "pruned_fraction",
    "s_curve",
    "schedule_from_dict",
    "scyc_max_lr",
    "silo_lr",
    "step_lr",
]

SCHEDULES: Registry[type[Schedule]] = Registry("schedule")
for _cls in (
    StepSchedule,
    FineTuning,
    LRRewinding,
    ScaledLRRestarting,
    CyclicLRRestarting,
    SCyclic,
    CosineSchedule,
    ConstantSchedule,
):
    SCHEDULES.add(_cls.name, _cls)


def build_schedule(name: str, *, epochs: int, steps_per_epoch: int, **params: Any) -> Schedule:
    """The schedule `name` for a run of epochs × steps_per_epoch optimizer steps.

    Raises UnknownNameError (a ValueError) for an unknown name and ValueError naming the
    parameter and the valid ones for an unknown or invalid parameter.
    """
    cls = SCHEDULES.get(name)
    params = _map_max_lr(cls, dict(params))
    valid = cls.param_names()
    unknown = [p for p in params if p not in valid]
    if unknown:
        raise ValueError(
            f"schedule {name!r}: unknown parameter {', '.join(map(repr, unknown))}; "
            f"valid parameters: {', '.join(valid)}"
        )
    return cls(epochs=epochs, steps_per_epoch=steps_per_epoch, **params)


def schedule_from_dict(spec: dict[str, Any]) -> Schedule:
    """Inverse of `Schedule.to_dict()` (e.g. from a checkpoint's extra or a logged config)."""
    missing = [k for k in ("name", "epochs", "steps_per_epoch") if k not in spec]
    if missing:
        raise ValueError(f"schedule spec is missing {', '.join(missing)}; got keys {list(spec)}")
    return build_schedule(
        spec["name"],
        epochs=spec["epochs"],
        steps_per_epoch=spec["steps_per_epoch"],
        **spec.get("params", {}),
    )


def _map_max_lr(cls: type[Schedule], params: dict[str, Any]) -> dict[str, Any]:
    # A search tunes "max_lr" for every schedule; translate it to the schedule's own peak name.
    peak = cls.peak_param
    if "max_lr" not in params or peak in (None, "max_lr"):
        return params
    if peak in params:
        raise ValueError(
            f"schedule {cls.name!r}: give max_lr or {peak}, not both (max_lr sets {peak})"
        )
    params[peak] = params.pop("max_lr")
    return params
