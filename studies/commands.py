"""``prunetune run | resume | ls | show | presets`` — the study-service commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pandas as pd

from studies.errors import parse_assignments

EXIT_INTERRUPTED = 130


def add_commands(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run a study from a TOML file or a preset")
    run.add_argument("source", metavar="FILE|PRESET")
    _add_location_args(run)
    run.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="override fields")
    run.add_argument("--dry-run", action="store_true", help="validate and preflight only")
    run.set_defaults(handler=cmd_run)

    oracle = sub.add_parser("oracle", help="run the max-LR grid oracle of a study file or preset")
    oracle.add_argument("source", metavar="FILE|PRESET")
    _add_location_args(oracle)
    oracle.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", help="override fields"
    )
    oracle.add_argument("--dry-run", action="store_true", help="validate and preflight only")
    oracle.set_defaults(handler=cmd_oracle)

    resume = sub.add_parser("resume", help="continue an interrupted study")
    resume.add_argument("name")
    resume.add_argument("--workdir", default=None)
    resume.set_defaults(handler=cmd_resume)

    ls = sub.add_parser("ls", help="list the studies in the workdir")
    ls.add_argument("--workdir", default=None)
    ls.set_defaults(handler=cmd_ls)

    show = sub.add_parser("show", help="best trial per schedule of a study")
    show.add_argument("name")
    show.add_argument("--workdir", default=None)
    show.set_defaults(handler=cmd_show)

    presets = sub.add_parser("presets", help="list the study presets shipped with prunetune")
    presets.set_defaults(handler=cmd_presets)

    from studies import compare_cmd

    compare_cmd.add_commands(sub)


def _add_location_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI")
    p.add_argument("--storage", default=None, help="Optuna storage URL")
    p.add_argument("--workdir", default=None, help="default ./prunetune-runs")


def load_resolved_spec(args: argparse.Namespace, *, oracle: bool = False) -> Any:
    from studies.spec import load_spec

    overrides = parse_assignments(args.set)
    spec = load_spec(args.source, overrides)
    if oracle and spec.kind != "oracle":
        # The oracle of a search study is a study of its own, beside it: NAME-oracle.
        name = overrides.get("name", f"{spec.name}-oracle")
        spec = load_spec(args.source, {**overrides, "kind": "oracle", "name": name})
    return spec.resolved(
        workdir=args.workdir,
        tracking_uri=args.tracking_uri,
        storage=args.storage,
        address=args.address,
    )


def cmd_oracle(args: argparse.Namespace) -> int:
    return cmd_run(args, oracle=True)


def cmd_run(args: argparse.Namespace, *, oracle: bool = False) -> int:
    from studies.launch import StudyInterrupted, run_study

    spec = load_resolved_spec(args, oracle=oracle)
    try:
        frame = run_study(spec, dry_run=args.dry_run)
    except StudyInterrupted as stop:
        print(f"prunetune: {stop}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.dry_run:
        print(f"study {spec.name!r}: spec valid, preflight passed (nothing started)")
        return 0
    _print_summary(spec.name, spec.storage.workdir, frame)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from studies.launch import StudyInterrupted, default_workdir, resume_study

    workdir = args.workdir or default_workdir()
    try:
        frame = resume_study(args.name, workdir)
    except StudyInterrupted as stop:
        print(f"prunetune: {stop}", file=sys.stderr)
        return EXIT_INTERRUPTED
    _print_summary(args.name, workdir, frame)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from studies.launch import default_workdir
    from studies.records import list_records

    workdir = args.workdir or default_workdir()
    rows = list_records(workdir)
    if not rows:
        print(f"no studies in {workdir}")
        return 0
    print(f"{'name':28} {'status':12} {'kind':8} {'model':12} {'dataset':10} spec")
    for r in rows:
        print(
            f"{r.name:28} {r.status:12} {r.spec.get('kind', 'search'):8} "
            f"{r.spec['model']['name']:12} {r.spec['dataset']['name']:10} {r.spec_hash}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from studies.launch import default_workdir, trials_frame
    from studies.records import load_record

    workdir = args.workdir or default_workdir()
    record = load_record(workdir, args.name)
    _print_summary(record.name, workdir, trials_frame(record), status=record.status)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from studies.spec import list_presets

    for name, description in list_presets():
        print(f"{name:24} {description}")
    return 0


# --- output ---------------------------------------------------------------------------------


def best_per_schedule(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (method, ratio/config, budget, schedule): the trial with the best final *validation*
    accuracy, with its test accuracy. Schedules are compared only at equal ratio and budget."""
    needed = {"tags.schedule", "metrics.final_val_acc"}
    if frame.empty or not needed <= set(frame.columns):
        return pd.DataFrame()
    done = frame.dropna(subset=["metrics.final_val_acc"]).copy()
    if done.empty:
        return pd.DataFrame()
    if "tags.baseline" in done.columns:  # Scratch-E/B train with "step": name them as baselines
        baseline = done["tags.baseline"].fillna("")
        done["tags.schedule"] = baseline.where(baseline != "", done["tags.schedule"])
    columns = {
        "tags.method": "method",
        "tags.ratio": "ratio",
        "tags.config": "config",
        "params.trial.epochs": "epochs",
        "tags.schedule": "schedule",
        "params.trial.max_lr": "max_lr",
        "metrics.final_val_acc": "val_acc",
        "metrics.final_test_acc": "test_acc",
        "metrics.sparsity": "sparsity",
        "metrics.macs_ratio": "macs_ratio",
        "tags.mlflow.runName": "trial",
    }
    present = {k: v for k, v in columns.items() if k in done.columns}
    table = done[list(present)].rename(columns=present)
    keys = [k for k in ("method", "ratio", "config", "epochs", "schedule") if k in table.columns]
    table[keys] = table[keys].fillna("")
    best = table.loc[table.groupby(keys, sort=True)["val_acc"].idxmax()]
    if "max_lr" in best.columns:
        best["max_lr"] = pd.to_numeric(best["max_lr"], errors="coerce")
    group = [k for k in keys if k != "schedule"]
    best = best.sort_values([*group, "val_acc"], ascending=[True] * len(group) + [False])
    unused = [c for c in ("config", "ratio") if c in best.columns and (best[c] == "").all()]
    best = best.drop(columns=unused)
    return best.reset_index(drop=True)


def _print_summary(name: str, workdir: str, frame: pd.DataFrame, status: str = "") -> None:
    from studies.records import load_record

    record = load_record(workdir, name)
    n = len(frame)
    print(f"\nstudy {name!r}: {n} trial runs{f' ({status})' if status else ''}")
    table = best_per_schedule(frame)
    if table.empty:
        print("no finished trials yet")
    else:
        print(
            "best trial per schedule at each ratio and budget (selected on validation accuracy):"
        )
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))
    _print_mlflow_hint(record.tracking_uri, record.experiment_id)


def _print_mlflow_hint(tracking_uri: str, experiment_id: str) -> None:
    if tracking_uri.startswith(("http://", "https://")):
        print(f"\nbrowse: {tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs")
        return
    print("\nbrowse the runs with:")
    print(f"  mlflow ui --backend-store-uri {tracking_uri} --host 127.0.0.1 --port 5000")
    print(f"  then open http://127.0.0.1:5000/#/experiments/{experiment_id}/runs")
