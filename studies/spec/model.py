"""The study file's schema: one pydantic model per section, each forbidding unknown fields.

Only field types here (studies.spec.fields); checks across fields live in studies.spec.checks,
facts computed from a valid spec in studies.spec.derived, loading and error formatting in
studies.spec.loading.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from studies.spec.fields import (
    DEFAULT_WORKDIR,
    SECTION_CONFIG,
    Baselines,
    Budgets,
    Configs,
    DatasetName,
    Fraction,
    MaxLrs,
    Methods,
    Milestones,
    ModelName,
    Momentum,
    NonNegFloat,
    NonNegInt,
    Objective,
    PosFloat,
    PosInt,
    Ratios,
    RayAddress,
    ScheduleName,
    Schedules,
    Seeds,
    Starts,
    StorageRoot,
    StorageUrl,
    StudyName,
    TrackingUri,
    Widths,
    Workdir,
)


class Section(BaseModel):
    model_config = SECTION_CONFIG


class ModelSection(Section):
    name: ModelName
    widths: Widths = []


class DatasetSection(Section):
    name: DatasetName
    root: str = ""
    val_fraction: Fraction = 0.1
    split_seed: NonNegInt = 0
    download: bool = False
    image_size: NonNegInt = 0


class Recipe(Section):
    """SGD settings shared by pretraining and retraining (docs/science.md §1 defaults)."""

    batch_size: PosInt = 64
    momentum: Momentum = 0.9
    weight_decay: NonNegFloat = 1e-4
    nesterov: bool = False
    label_smoothing: Fraction = 0.0


class PretrainSection(Recipe):
    epochs: PosInt = 160
    schedule: ScheduleName = "step"
    lr: PosFloat = 0.1
    milestones: Milestones = [0.5, 0.75]
    bn_l1: NonNegFloat = 0.0
    schedule_params: dict[str, Any] = {}  # e.g. SILO's round 0: clr with shape = "silo"


class PruningSection(Section):
    methods: Methods = ["l1"]
    ratio: Ratios | None = None
    configs: Configs = []
    schedule: Literal["one-shot", "iterative"] = "one-shot"
    rounds: PosInt = 1
    include_fc: bool = False


class RetrainSection(Recipe):
    schedules: Schedules = ["ft", "lrw", "slr", "clr"]
    epochs: Budgets = [40]
    max_lr: MaxLrs | None = None
    schedule_params: dict[str, dict[str, Any]] = {}
    # Where retraining starts: the pruned weights, the dense run's weights at an epoch
    # (rewind, rewind:K, init = rewind:0) or fresh random ones (reinit); several → searched.
    start: Starts = ["pruned"]
    reinit_scheme: Literal["zoo", "xavier"] = "zoo"  # xavier = SILO's weight_init


class SearchSection(Section):
    # cells: every schedule × method × target × budget × start × seed runs; TPE searches only
    # the max LR inside a cell (trials_per_cell for schedules with a searched max LR)
    sampler: Literal["tpe", "random", "grid", "cells"] = "tpe"
    trials_per_cell: PosInt = 2
    trials: NonNegInt = 20
    concurrency: PosInt = 2
    seeds: Seeds = [0]
    objective: Objective = "val_acc"
    scheduler: Literal["fifo", "asha"] = "fifo"
    grace_period: PosInt = 1
    max_failures: NonNegInt = 1
    baselines: Baselines = []


class OracleSection(Section):
    """The S-Cyc oracle's grid over max LR (docs/science.md §4): `grid` if given, else `points`
    log-spaced values from `low` to `high`; `schedule` is the cycle whose peak it tunes."""

    schedule: ScheduleName = "clr"
    grid: list[PosFloat] = []
    points: PosInt = 8
    low: PosFloat = 0.005
    high: PosFloat = 0.5


DEFAULT_EQUIVALENCE_MARGIN = 0.5  # points of accuracy (docs/science.md §9)


class CompareSection(Section):
    """How `compare` judges results (docs/science.md §9). It changes no trial, so it is not
    part of the spec hash, and records written before it existed read back with the default."""

    equivalence_margin: PosFloat = DEFAULT_EQUIVALENCE_MARGIN  # TOST's ±m, in points


class ResourcesSection(Section):
    cpu: PosFloat = 1.0
    gpu: NonNegFloat = 0.0


class TrackingSection(Section):
    uri: TrackingUri = ""
    experiment: str = ""


class StorageSection(Section):
    workdir: Workdir = DEFAULT_WORKDIR
    optuna: StorageUrl = ""
    ray: StorageRoot = ""  # Tune's trial checkpoints: a directory, or s3:// / gs:// (pyarrow)
    # Files trials share across nodes (dense cache, oracle checkpoints): "" = the workdir, which
    # every node must then see; else a directory every node sees, or s3:// / gs:// (docs/cluster.md).
    shared: StorageRoot = ""


class RaySection(Section):
    address: RayAddress = ""


class StudySpec(Section):
    """A study file with every field type-checked; `studies.spec.validate` also runs the
    cross-field checks and fills in derived params. The README's study-file reference says
    what each field means."""

    name: StudyName
    kind: Literal["search", "oracle"] = "search"
    description: str = ""
    model: ModelSection
    dataset: DatasetSection
    pretrain: PretrainSection = PretrainSection()
    pruning: PruningSection = PruningSection()
    retrain: RetrainSection = RetrainSection()
    search: SearchSection = SearchSection()
    oracle: OracleSection = OracleSection()
    compare: CompareSection = CompareSection()
    resources: ResourcesSection = ResourcesSection()
    tracking: TrackingSection = TrackingSection()
    storage: StorageSection = StorageSection()
    ray: RaySection = RaySection()
