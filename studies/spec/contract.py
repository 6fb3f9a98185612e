"""The validated study spec → the typed trial contract (trainables.trial_plan), built in one place.

Both the spec's own checks (the pretraining facts LR rewinding replays) and the study's phases
(what every trial receives) use these builders, so what is checked is what runs.
"""

from __future__ import annotations

from typing import Any

from studies.spec.model import PretrainSection, Recipe, StudySpec
from trainables.keys import Sampled
from trainables.trial_plan import (
    Architecture,
    Data,
    Pretraining,
    Pruning,
    Retraining,
    Sgd,
    TrialPlan,
)


def sgd(section: Recipe, bn_l1: float = 0.0) -> Sgd:
    return Sgd(
        batch_size=section.batch_size,
        momentum=section.momentum,
        weight_decay=section.weight_decay,
        nesterov=section.nesterov,
        label_smoothing=section.label_smoothing,
        bn_l1=bn_l1,
    )


def pretraining(section: PretrainSection) -> Pretraining:
    return Pretraining(
        epochs=section.epochs,
        schedule=section.schedule,
        lr=section.lr,
        milestones=tuple(section.milestones),
        schedule_params=dict(section.schedule_params),
        sgd=sgd(section, bn_l1=section.bn_l1),
    )


def trial_plan(spec: StudySpec) -> TrialPlan:
    """What every trial of the study shares (see trainables.trial_plan)."""
    d, p, r = spec.dataset, spec.pruning, spec.retrain
    return TrialPlan(
        data=Data(d.name, d.root, d.val_fraction, d.split_seed, d.download, d.image_size),
        model=Architecture(spec.model.name, tuple(spec.model.widths)),
        pretrain=pretraining(spec.pretrain),
        pruning=Pruning(
            methods=tuple(p.methods),
            ratios=tuple(p.ratio) if isinstance(p.ratio, list) else None,
            configs=tuple(p.configs),
            rounds=p.rounds if p.schedule == "iterative" else 1,
            include_fc=p.include_fc,
        ),
        retrain=Retraining(
            schedules=tuple(r.schedules),
            budgets=tuple(r.epochs),
            starts=tuple(r.start),
            schedule_params={k: dict(v) for k, v in r.schedule_params.items()},
            reinit_scheme=r.reinit_scheme,
            sgd=sgd(r),
        ),
        seeds=tuple(spec.search.seeds),
        defaults=_single_values(spec),
    )


def _single_values(spec: StudySpec) -> dict[str, Any]:
    """The value of every sampled dimension that has exactly one: what a trial runs when Tune's
    config does not carry it (a grid over the other dimensions)."""
    ratio = spec.pruning.ratio
    lists = {
        Sampled.SCHEDULE: spec.retrain.schedules,
        Sampled.METHOD: spec.pruning.methods,
        Sampled.EPOCHS: spec.retrain.epochs,
        Sampled.SEED: spec.search.seeds,
        Sampled.RATIO: ratio if isinstance(ratio, list) else [],
        Sampled.START: spec.retrain.start,
    }
    return {str(k): v[0] for k, v in lists.items() if len(v) == 1}


def plan_of_record(spec: dict[str, Any]) -> TrialPlan:
    """The trial plan of a study record's spec (a validated spec, dumped as JSON); ValueError if
    this version of prunetune cannot read it back."""
    return trial_plan(StudySpec.model_validate(spec))
