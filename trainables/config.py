"""The trial's configuration: the study spec (as a plain dict) plus what the searcher sampled.

Ray hands the trainable a nested ``config`` dict; this module turns it into typed pieces the
science code understands, so that trial.py reads like the protocol it runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pruning.data import DataBundle
from pruning.schedules import Schedule, build_schedule
from pruning.train import TrainConfig

# Names the search space samples (studies/space.py); everything else comes from the spec.
SAMPLED_KEYS = ("schedule", "max_lr", "method", "ratio", "config", "epochs", "seed")


@dataclass(frozen=True)
class StudyContext:
    """Where the trial reports to: fixed for every trial of a study."""

    name: str
    workdir: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    dense_dir: str
    spec_hash: str


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
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_tune(cls, config: dict[str, Any]) -> TrialConfig:
        spec = config["spec"]
        pick = _picker(config, spec)
        ratio = pick("ratio", None)
        rounds = int(spec["pruning"].get("rounds", 1))
        if spec["pruning"].get("schedule") != "iterative":
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
            role=config.get("role", "search"),
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
            extra={k: v for k, v in config.items() if k.startswith("_")},
        )

    # --- derived pieces ------------------------------------------------------------------

    @property
    def dataset(self) -> dict[str, Any]:
        return self.spec["dataset"]

    @property
    def model(self) -> dict[str, Any]:
        return self.spec["model"]

    def schedule_params(self) -> dict[str, Any]:
        """Fixed params of the spec for this schedule, plus the sampled max LR."""
        params = dict(self.spec["retrain"].get("schedule_params", {}).get(self.schedule, {}))
        if self.max_lr is not None:
            params["max_lr"] = self.max_lr
        return params

    def schedule_for_round(self, bundle: DataBundle, round_index: int) -> Schedule:
        """The retraining schedule of one round; scyc takes its peak from the round index."""
        params = self.schedule_params()
        if self.schedule == "scyc":
            params.setdefault("round_index", round_index)
            params.setdefault("round_ratio", self.ratio or 0.0)
        spe = bundle.steps_per_epoch(int(self.spec["retrain"].get("batch_size", 64)))
        return build_schedule(self.schedule, epochs=self.epochs, steps_per_epoch=spe, **params)

    def retrain_config(self, device: str) -> TrainConfig:
        return train_config(self.spec["retrain"], seed=self.seed, device=device)

    def pretrain_config(self, device: str) -> TrainConfig:
        return train_config(self.spec["pretrain"], seed=self.seed, device=device)

    def params(self) -> dict[str, Any]:
        """What MLflow records as the trial's params: sampled values + the spec, flattened later."""
        sampled = {
            "schedule": self.schedule,
            "max_lr": self.max_lr,
            "method": self.method,
            "ratio": self.ratio,
            "config": self.prune_config,
            "epochs": self.epochs,
            "seed": self.seed,
            "rounds": self.rounds,
            "role": self.role,
        }
        return {"trial": {k: v for k, v in sampled.items() if v is not None}, "spec": self.spec}

    def tags(self) -> dict[str, str]:
        return {
            "schedule": self.schedule,
            "method": self.method,
            "ratio": "" if self.ratio is None else f"{self.ratio:g}",
            "config": self.prune_config or "",
            "seed": str(self.seed),
            "role": self.role,
            "round": str(self.first_round) if self.role == "oracle" else "",
            "prunetune.study": self.study.name,
        }


def group_key(method: str, target: Any, epochs: int, seed: int) -> str:
    """The unit the oracle picks a winner for: one (method, ratio or config, budget, seed)."""
    target = f"{float(target):g}" if isinstance(target, int | float) else str(target)
    return f"{method}|{target}|{epochs}|{seed}"


def train_config(section: dict[str, Any], *, seed: int, device: str) -> TrainConfig:
    return TrainConfig(
        batch_size=int(section.get("batch_size", 64)),
        momentum=float(section.get("momentum", 0.9)),
        nesterov=bool(section.get("nesterov", False)),
        weight_decay=float(section.get("weight_decay", 1e-4)),
        label_smoothing=float(section.get("label_smoothing", 0.0)),
        bn_l1=float(section.get("bn_l1", 0.0)),
        seed=seed,
        device=device,
    )


def recipe_key(spec: dict[str, Any], seed: int) -> str:
    """Identity of a dense model: the same key means the same pretrained weights."""
    data = spec["dataset"]
    recipe = {
        "model": spec["model"],
        "dataset": {k: data.get(k) for k in ("name", "val_fraction", "split_seed", "image_size")},
        "pretrain": spec["pretrain"],
        "seed": seed,
    }
    blob = json.dumps(recipe, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _picker(config: dict[str, Any], spec: dict[str, Any]):
    """A sampled value if the searcher set it, else the spec's single value."""
    singles = {
        "schedule": _single(spec["retrain"].get("schedules")),
        "method": _single(spec["pruning"].get("methods")),
        "epochs": _single(spec["retrain"].get("epochs")),
        "seed": _single(spec["search"].get("seeds")),
        "ratio": _single(spec["pruning"].get("ratio")),
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
