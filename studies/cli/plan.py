"""``prunetune plan FILE|PRESET [--set …] [--oracle] [--format table|json]``: what every arm of a
study will run, round by round, and what the whole study costs — before anything runs. Needs no
data, no Ray and no stores (studies.spec.arms); `run --dry-run` prints the same table."""

from __future__ import annotations

import argparse
import json
from typing import Any

from studies.cli.args import add_set_arg, parse_assignments
from studies.errors import UsageError


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="show what each arm of a study runs (LRs per round, sparsity, trials), start nothing",
        description="Per arm (schedule, method, target, budget, start) and round: epochs, the "
        "first, highest and last LR, the max LR or its search range, the sparsity reached; the "
        "trial count and trial-epochs of the study. Starts nothing and reads no data.",
    )
    p.add_argument("source", metavar="FILE|PRESET", help="a study file (.toml) or a preset name")
    add_set_arg(p)
    p.add_argument("--oracle", action="store_true", help="plan the study's oracle (NAME-oracle)")
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    p.set_defaults(handler=cmd_plan)


# A plan reads no data, so a data set that lives on disk needs no folder for it (the study file
# of a preset leaves dataset.root to the user).
NO_DATA_ROOT = "(not read by plan)"


def cmd_plan(args: argparse.Namespace) -> int:
    from studies.spec.arms import plan_study  # torch: loaded for this command only

    overrides = parse_assignments(args.set)
    spec = load_for_plan(args.source, overrides)
    if args.oracle and spec.kind != "oracle":
        name = overrides.get("name", f"{spec.name}-oracle")
        spec = load_for_plan(args.source, {**overrides, "kind": "oracle", "name": name})
    try:
        plan = plan_study(spec)
    except ValueError as err:  # a combination only the surgery can refuse (e.g. a config)
        raise UsageError(f"plan: {err}") from None
    if args.format == "json":
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(format_plan(plan.to_dict()))
    return 0


def load_for_plan(source: str, overrides: dict[str, Any]):
    """The spec of a study file or preset; a data set on disk needs no folder for a plan."""
    # The spec pulls in pydantic and the registries: not for `prunetune --help`.
    from studies.errors import SpecError
    from studies.spec import load_spec

    try:
        return load_spec(source, overrides)
    except SpecError as err:
        if "dataset.root" in overrides or "dataset.root:" not in str(err):
            raise
        return load_spec(source, {**overrides, "dataset.root": NO_DATA_ROOT})


def format_plan(plan: dict[str, Any]) -> str:
    """The plan as text: a study line, then per arm a header and one row per round."""
    spe = f"{plan['steps_per_epoch']} steps per epoch" + (
        "" if plan["steps_per_epoch_known"] else " (assumed: the data set's size is unknown)"
    )
    approx = "" if plan["trial_epochs_exact"] else "≈ "
    lines = [
        f"study {plan['study']} ({plan['kind']}): {plan['trials']} trials, {approx}"
        f"{plan['trial_epochs']} trial-epochs, plus {plan['dense_epochs']} dense epochs "
        f"(once per seed, cached); {spe}"
    ]
    for arm in plan["arms"]:
        lines += ["", _arm_header(arm)]
        lines.append(
            f"  {'round':>5} {'epochs':>6} {'lr_first':>17} {'lr_peak':>17} "
            f"{'lr_last':>17} {'sparsity':>9}"
        )
        for r in arm["rounds"]:
            lines.append(
                f"  {r['round']:>5} {r['epochs']:>6} {_lr(r['lr_first']):>17} "
                f"{_lr(r['lr_peak']):>17} {_lr(r['lr_last']):>17} {r['sparsity']:>9.4f}"
            )
    return "\n".join(lines)


def _arm_header(arm: dict[str, Any]) -> str:
    max_lr = arm["max_lr"]
    if isinstance(max_lr, dict):
        peak = f"max LR searched in [{max_lr['low']:g}, {max_lr['high']:g}] (LRs at both ends)"
    elif max_lr is None:
        peaks = sorted({r["max_lr"] for r in arm["rounds"]})
        fixed = (
            f"{peaks[0]:.4g}" if len(peaks) == 1 else f"{peaks[0]:.4g}–{peaks[-1]:.4g} by round"
        )
        peak = f"max LR {fixed} (set by the schedule, not searched)"
    else:
        peak = f"max LR {max_lr:g}"
    estimated = "" if arm["sparsity_exact"] else ", sparsity estimated"
    return (
        f"{arm['schedule']} · {arm['method']} {arm['target']} · {arm['budget']} epochs · "
        f"start {arm['start']} · {peak} · {arm['trials']} trials, {arm['trial_epochs']} "
        f"trial-epochs{estimated}"
    )


def _lr(value: float | list[float]) -> str:
    if isinstance(value, list):
        return "–".join(f"{v:.3g}" for v in value)
    return f"{value:.4g}"
