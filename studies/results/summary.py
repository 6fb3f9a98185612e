"""What a study's own MLflow run says: at the start its description, the spec (as the study
file that ran), the search space and a few params; at the end the summary of its trials."""

from __future__ import annotations

import json

from studies.results.runs import schedule_summary, tidy_trials, trials_frame
from studies.results.view import saved_view_tag
from studies.session.records import StudyRecord
from studies.spec import StudySpec
from studies.spec.derived import rounds, search_grid_size, search_trials
from studies.spec.dump import spec_to_toml
from trainables.keys import Metric
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
    return description, params, files, saved_view_tag(spec)


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
