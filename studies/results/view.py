"""The study's saved view of MLflow's runs table: the one builder, used when a study describes
its run (`summary.study_description` writes it as an experiment tag) and by
bench/mlflow_ui_check.py, which opens what the store holds in a browser and checks it against
what this module builds (`record_view`).

A view is what MLflow 3.17's "Views > Save as new view" writes: one experiment tag
``mlflow.sharedViewState.<key>`` whose value is an envelope (name, createdAt, updatedAt) around
the table's state as JSON text (at most 20,000 characters). A bare runs page shows no param or
metric column and folds the trials under the study run; MLflow drops expanded runs from shared
views, so the view groups the trials by what distinguishes them instead.
"""

from __future__ import annotations

import json
import time
from typing import Any

from studies.session.links import VIEW_KEY, runs_page
from studies.session.records import load_record
from studies.spec import StudySpec, validate
from trainables.keys import Metric, Param

VIEW_TAG = "mlflow.sharedViewState"
VIEW_NAME = "prunetune: trials"
# The runs table's column id of run names (the grid's colId, not the run's tag key).
RUN_NAME_COLUMN = "attributes.`Run Name`"
RUN_NAME_WIDTH = 300  # px: MLflow's 190 cuts names like clr-lr0.0412-l1-0.5-e8-s0-3f9a2


def view_state(spec: StudySpec) -> dict[str, Any]:
    """The table's state: trials grouped by schedule and every other sampled axis with several
    values (the mean is over seeds and max LRs), columns schedule, max LR, target, final
    val/test, then method, budget, seed, sparsity (and the start where it varies)."""
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
    return {
        "searchFilter": "",
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "columnOrder": [RUN_NAME_COLUMN, *columns],
        "columnWidths": {RUN_NAME_COLUMN: RUN_NAME_WIDTH},
        "runsHiddenMode": "SHOW_ALL",
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": False,
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "param", "groupByData": k} for k in axes],
        },
        "groupsExpanded": {},  # a group is expanded unless it says false
        "globalLineChartConfig": {
            "xAxisKey": "step",
            "lineSmoothness": 0,
            "selectedXAxisMetricKey": "",
        },
    }


def saved_view_tag(spec: StudySpec) -> dict[str, str]:
    """The experiment tag that saves the view: {``mlflow.sharedViewState.<key>``: envelope}."""
    now = int(time.time() * 1000)
    envelope = {"name": VIEW_NAME, "createdAt": now, "updatedAt": now}
    value = json.dumps({**envelope, "state": json.dumps(view_state(spec))})
    return {f"{VIEW_TAG}.{VIEW_KEY}": value}


def record_view(workdir: str, name: str, server: str) -> dict[str, str]:
    """For a check of a finished study's store: the experiment tag (key, value) this module
    builds for the study's spec, and the runs page prunetune prints for `server` (an MLflow
    UI's base URL)."""
    record = load_record(workdir, name)
    [(tag, value)] = saved_view_tag(validate(record.spec, f"study {name!r}")).items()
    return {"tag": tag, "value": value, "page": runs_page(server, record.experiment_id)}


def _plain(value: object) -> object:
    dump = getattr(value, "model_dump", None)
    return dump() if dump is not None else value
