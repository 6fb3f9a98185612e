"""Every name prunetune writes into MLflow and reads back, in one place.

Trials write tags, params and metrics under these names; `studies.results` reads them back as
the columns of a runs frame (``tags.<name>``, ``params.<name>``, ``metrics.<name>``, the
`mlflow.search_runs` convention). A name changes here or nowhere.
"""

from __future__ import annotations

from enum import StrEnum


class Sampled(StrEnum):
    """What a search samples per trial (the Tune config keys beside the study's trial plan), in
    the order the define-by-run space asks for them; everything else comes from the plan."""

    SCHEDULE = "schedule"
    MAX_LR = "max_lr"
    METHOD = "method"
    RATIO = "ratio"
    CONFIG = "config"
    EPOCHS = "epochs"
    START = "start"
    SEED = "seed"


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
    RUN_ID = "mlflow_run_id"  # the trial's MLflow run: the searcher links its Optuna trial
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
    TUNE_TRIAL = "tune_trial"  # the Tune trial's name: finds the run again after a restart
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
    METHOD = "trial.method"
    RATIO = "trial.ratio"
    CONFIG = "trial.config"


class Result:
    """What a trial reports to Tune after every epoch: the names Tune's schedulers and Optuna's
    objectives use (flat, stable: a study file's `search.objective` names one of them)."""

    EPOCH = "epoch"
    ROUND = "round"
    TRAIN_LOSS = "train_loss"
    TRAIN_ACC = "train_acc"
    VAL_ACC = "val_acc"
    TEST_ACC = "test_acc"
    LR = "lr"
    MAX_LR = "max_lr"
    BEST_VAL_ACC = "best_val_acc"
    TEST_AT_BEST_VAL = "test_acc_at_best_val"
    SPARSITY = "sparsity"
    MACS = "macs"
    PARAMS = "params"
    DIVERGED = "diverged"
    RUN_ID = "mlflow_run_id"  # the trial's MLflow run: the searcher links its Optuna trial


class Metric:
    """MLflow metric names. The part before "/" is the section the MLflow chart view groups
    them under, sections in alphabetical order: accuracies (acc/) first, the dense model the
    trial started from, the final summary (one value per run), loss, LR, per-round values
    (step = round index)."""

    # per epoch, step = epoch (over all rounds)
    TRAIN_LOSS = "loss/train"
    TRAIN_ACC = "acc/train"
    VAL_ACC = "acc/val"
    TEST_ACC = "acc/test"
    BEST_VAL_ACC = "acc/best_val"  # per round: reset when a round starts
    TEST_AT_BEST_VAL = "acc/test_at_best_val"
    LR = "lr/epoch"  # the LR at the epoch's first step (its own section, after loss/)
    # per round, step = round
    ROUND_SPARSITY = "round/sparsity"
    ROUND_MACS = "round/macs"
    ROUND_PARAMS = "round/params"
    ROUND_VAL_ACC = "round/val_acc"
    ROUND_TEST_ACC = "round/test_acc"
    ROUND_MAX_LR = "round/max_lr"
    # once, at the end of the trial
    FINAL_VAL_ACC = "final/val_acc"
    FINAL_TEST_ACC = "final/test_acc"
    FINAL_BEST_VAL_ACC = "final/best_val_acc"
    FINAL_TEST_AT_BEST_VAL = "final/test_acc_at_best_val"
    SPARSITY = "final/sparsity"
    MACS = "final/macs"
    PARAMS = "final/params"
    MACS_RATIO = "final/macs_ratio"
    EPOCHS_REACHED = "final/epochs_reached"
    WALL_TIME = "final/wall_time_s"
    DENSE_VAL_ACC = "dense/val_acc"
    DENSE_TEST_ACC = "dense/test_acc"
    # on the study's parent run
    ORACLE_MAX_LR = "oracle/max_lr"  # one per group, step = round
    SUMMARY = "summary"  # summary/test_acc_mean.<arm>.<method>-<target>-e<budget> …


# Each epoch's result → what MLflow keeps of it per epoch (constants such as the round, the
# sparsity or 'diverged' are not series worth a chart: they are per-round or final metrics).
EPOCH_METRICS = {
    Result.TRAIN_LOSS: Metric.TRAIN_LOSS,
    Result.TRAIN_ACC: Metric.TRAIN_ACC,
    Result.VAL_ACC: Metric.VAL_ACC,
    Result.TEST_ACC: Metric.TEST_ACC,
    Result.LR: Metric.LR,
    Result.BEST_VAL_ACC: Metric.BEST_VAL_ACC,
    Result.TEST_AT_BEST_VAL: Metric.TEST_AT_BEST_VAL,
}


def tag(name: str) -> str:
    """The runs-frame column of a tag."""
    return f"tags.{name}"


def param(name: str) -> str:
    """The runs-frame column of a param."""
    return f"params.{name}"


def metric(name: str) -> str:
    """The runs-frame column of a metric."""
    return f"metrics.{name}"
