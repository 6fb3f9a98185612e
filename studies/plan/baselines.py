"""The Scratch-E/B baseline phase (Liu et al. 2019): for every (method, target, seed) the
fine-tuned trials' pruned architecture trained from scratch; a plain grid, no Optuna."""

from __future__ import annotations

from ray import tune

from studies.plan.phase import Phase, TunerParts, build_tuner, trainable_factory
from studies.session.records import StudyRecord
from studies.spec import StudySpec
from studies.spec.derived import pruning_targets
from trainables.keys import Role
from trainables.scratch import scratch_train


def baseline_phase(spec: StudySpec, record: StudyRecord) -> Phase:
    trainable = trainable_factory(spec, record, scratch_train)
    points = [
        {**target, "baseline": b, "seed": seed}
        for target in pruning_targets(spec)
        for b in spec.search.baselines
        for seed in spec.search.seeds
    ]
    ray_name = f"{spec.name}-baselines"

    def build() -> tune.Tuner:
        parts = TunerParts(
            ray_name=ray_name,
            param_space={
                "role": Role.BASELINE,
                "schedule": "step",
                "epochs": int(spec.pretrain.epochs),
                "point": tune.grid_search(points),
            },
            phase="baselines",
            expected=len(points),
        )
        return build_tuner(spec, record, trainable, parts)

    return Phase("baselines", ray_name, trainable, build, len(points))
