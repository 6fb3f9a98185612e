"""``prunetune run | oracle | resume | ls | show | presets`` — the study-service commands.

Handlers import the launcher (Ray, Optuna, MLflow: seconds to import) when they run, so that
`prunetune --help`, `presets` and every usage error stay fast.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pandas as pd

from studies import storage
from studies.cli.args import add_set_arg, add_workdir_arg, parse_assignments
from studies.errors import UsageError
from studies.session.links import DASHBOARD_PORT, browse_lines, dashboard_target
from studies.session.records import list_records, load_record
from studies.spec import StudySpec, list_presets, load_spec, resolve

EXIT_INTERRUPTED = 130


def add_commands(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run a study from a TOML file or a preset")
    _add_study_args(run)
    run.set_defaults(handler=cmd_run)

    oracle = sub.add_parser(
        "oracle", help="run the max-LR grid oracle of a study file or preset (as NAME-oracle)"
    )
    _add_study_args(oracle)
    oracle.set_defaults(handler=cmd_oracle)

    resume = sub.add_parser("resume", help="continue an interrupted study")
    resume.add_argument("name", help="the study's name (see `prunetune ls`)")
    add_workdir_arg(resume)
    resume.set_defaults(handler=cmd_resume)

    ls = sub.add_parser("ls", help="list the studies in the workdir")
    add_workdir_arg(ls)
    ls.set_defaults(handler=cmd_ls)

    show = sub.add_parser(
        "show", help="a study's schedules: mean ± std over seeds of the validation-selected trials"
    )
    show.add_argument("name", help="the study's name (see `prunetune ls`)")
    add_workdir_arg(show)
    show.set_defaults(handler=cmd_show)

    dash = sub.add_parser(
        "dashboard", help="serve optuna-dashboard on a study's Optuna storage, on 127.0.0.1"
    )
    dash.add_argument("name", help="the study's name (see `prunetune ls`)")
    add_workdir_arg(dash)
    dash.add_argument("--port", type=int, default=DASHBOARD_PORT, help="port on 127.0.0.1")
    dash.set_defaults(handler=cmd_dashboard)

    presets = sub.add_parser("presets", help="list the study presets shipped with prunetune")
    presets.set_defaults(handler=cmd_presets)


def _add_study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="FILE|PRESET", help="a study file (.toml) or a preset name")
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (host:port, ray://host:port or auto; default: $RAY_ADDRESS "
        "inside a Ray job, else a local Ray on 127.0.0.1)",
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help=f"MLflow tracking URI ({storage.forms(storage.Use.TRACKING)})",
    )
    p.add_argument(
        "--storage", default=None, help=f"Optuna storage ({storage.forms(storage.Use.OPTUNA)})"
    )
    add_workdir_arg(p)
    add_set_arg(p)
    p.add_argument("--dry-run", action="store_true", help="validate and preflight only")


def load_resolved_spec(args: argparse.Namespace, *, oracle: bool = False) -> StudySpec:
    overrides = parse_assignments(args.set)
    spec = load_spec(args.source, overrides)
    if oracle and spec.kind != "oracle":
        # The oracle of a search study is a study of its own, beside it: NAME-oracle.
        name = overrides.get("name", f"{spec.name}-oracle")
        spec = load_spec(args.source, {**overrides, "kind": "oracle", "name": name})
    return resolve(
        spec,
        workdir=args.workdir,
        tracking_uri=args.tracking_uri,
        storage_url=args.storage,
        address=args.address,
    )


def cmd_oracle(args: argparse.Namespace) -> int:
    return cmd_run(args, oracle=True)


def cmd_run(args: argparse.Namespace, *, oracle: bool = False) -> int:
    from studies.session.launch import (  # Ray/MLflow: see module docstring
        StudyInterrupted,
        run_study,
    )

    spec = load_resolved_spec(args, oracle=oracle)
    try:
        frame = run_study(spec, dry_run=args.dry_run)
    except StudyInterrupted as stop:
        print(f"prunetune: {stop}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.dry_run:
        # torch-pruning surgery for the plan: only when a dry run prints it
        from studies.cli.plan import format_plan
        from studies.spec.arms import plan_study

        print(format_plan(plan_study(spec).to_dict()))
        print(f"study {spec.name!r}: spec valid, preflight passed (nothing started)")
        return 0
    _print_summary(spec.name, spec.storage.workdir, frame)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from studies.session.launch import StudyInterrupted, resume_study  # Ray/MLflow: see docstring

    workdir = args.workdir or storage.default_workdir()
    try:
        frame = resume_study(args.name, workdir)
    except StudyInterrupted as stop:
        print(f"prunetune: {stop}", file=sys.stderr)
        return EXIT_INTERRUPTED
    _print_summary(args.name, workdir, frame)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    workdir = args.workdir or storage.default_workdir()
    rows = list_records(workdir)
    if not rows:
        print(f"no studies in {workdir}")
        return 0
    print(f"{'name':28} {'status':12} {'kind':8} {'model':12} {'dataset':10} spec")
    for r in rows:
        print(
            f"{r.name:28} {r.status_text:12} {r.spec['kind']:8} "
            f"{r.spec['model']['name']:12} {r.spec['dataset']['name']:10} {r.spec_hash}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from studies.results.runs import trials_frame  # MLflow: see module docstring

    workdir = args.workdir or storage.default_workdir()
    record = load_record(workdir, args.name)
    _print_summary(record.name, workdir, trials_frame(record), status=record.status_text)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """optuna-dashboard in the foreground until Ctrl-C; bound to loopback like everything else."""
    workdir = args.workdir or storage.default_workdir()
    record = load_record(workdir, args.name)
    if not 0 < args.port < 65536:
        raise UsageError(f"dashboard: --port {args.port} is out of range; valid: 1-65535")
    exe = Path(sys.executable).with_name("optuna-dashboard")
    command = [
        str(exe) if exe.exists() else "optuna-dashboard",
        dashboard_target(record.optuna_storage),
    ]
    command += ["--host", "127.0.0.1", "--port", str(args.port)]
    if not exe.exists() and shutil.which("optuna-dashboard") is None:
        raise UsageError(
            "dashboard: optuna-dashboard is not installed; pip install optuna-dashboard"
        )
    print(f"optuna-dashboard for study {record.name!r}: http://127.0.0.1:{args.port}/", flush=True)
    # Replace this process: a signal to `prunetune dashboard` then reaches the server itself
    # (a child would outlive a terminated parent).
    os.execvp(command[0], command)
    return 0  # not reached


def cmd_presets(args: argparse.Namespace) -> int:
    for name, description in list_presets():
        print(f"{name:24} {description}")
    return 0


def _print_summary(name: str, workdir: str, frame: pd.DataFrame, status: str = "") -> None:
    # MLflow and scipy load when a summary is printed (see module docstring)
    from studies.results.markdown import summary_text
    from studies.results.runs import missing_cells, schedule_summary, tidy_trials

    record = load_record(workdir, name)
    print(f"\nstudy {name!r}: {len(frame)} trial runs{f' ({status})' if status else ''}")
    tidy = tidy_trials(frame)
    # A ratio range samples a new target per trial: there is no grid of cells to miss; an
    # oracle study's cells are its rounds' grids, reported by `compare --oracle`.
    summary = schedule_summary(tidy)
    if record.spec.get("kind") == "oracle":
        why = "an oracle study: `compare STUDY --oracle NAME` shows its rounds"
        print(summary_text(summary, None, why), end="")
    elif isinstance(record.spec.get("pruning", {}).get("ratio"), dict):
        print(summary_text(summary, None), end="")
    else:
        print(summary_text(summary, missing_cells(tidy)), end="")
    print()
    print("\n".join(browse_lines(record)))
