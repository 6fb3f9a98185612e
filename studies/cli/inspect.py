"""``prunetune schedule`` and ``prunetune prune-report``: check a schedule or a pruning config
before spending GPU hours on it. Both only compute; nothing is trained or started."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from pruning.schedules import SCHEDULES, Schedule, build_schedule, scyc_max_lr
from studies.cli.args import add_set_arg, parse_assignments
from studies.errors import UsageError, user_input


def add_commands(sub: argparse._SubParsersAction) -> None:
    sched = sub.add_parser(
        "schedule",
        help="print a learning-rate schedule as CSV",
        description="Print a schedule as CSV: epoch,lr (or step,lr with --per-step); for scyc "
        "with --rounds and no --round, the max LR per round (round,max_lr); with --round K, "
        "round K's own schedule (step 0 = the round's first optimizer step).",
    )
    sched.add_argument("name", help=f"schedule name ({', '.join(SCHEDULES.names())})")
    sched.add_argument("--epochs", type=int, help="epochs (of one round for scyc)")
    sched.add_argument("--steps-per-epoch", type=int, default=1, help="iterations per epoch")
    sched.add_argument("--per-step", action="store_true", help="print step,lr for every iteration")
    sched.add_argument("--rounds", type=int, help="scyc: rounds of iterative pruning")
    sched.add_argument(
        "--round", type=int, help="scyc: print this round's schedule (1 = first pruned round)"
    )
    sched.add_argument("--round-ratio", type=float, help="scyc: fraction pruned per round")
    add_set_arg(sched, "schedule params (e.g. shape=silo max_lr=0.05)")
    sched.add_argument("--plot", metavar="FILE.png", help="also plot the per-step LR to a PNG")
    sched.set_defaults(handler=run_schedule)

    rep = sub.add_parser("prune-report", help="MACs/params before and after pruning a model")
    rep.add_argument("model", help="model name, e.g. resnet56")
    rep.add_argument("--config", help="named paper config: B (with the model) or resnet56-B")
    rep.add_argument("--method", help="pruning method (default l1 with --config)")
    rep.add_argument("--ratio", type=float, help="fraction to prune, in [0, 1)")
    rep.add_argument("--dataset", default="cifar10", help="data set whose shape to use")
    rep.add_argument(
        "--format", choices=["json", "table"], default="table", help="output format (table)"
    )
    rep.add_argument("--seed", type=int, default=0, help="seed of random selections (0)")
    rep.set_defaults(handler=run_prune_report)


# --- schedule -------------------------------------------------------------------------------


def run_schedule(args: argparse.Namespace) -> int:
    params = parse_assignments(args.set)
    with user_input("schedule"):
        SCHEDULES.get(args.name)
    if args.round is not None:
        params = {**params, **_scyc_round(args)}
    elif args.rounds is not None or args.round_ratio is not None:
        return _print_scyc_rounds(args, params)
    if args.epochs is None:
        raise UsageError(
            "schedule: --epochs is required (the retraining budget, a positive integer)"
        )
    if args.epochs <= 0 or args.steps_per_epoch <= 0:
        raise UsageError("schedule: --epochs and --steps-per-epoch must be positive integers")
    with user_input("schedule --set"):
        schedule = build_schedule(
            args.name, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, **params
        )
    out = sys.stdout
    if args.per_step:
        out.write("step,lr\n")
        for step in range(schedule.total_steps):
            out.write(f"{step},{schedule.lr(step):.10g}\n")
    else:
        out.write("epoch,lr\n")
        for epoch in range(schedule.epochs):
            out.write(f"{epoch},{schedule.lr_at_epoch(epoch):.10g}\n")
    if args.plot:
        _plot_schedule(schedule, args.plot)
    return 0


def _scyc_round(args: argparse.Namespace) -> dict[str, Any]:
    """The params that place scyc in round K of R (validated like every schedule param)."""
    if not SCHEDULES.get(args.name).per_round_peak:
        raise UsageError(
            f"schedule {args.name}: --round applies only to a schedule with a per-round peak "
            f"({', '.join(_per_round())})"
        )
    if args.rounds is not None and not 1 <= args.round <= args.rounds:
        raise UsageError(f"schedule scyc: --round must be in [1, --rounds={args.rounds}]")
    params: dict[str, Any] = {"round_index": args.round}
    if args.round_ratio is not None:
        params["round_ratio"] = args.round_ratio
    return params


def _print_scyc_rounds(args: argparse.Namespace, params: dict[str, Any]) -> int:
    if not SCHEDULES.get(args.name).per_round_peak:
        raise UsageError(
            f"schedule {args.name}: --rounds/--round-ratio apply only to a schedule with a "
            f"per-round peak ({', '.join(_per_round())})"
        )
    if args.rounds is None or args.rounds <= 0:
        raise UsageError("schedule scyc: --rounds must be a positive integer")
    if args.round_ratio is None or not 0.0 <= args.round_ratio < 1.0:
        raise UsageError("schedule scyc: --round-ratio must be in [0, 1)")
    allowed = {"offset", "alpha", "beta", "lag"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise UsageError(
            f"schedule scyc --set: unknown parameter {unknown[0]!r}; valid: {', '.join(sorted(allowed))}"
        )
    with user_input("schedule scyc --set"):  # all rows first: an error prints no table
        rows = [(k, scyc_max_lr(k, args.round_ratio, **params)) for k in range(1, args.rounds + 1)]
    sys.stdout.write("round,max_lr\n")
    sys.stdout.writelines(f"{k},{lr:.10g}\n" for k, lr in rows)
    return 0


def _per_round() -> list[str]:
    return [n for n in SCHEDULES.names() if SCHEDULES.get(n).per_round_peak]


def _plot_schedule(schedule: Schedule, path: str) -> None:
    from studies.results.plots import lr_curve_figure  # matplotlib: only for --plot

    fig = lr_curve_figure([schedule], f"{schedule.name}, {schedule.epochs} epochs")
    fig.savefig(path, dpi=120)


# --- prune-report ---------------------------------------------------------------------------


def run_prune_report(args: argparse.Namespace) -> int:
    # torch and torch-pruning load only for this command, not for `prunetune schedule`.
    from pruning.data.info import describe
    from pruning.methods import PruneContext, PruneTarget, prune
    from pruning.models import build

    target = _prune_target(args, PruneTarget)
    method = args.method or "l1"
    with user_input("--dataset"):
        info = describe(args.dataset)
    with user_input("model"):
        model = build(
            args.model,
            num_classes=info.num_classes,
            in_channels=info.shape[0],
            image_size=info.shape[-1],
            dims=info.dims,
        )
    ctx = PruneContext.for_model(
        model, shape=info.shape, num_classes=info.num_classes, seed=args.seed
    )
    with user_input("prune-report"):
        model, report = prune(model, method, target, ctx)
    data = report.to_dict()
    data["model"], data["dataset"] = args.model, args.dataset
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        print(format_report_table(data))
    return 0


def _prune_target(args: argparse.Namespace, target_cls):
    if (args.config is None) == (args.ratio is None):
        raise UsageError(
            "prune-report: give exactly one of --config NAME or --ratio R (with --method)"
        )
    if args.ratio is not None:
        if not (0.0 <= args.ratio < 1.0) or math.isnan(args.ratio):
            raise UsageError(f"prune-report: --ratio {args.ratio} is out of range; valid: [0, 1)")
        if args.method is None:
            raise UsageError("prune-report: --ratio needs --method (e.g. l1, random, magnitude)")
        return target_cls(ratio=args.ratio)
    return target_cls(config=args.config)


def format_report_table(data: dict[str, Any]) -> str:
    """A human-readable table of a PruneReport dict."""

    def pct(before: float, after: float) -> str:
        return f"{100.0 * (1.0 - after / before):.1f} %" if before else "n/a"

    lines = [
        f"model {data['model']}  dataset {data['dataset']}  method {data.get('method')}"
        + (f"  config {data['config']}" if data.get("config") else ""),
        f"{'':10}{'before':>16}{'after':>16}{'removed':>10}",
        f"{'MACs':10}{data['macs_before']:>16,.0f}{data['macs_after']:>16,.0f}"
        f"{pct(data['macs_before'], data['macs_after']):>10}",
        f"{'params':10}{data['params_before']:>16,.0f}{data['params_after']:>16,.0f}"
        f"{pct(data['params_before'], data['params_after']):>10}",
        f"{'sparsity':10}{data['sparsity_before']:>16.4f}{data['sparsity_after']:>16.4f}",
        f"requested ratio {data.get('requested_ratio')}  achieved {data.get('achieved_ratio'):.4f}",
        "widths (out channels per conv):",
    ]
    lines += [f"  {name:40} {width}" for name, width in data.get("widths", {}).items()]
    return "\n".join(lines)
