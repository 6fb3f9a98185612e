"""The trial's configuration: the study spec (as a plain dict) plus what the searcher sampled.

Ray hands the trainable a nested ``config`` dict; this module turns it into typed pieces the
science code understands, so that trial.py reads like the protocol it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pruning.data import DataBundle
from pruning.methods import removed_fractions
from pruning.schedules import SCHEDULES, Schedule, build_schedule
from pruning.train import TrainConfig
from trainables.keys import Role, Tag
from trainables.recipe import PRUNED, start_schedule_params

# Names the search space samples (studies/plan/search.py); everything else comes from the spec.
SAMPLED_KEYS = ("schedule", "max_lr", "method", "ratio", "config", "epochs", "start", "seed")


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
    spec: dict[str, Any]
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
        spec = config["spec"]
        pick = _picker(config, spec)
        ratio = pick("ratio", None)
        rounds = int(spec["pruning"]["rounds"])
        if spec["pruning"]["schedule"] != "iterative":
            rounds = 1
        oracle_round = config.get("oracle_round")
        start = None
        if oracle_round is not None:
            rounds = int(oracle_round)
            key = group_key(
                str(pick("method", None)),
                config.get("config") or ratio,
                int(pick("epochs", None)),
                int(pick("seed", 0)),
            )
            start = (config.get("oracle_starts") or {}).get(key) or None
        return cls(
            study=StudyContext(**config["study"]),
            spec=spec,
            role=str(config.get("role", Role.SEARCH)),  # plain str: checkpoints hold it
            schedule=str(pick("schedule", None)),
            method=str(pick("method", None)),
            epochs=int(pick("epochs", None)),
            seed=int(pick("seed", 0)),
            max_lr=None if config.get("max_lr") is None else float(config["max_lr"]),
            ratio=None if ratio is None else float(ratio),
            prune_config=config.get("config"),
            rounds=rounds,
            first_round=rounds if oracle_round is not None else 1,
            start_checkpoint=start,
            baseline=config.get("baseline"),
            start=str(pick("start", "pruned")),
            extra={k: v for k, v in config.items() if k.startswith("_")},
        )

    # --- derived pieces ------------------------------------------------------------------

    @property
    def dataset(self) -> dict[str, Any]:
        return self.spec["dataset"]

    @property
    def model(self) -> dict[str, Any]:
        return self.spec["model"]

    @property
    def include_fc(self) -> bool:
        return bool(self.spec["pruning"]["include_fc"])

    @property
    def pretrain_epochs(self) -> int:
        return int(self.spec["pretrain"]["epochs"])

    @property
    def reinit_scheme(self) -> str:
        return str(self.spec["retrain"]["reinit_scheme"])

    @property
    def retrain_batch_size(self) -> int:
        return int(self.spec["retrain"]["batch_size"])

    def schedule_for_round(
        self, bundle: DataBundle, round_index: int, reports: Sequence[Mapping[str, Any]] = ()
    ) -> Schedule:
        """The retraining schedule of one round; a per-round peak (S-Cyc) follows the sparsity
        the rounds so far reached (`reports`, the trial's pruning reports in round order)."""
        spe = bundle.steps_per_epoch(self.retrain_batch_size)
        return round_schedule(
            self.spec,
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
        return train_config(self.spec["retrain"], seed=self.seed, device=device)

    def pretrain_config(self, device: str) -> TrainConfig:
        return train_config(self.spec["pretrain"], seed=self.seed, device=device)

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
    spec: dict[str, Any],
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
    params = dict(spec["retrain"]["schedule_params"].get(schedule, {}))
    if start != PRUNED:
        total = int(spec["pretrain"]["epochs"])
        params |= start_schedule_params(schedule, start, total, epochs)
    if max_lr is not None:
        params["max_lr"] = max_lr
    params |= SCHEDULES.get(schedule).round_params(params, round_index, removed, ratio)
    return build_schedule(schedule, epochs=epochs, steps_per_epoch=steps_per_epoch, **params)


def group_key(method: str, target: Any, epochs: int, seed: int) -> str:
    """The unit the oracle picks a winner for: one (method, ratio or config, budget, seed)."""
    target = f"{float(target):g}" if isinstance(target, int | float) else str(target)
    return f"{method}|{target}|{epochs}|{seed}"


def train_config(section: dict[str, Any], *, seed: int, device: str) -> TrainConfig:
    """The SGD settings of a spec's pretrain or retrain section (every field is present: the
    spec the trial gets is a full dump of a validated StudySpec)."""
    return TrainConfig(
        batch_size=int(section["batch_size"]),
        momentum=float(section["momentum"]),
        nesterov=bool(section["nesterov"]),
        weight_decay=float(section["weight_decay"]),
        label_smoothing=float(section["label_smoothing"]),
        bn_l1=float(section.get("bn_l1", 0.0)),  # only the pretrain section has it
        seed=seed,
        device=device,
    )


def _picker(config: dict[str, Any], spec: dict[str, Any]):
    """A sampled value if the searcher set it, else the spec's single value."""
    singles = {
        "schedule": _single(spec["retrain"]["schedules"]),
        "method": _single(spec["pruning"]["methods"]),
        "epochs": _single(spec["retrain"]["epochs"]),
        "seed": _single(spec["search"]["seeds"]),
        "ratio": _single(spec["pruning"]["ratio"]),
        "start": _single(spec["retrain"]["start"]),
    }

    def pick(key: str, default: Any) -> Any:
        if config.get(key) is not None:
            return config[key]
        value = singles.get(key)
        if value is None and default is None and key in ("schedule", "method", "epochs"):
            raise KeyError(f"trial config has no {key!r} and the spec gives no single value")
        return default if value is None else value

    return pick


def _single(values: Any) -> Any:
    if isinstance(values, list) and len(values) == 1:
        return values[0]
    return None
