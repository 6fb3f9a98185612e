"""The trial's configuration: the study's typed trial plan plus what the searcher sampled.

Ray hands the trainable a ``config`` dict: the sampled values (`trainables.keys.Sampled`), the study's
`TrialPlan` and `StudyContext` (both typed, from studies/ through Ray's object store). This module
turns it into one `TrialConfig`, so that trial.py reads like the protocol it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pruning.data import DataBundle
from pruning.methods import removed_fractions
from pruning.schedules import SCHEDULES, Schedule, build_schedule
from pruning.train import TrainConfig
from trainables.keys import Role, Sampled, Tag
from trainables.recipe import PRUNED, start_schedule_params
from trainables.trial_plan import Architecture, Data, Sgd, TrialPlan


@dataclass(frozen=True)
class StudyContext:
    """Where the trial reports to: fixed for every trial of a study."""

    name: str
    workdir: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    spec_hash: str
    # storage.shared: where trials share the dense cache and the oracle's final checkpoints,
    # a directory every node sees or an s3:// / gs:// URI; "" = the workdir.
    shared: str = ""
    dense_dir: str = ""  # unused: studies started before `shared` have it in Tune's state

    @property
    def shared_root(self) -> str:
        return self.shared or self.workdir


@dataclass(frozen=True)
class TrialConfig:
    """One prune-and-retrain trial, fully resolved."""

    study: StudyContext
    plan: TrialPlan
    role: str
    schedule: str
    method: str
    epochs: int
    seed: int
    max_lr: float | None = None
    ratio: float | None = None
    prune_config: str | None = None
    rounds: int = 1  # the last round this trial retrains
    first_round: int = 1  # the greedy oracle runs one round k per trial
    start_checkpoint: str | None = None  # round k starts from round k-1's winner (oracle)
    baseline: str | None = None  # scratch-e / scratch-b
    start: str = "pruned"  # retrain.start: pruned, init, reinit, rewind, rewind:K
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_tune(cls, config: dict[str, Any]) -> TrialConfig:
        plan: TrialPlan = config["plan"]
        pick = _picker(config, plan)
        ratio = pick(Sampled.RATIO, None)
        rounds = plan.pruning.rounds
        oracle_round = config.get("oracle_round")
        start = None
        if oracle_round is not None:
            rounds = int(oracle_round)
            key = group_key(
                str(pick(Sampled.METHOD, None)),
                config.get(Sampled.CONFIG) or ratio,
                int(pick(Sampled.EPOCHS, None)),
                int(pick(Sampled.SEED, 0)),
            )
            start = (config.get("oracle_starts") or {}).get(key) or None
        return cls(
            study=config["study"],
            plan=plan,
            role=str(config.get("role", Role.SEARCH)),  # plain str: checkpoints hold it
            schedule=str(pick(Sampled.SCHEDULE, None)),
            method=str(pick(Sampled.METHOD, None)),
            epochs=int(pick(Sampled.EPOCHS, None)),
            seed=int(pick(Sampled.SEED, 0)),
            max_lr=None if config.get(Sampled.MAX_LR) is None else float(config[Sampled.MAX_LR]),
            ratio=None if ratio is None else float(ratio),
            prune_config=config.get(Sampled.CONFIG),
            rounds=rounds,
            first_round=rounds if oracle_round is not None else 1,
            start_checkpoint=start,
            baseline=config.get("baseline"),
            start=str(pick(Sampled.START, "pruned")),
            extra={k: v for k, v in config.items() if k.startswith("_")},
        )

    # --- derived pieces ------------------------------------------------------------------

    @property
    def dataset(self) -> Data:
        return self.plan.data

    @property
    def model(self) -> Architecture:
        return self.plan.model

    @property
    def include_fc(self) -> bool:
        return self.plan.pruning.include_fc

    @property
    def pretrain_epochs(self) -> int:
        return self.plan.pretrain.epochs

    @property
    def reinit_scheme(self) -> str:
        return self.plan.retrain.reinit_scheme

    @property
    def retrain_batch_size(self) -> int:
        return self.plan.retrain.sgd.batch_size

    def schedule_for_round(
        self, bundle: DataBundle, round_index: int, reports: Sequence[Mapping[str, Any]] = ()
    ) -> Schedule:
        """The retraining schedule of one round; a per-round peak (S-Cyc) follows the sparsity
        the rounds so far reached (`reports`, the trial's pruning reports in round order)."""
        spe = bundle.steps_per_epoch(self.retrain_batch_size)
        return round_schedule(
            self.plan,
            self.schedule,
            self.epochs,
            self.max_lr,
            self.ratio,
            round_index,
            spe,
            self.start,
            removed=removed_fractions(reports),
        )

    def retrain_config(self, device: str) -> TrainConfig:
        return train_config(self.plan.retrain.sgd, seed=self.seed, device=device)

    def pretrain_config(self, device: str) -> TrainConfig:
        return train_config(self.plan.pretrain.sgd, seed=self.seed, device=device)

    def run_name(self, trial_key: str) -> str:
        """A name that says what the trial is, e.g. 'clr-lr0.0412-l1-0.5-e8-s0-3f9a2' (the end
        of the Tune trial's id keeps it unique: a search may run one config twice); baselines
        and oracle rounds say so first."""
        arm = self.schedule if self.start == PRUNED else f"{self.schedule}+{self.start}"
        parts = [self.baseline] if self.baseline else [arm]
        if self.role == Role.ORACLE:
            parts.insert(0, f"oracle-r{self.first_round}")
        if self.max_lr is not None:
            parts.append(f"lr{self.max_lr:.3g}")
        target = self.prune_config or ("" if self.ratio is None else f"{self.ratio:g}")
        parts += [self.method, target, f"e{self.epochs}", f"s{self.seed}"]
        parts.append(trial_key.rpartition("_")[2][:5])
        return "-".join(p for p in parts if p)

    def params(self) -> dict[str, Any]:
        """What MLflow records as the trial's params: what was sampled or differs between the
        trials of a study; the whole spec is on the study's run (spec.toml), not on each."""
        sampled = {
            "schedule": self.schedule,
            "max_lr": self.max_lr,
            "method": self.method,
            "ratio": self.ratio,
            "config": self.prune_config,
            "epochs": self.epochs,
            "seed": self.seed,
            "rounds": self.rounds,
            "start": self.start,
            "role": self.role,
        }
        return {"trial": {k: v for k, v in sampled.items() if v is not None}}

    def tags(self) -> dict[str, str]:
        return {
            Tag.SCHEDULE: self.schedule,
            Tag.METHOD: self.method,
            Tag.RATIO: "" if self.ratio is None else f"{self.ratio:g}",
            Tag.CONFIG: self.prune_config or "",
            Tag.SEED: str(self.seed),
            Tag.START: self.start,
            Tag.ROLE: self.role,
            Tag.ROUND: str(self.first_round) if self.role == Role.ORACLE else "",
            Tag.STUDY: self.study.name,
        }


def round_schedule(
    plan: TrialPlan,
    schedule: str,
    epochs: int,
    max_lr: float | None,
    ratio: float | None,
    round_index: int,
    steps_per_epoch: int,
    start: str = PRUNED,
    removed: Sequence[float] | None = None,
) -> Schedule:
    """How a trial builds the retraining schedule of round `round_index`: the spec's fixed
    params for the schedule, the sampled max LR, what the retraining start implies (lrw
    rewinds its LR with the weights), and for a per-round peak (S-Cyc) the round and the
    fraction of weights the rounds removed (`removed`; None: the nominal per-round ratio)."""
    params = dict(plan.retrain.schedule_params.get(schedule, {}))
    if SCHEDULES.get(schedule).replays_pretraining:
        params = {**plan.pretrain.replay_params(), **params}
    if start != PRUNED:
        params |= start_schedule_params(schedule, start, plan.pretrain.epochs, epochs)
    if max_lr is not None:
        params["max_lr"] = max_lr
    params |= SCHEDULES.get(schedule).round_params(params, round_index, removed, ratio)
    return build_schedule(schedule, epochs=epochs, steps_per_epoch=steps_per_epoch, **params)


def group_key(method: str, target: Any, epochs: int, seed: int) -> str:
    """The unit the oracle picks a winner for: one (method, ratio or config, budget, seed)."""
    target = f"{float(target):g}" if isinstance(target, int | float) else str(target)
    return f"{method}|{target}|{epochs}|{seed}"


def train_config(sgd: Sgd, *, seed: int, device: str) -> TrainConfig:
    """The SGD settings of a recipe (pretraining or retraining) for one trial."""
    return TrainConfig(
        batch_size=sgd.batch_size,
        momentum=sgd.momentum,
        nesterov=sgd.nesterov,
        weight_decay=sgd.weight_decay,
        label_smoothing=sgd.label_smoothing,
        bn_l1=sgd.bn_l1,
        seed=seed,
        device=device,
    )


def _picker(config: dict[str, Any], plan: TrialPlan):
    """A sampled value if the searcher set it, else the study's single value."""

    def pick(key: str, default: Any) -> Any:
        if config.get(key) is not None:
            return config[key]
        value = plan.defaults.get(key)
        required = (Sampled.SCHEDULE, Sampled.METHOD, Sampled.EPOCHS)
        if value is None and default is None and key in required:
            raise KeyError(f"trial config has no {key!r} and the study gives no single value")
        return default if value is None else value

    return pick
