"""Every name prunetune writes into MLflow and reads back, in one place.

Trials write tags, params and metrics under these names; `studies.results` reads them back as
the columns of a runs frame (``tags.<name>``, ``params.<name>``, ``metrics.<name>``, the
`mlflow.search_runs` convention). A name changes here or nowhere.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """MLflow's run statuses; a study record's status uses the same words."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"  # interrupted (SIGINT, a stopped trial): resumable


END_STATUSES = (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class Outcome(StrEnum):
    """How a trial ended, as the tag ``status`` says (a run can be FINISHED and diverged)."""

    RUNNING = "running"
    COMPLETED = "completed"
    DIVERGED = "diverged"
    STOPPED = "stopped"  # by the scheduler (ASHA) or the end of the study


class Role(StrEnum):
    """What a run is for, the tag ``role``."""

    SEARCH = "search"
    ORACLE = "oracle"
    BASELINE = "baseline"
    PRETRAIN = "pretrain"


class Tag:
    """Tag names."""

    PARENT = "mlflow.parentRunId"
    RUN_NAME = "mlflow.runName"
    STUDY = "prunetune.study"
    SPEC_HASH = "prunetune.spec_hash"
    VERSION = "prunetune.version"
    KIND = "prunetune.kind"  # "study" on a study's parent run
    ROLE = "role"
    SCHEDULE = "schedule"
    METHOD = "method"
    RATIO = "ratio"
    CONFIG = "config"
    SEED = "seed"
    START = "start"  # where retraining starts: pruned, init, reinit, rewind[:K]
    ROUND = "round"  # the oracle's round of a greedy oracle trial
    STATUS = "status"  # an Outcome
    BASELINE = "baseline"
    NODE = "node"
    EPOCHS_REACHED = "epochs_reached"
    ORACLE_WINNER = "oracle_winner"
    FINAL_CHECKPOINT = "final_checkpoint"


class Param:
    """Param names (the sampled values are logged under ``trial.``)."""

    SCHEDULE = "trial.schedule"
    MAX_LR = "trial.max_lr"
    EPOCHS = "trial.epochs"
    ROUNDS = "trial.rounds"
    SEED = "trial.seed"
    START = "trial.start"


class Metric:
    """Metric names: per epoch, per round (step = round index) and summary."""

    EPOCH = "epoch"
    LR = "lr"
    VAL_ACC = "val_acc"
    TEST_ACC = "test_acc"
    BEST_VAL_ACC = "best_val_acc"
    TEST_AT_BEST_VAL = "test_acc_at_best_val"
    FINAL_VAL_ACC = "final_val_acc"
    FINAL_TEST_ACC = "final_test_acc"
    SPARSITY = "sparsity"
    MACS = "macs"
    PARAMS = "params"
    MACS_RATIO = "macs_ratio"
    EPOCHS_REACHED = "epochs_reached"
    WALL_TIME = "wall_time_s"
    DENSE_VAL_ACC = "dense_val_acc"
    DENSE_TEST_ACC = "dense_test_acc"
    ROUND_SPARSITY = "round_sparsity"
    ROUND_MACS = "round_macs"
    ROUND_PARAMS = "round_params"
    ROUND_VAL_ACC = "round_val_acc"
    ROUND_TEST_ACC = "round_test_acc"
    ROUND_MAX_LR = "round_max_lr"
    ORACLE_MAX_LR = "oracle_max_lr"  # on the study run, one per group, step = round


def tag(name: str) -> str:
    """The runs-frame column of a tag."""
    return f"tags.{name}"


def param(name: str) -> str:
    """The runs-frame column of a param."""
    return f"params.{name}"


def metric(name: str) -> str:
    """The runs-frame column of a metric."""
    return f"metrics.{name}"
