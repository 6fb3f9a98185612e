"""Cross-field checks of the [retrain] section: schedule params against each schedule's
contract at the study's real budgets, max LRs, starts and steps per epoch; LR rewinding against
the pretraining run it replays; per-round peaks only where there are rounds; rewinding targets
inside the dense run. Pure, like studies.spec.checks (see its docstring)."""

from __future__ import annotations

import itertools

from pruning.schedules import SCHEDULES, build_schedule
from studies.spec import derived
from studies.spec.check_error import invalid
from studies.spec.model import StudySpec
from trainables import recipe as recipe_facts


def check_retrain(spec: StudySpec) -> None:
    r = spec.retrain
    for name, params in r.schedule_params.items():
        where = f"retrain.schedule_params.{name}"
        if name not in SCHEDULES:
            raise invalid(f"unknown schedule {name!r}", ", ".join(SCHEDULES.names()), path=where)
        valid = derived.schedule_class(name).param_names()
        valid += ["max_lr"] if derived.peak_param(name) not in (None, "max_lr") else []
        for key in params:
            if key not in valid:
                raise invalid(
                    f"unknown parameter {key!r} of {name}", ", ".join(valid), path=f"{where}.{key}"
                )
    for name in r.schedules:
        if derived.schedule_class(name).replays_pretraining:
            _lrw_replays_pretraining(spec, name)
    _per_round_peaks(spec)
    _starts(spec)
    if r.max_lr is not None and not derived.schedules_with_max_lr(spec):
        takes = [n for n in SCHEDULES.names() if derived.peak_param(n) is not None]
        raise invalid(
            "no schedule in retrain.schedules has a free max LR (scyc computes its own; a peak "
            "set in retrain.schedule_params is fixed)",
            f"remove max_lr, or add one of {', '.join(takes)}",
            path="retrain.max_lr",
        )
    for name in r.schedules:
        _build_every_variant(spec, name)


def _starts(spec: StudySpec) -> None:
    """Rewinding targets inside the dense run; criteria that need retraining between rounds
    not used where rounds are pruned back to back (Scratch-E/B)."""
    total = spec.pretrain.epochs
    for i, start in enumerate(spec.retrain.start):
        epoch = recipe_facts.parse_start(start)[1]
        if epoch is not None and epoch > total:
            raise invalid(
                f"{start} rewinds to epoch {epoch} of a {total}-epoch dense run",
                f"rewind:K with K <= pretrain.epochs ({total})",
                path=f"retrain.start[{i}]",
            )
    from pruning.methods import needs_previous_weights  # torch: see the module docstring

    changed = [m for m in spec.pruning.methods if needs_previous_weights(m)]
    if changed and spec.search.baselines:
        raise invalid(
            f"{changed[0]} ranks weights by how they moved in training, and Scratch-E/B prune "
            "their rounds without training in between",
            "drop search.baselines, or a method that needs no training history",
            path="search.baselines",
        )


def _per_round_peaks(spec: StudySpec) -> None:
    """A peak that follows the pruning progress (S-Cyc) needs rounds to follow, and the round
    sets it: the study file may not pin what each round computes."""
    for i, name in enumerate(spec.retrain.schedules):
        cls = derived.schedule_class(name)
        if not cls.per_round_peak:
            continue
        if derived.rounds(spec) < 2:
            raise invalid(
                f"{name}'s peak follows the fraction of weights pruned in earlier rounds, which "
                "one-shot pruning does not have (S-Cyc is defined for iterative pruning)",
                "pruning.schedule = 'iterative' with rounds >= 2, or drop " + name,
                path=f"retrain.schedules[{i}]",
            )
        pinned = [
            k
            for k in getattr(cls, "ROUND_SET", ())
            if k in spec.retrain.schedule_params.get(name, {})
        ]
        if pinned:
            raise invalid(
                f"{pinned[0]} is set by every round from the sparsity the rounds reached",
                f"remove it; {name}'s other params (e.g. offset, alpha, beta, lag)",
                path=f"retrain.schedule_params.{name}.{pinned[0]}",
            )


def _lrw_replays_pretraining(spec: StudySpec, name: str) -> None:
    if not SCHEDULES.get(spec.pretrain.schedule).milestone_drops:
        steps = [n for n in SCHEDULES.names() if SCHEDULES.get(n).milestone_drops]
        raise invalid(
            f"{name} replays the pretraining schedule, which must drop at milestones "
            f"(pretrain.schedule is {spec.pretrain.schedule!r})",
            f"pretrain.schedule = {' or '.join(map(repr, steps))}, or drop {name}",
            path="retrain.schedules",
        )
    expected = derived.lrw_params(spec)
    params = spec.retrain.schedule_params.get(name, {})
    longest = max(spec.retrain.epochs)
    if longest > spec.pretrain.epochs and any(
        recipe_facts.parse_start(s)[0] == recipe_facts.PRUNED for s in spec.retrain.start
    ):
        raise invalid(
            f"{name} cannot replay the last {longest} epochs of a {spec.pretrain.epochs}-epoch "
            "pretraining run",
            f"budgets <= pretrain.epochs ({spec.pretrain.epochs}), or drop {name}",
            path="retrain.epochs",
        )
    for key in expected:
        if key in params and params[key] != expected[key]:
            raise invalid(
                f"{params[key]!r} does not match the pretraining run; {name} replays it",
                f"{expected[key]!r} (from pretrain.epochs, pretrain.lr, pretrain.milestones)",
                path=f"retrain.schedule_params.{name}.{key}",
            )


def _build_every_variant(spec: StudySpec, name: str) -> None:
    """Build `name` for every budget and max-LR end the study can sample, as a trial would."""
    params = dict(spec.retrain.schedule_params.get(name, {}))
    if derived.schedule_class(name).replays_pretraining:  # as the trials build it
        params = {**derived.lrw_params(spec), **params}
    lrs: list[float | None] = [None]
    if name in derived.schedules_with_max_lr(spec):
        lrs = list(derived.max_lr_values(spec))
    where = f"retrain.schedule_params.{name}" if params else "retrain.epochs"
    spe, _ = derived.steps_per_epoch(spec)
    for epochs, lr, start in itertools.product(spec.retrain.epochs, lrs, spec.retrain.start):
        extra = {} if lr is None else {"max_lr": lr}
        extra |= recipe_facts.start_schedule_params(name, start, spec.pretrain.epochs, epochs)
        try:
            build_schedule(name, epochs=epochs, steps_per_epoch=spe, **params, **extra)
        except ValueError as err:
            raise invalid(
                f"{err} (retrain.epochs = {epochs}, start = {start}, {spe} steps per epoch)",
                "",
                path=where,
            ) from None
