"""What a study's own MLflow run says: at the start its description, the spec (as the study
file that ran), the search space and a few params; at the end the summary of its trials."""

from __future__ import annotations

import json
import time

from studies.links import VIEW_KEY
from studies.records import StudyRecord
from studies.results.runs import schedule_summary, tidy_trials, trials_frame
from studies.spec import StudySpec
from studies.spec.derived import rounds, search_grid_size, search_trials
from studies.spec.dump import spec_to_toml
from trainables.keys import Metric, Param
from trainables.runs import StudyRun


def study_description(
    spec: StudySpec, digest: str
) -> tuple[str, dict[str, str], dict[str, str], dict[str, str]]:
    """(description, params, files, experiment tags) for describe_study_run."""
    p, r = spec.pruning, spec.retrain
    params = {
        "spec_hash": digest,
        "kind": spec.kind,
        "model": spec.model.name,
        "dataset": spec.dataset.name,
        "methods": ", ".join(p.methods),
        "targets": ", ".join(p.configs) if p.configs else json.dumps(_plain(p.ratio)),
        "pruning": f"{p.schedule}, {rounds(spec)} round(s)",
        "schedules": ", ".join(r.schedules),
        "starts": ", ".join(r.start),
        "budgets": ", ".join(map(str, r.epochs)),
        "seeds": ", ".join(map(str, spec.search.seeds)),
        "sampler": spec.search.sampler,
        "trials": str(search_trials(spec)),
    }
    text = spec.description or f"prunetune study {spec.name}"
    description = f"{text}\n\nspec hash {digest}; the study file is the artifact spec.toml."
    files = {"spec.toml": spec_to_toml(spec), "search_space.json": _space(spec)}
    view = {f"{VIEW_TAG}.{VIEW_KEY}": saved_view(spec)}
    return description, params, files, view


def _space(spec: StudySpec) -> str:
    """What the search samples from, per dimension (lists, or a range and its scale)."""
    r = spec.retrain
    space = {
        "schedule": r.schedules,
        "max_lr": _plain(r.max_lr),
        "max_lr_for": "schedules with a free peak (not ft, lrw, scyc)",
        "method": spec.pruning.methods,
        "ratio_or_config": spec.pruning.configs or _plain(spec.pruning.ratio),
        "epochs": r.epochs,
        "start": r.start,
        "seed": spec.search.seeds,
        "sampler": spec.search.sampler,
        "trials": search_trials(spec),
    }
    if spec.search.sampler == "grid":
        space["grid_points"] = search_grid_size(spec)
    return json.dumps(space, indent=2)


def _plain(value: object) -> object:
    dump = getattr(value, "model_dump", None)
    return dump() if dump is not None else value


# A saved view of the runs table (what MLflow 3.17's "Views > Save as new view" writes as an
# experiment tag): checked in headless Chromium (bench/mlflow_ui_check.py), a bare runs page
# shows no param or metric column and folds the trials under the study run. MLflow drops
# expanded runs from shared views, so the view groups the trials by what distinguishes them.
VIEW_TAG = "mlflow.sharedViewState"
RUN_NAME_WIDTH = 300  # px: MLflow's 190 cuts names like clr-lr0.0412-l1-0.5-e8-s0-3f9a2


def saved_view(spec: StudySpec) -> str:
    """The view: trials grouped by schedule and every other sampled axis with several values
    (the mean is over seeds and max LRs), columns schedule, max LR, target, final val/test."""
    p, m = "params.`{}`".format, "metrics.`{}`".format
    target = Param.CONFIG if spec.pruning.configs else Param.RATIO
    columns = [p(Param.SCHEDULE), p(Param.MAX_LR), p(target), m(Metric.FINAL_VAL_ACC)]
    columns += [m(Metric.FINAL_TEST_ACC), p(Param.METHOD), p(Param.EPOCHS), p(Param.SEED)]
    columns += [m(Metric.SPARSITY)]
    varying = {
        Param.METHOD: spec.pruning.methods,
        target: spec.pruning.configs or _plain(spec.pruning.ratio),
        Param.EPOCHS: spec.retrain.epochs,
        Param.START: spec.retrain.start,
    }
    axes = [Param.SCHEDULE, *(k for k, v in varying.items() if isinstance(v, list) and len(v) > 1)]
    if len(spec.retrain.start) > 1:
        columns.append(p(Param.START))
    state = {
        "searchFilter": "",
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "columnOrder": ["tags.`mlflow.runName`", *columns],
        "columnWidths": {"tags.`mlflow.runName`": RUN_NAME_WIDTH},
        "runsHiddenMode": "SHOW_ALL",
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "param", "groupByData": k} for k in axes],
        },
        "groupsExpanded": {},
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0},
    }
    now = int(time.time() * 1000)
    envelope = {"name": "prunetune: trials", "createdAt": now, "updatedAt": now}
    return json.dumps({**envelope, "state": json.dumps(state)})


def log_study_summary(record: StudyRecord) -> None:
    """Mean test (and validation) accuracy over seeds per schedule, method, target and budget,
    as metrics of the study's run (summary/<schedule>/<method>-<target>-e<budget>/…), so the
    experiment's runs table compares studies at a glance."""
    summary = schedule_summary(tidy_trials(trials_frame(record)))
    run = StudyRun.attach(record.tracking_uri, record.parent_run_id)
    for row in summary.itertuples():
        # one chart section (summary/): the cell goes after the slash, not into more sections
        cell = f"{row.schedule}.{row.method}-{row.target}-e{row.epochs:g}"
        run.log_metric(f"{Metric.SUMMARY}/test_acc_mean.{cell}", round(row.test_acc_mean, 4))
        run.log_metric(f"{Metric.SUMMARY}/val_acc_mean.{cell}", round(row.val_acc_mean, 4))
