"""Science evidence on CPU-sized data: dense baselines, then one-shot pruning retrained by CLR vs FT.

Uses only `pruning/` (no Ray, MLflow or Optuna), one thread, one process:

1. Dense training with the step schedule of docs/science.md §1 scaled to the run (LR 0.1, ×0.1 at
   50 % and 75 % of the epochs; SGD momentum 0.9, weight decay 1e-4 — the papers' value — batch
   64): `smallcnn` on `digits` (2-D, 30 epochs) and `smallcnn` / `resnet20` on `mnist1d` (1-D,
   40 epochs). Digits saturates within ~30 epochs; MNIST-1D keeps improving a little longer.
2. Each dense model of seed s is pruned with global unstructured magnitude pruning (conv weights,
   one shot, ratio 0.9) and retrained for 10 epochs with `clr` (max_lr 0.1, the paper defaults)
   and with `ft` (the last LR of the dense schedule, 0.001), both with the data order of seed s,
   so the two schedules differ in nothing but the LR/momentum curve. No selection: the
   final-epoch accuracies are reported, with a Welch t-test CLR vs FT over the seeds.

The validation split (10 % of train, stratified) is carved with split_seed 0 for every seed, so
seeds vary initialisation and data order, not the data. std is the sample std (ddof 1).

    .venv/bin/python bench/science_evidence.py --seeds 0 1 2 --out /tmp/science_evidence.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from scipy import stats
from torch import nn

from pruning import data, models
from pruning.budget import sparsity
from pruning.data import DataBundle
from pruning.methods import PruneContext, PruneTarget, prune
from pruning.schedules import build_schedule
from pruning.train import TrainConfig, evaluate, train

BATCH_SIZE = 64
WEIGHT_DECAY = 1e-4
PRUNE_METHOD = "magnitude"


@dataclass
class DenseRun:
    """One dense model and its final metrics."""

    seed: int
    model: nn.Module
    val_acc: float
    test_acc: float
    last_lr: float  # LR of the dense schedule's final step: FT's LR
    wall_s: float


@dataclass
class Part:
    """Results of one part of the study, with its wall time."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


def config(seed: int) -> TrainConfig:
    return TrainConfig(batch_size=BATCH_SIZE, weight_decay=WEIGHT_DECAY, seed=seed)


def build_model(name: str, bundle: DataBundle, seed: int) -> nn.Module:
    # The global RNG draws the initial weights; seeding it makes seed s's init reproducible.
    torch.manual_seed(seed)
    return models.build(
        name,
        bundle.num_classes,
        in_channels=bundle.shape[0],
        image_size=bundle.shape[-1],
        dims=bundle.dims,
    )


def train_dense(model_name: str, bundle: DataBundle, epochs: int, seed: int) -> DenseRun:
    """Train from scratch with the step schedule; final-epoch accuracies."""
    started = time.perf_counter()
    model = build_model(model_name, bundle, seed)
    schedule = build_schedule(
        "step", epochs=epochs, steps_per_epoch=bundle.steps_per_epoch(BATCH_SIZE), base_lr=0.1
    )
    result = train(model, bundle, schedule, config(seed))
    final = result.final
    if final is None or result.diverged:
        raise RuntimeError(f"dense {model_name} seed {seed} diverged or ran no epoch")
    return DenseRun(
        seed=seed,
        model=model,
        val_acc=final.val_acc,
        test_acc=final.test_acc,
        last_lr=schedule.lr(schedule.total_steps - 1),
        wall_s=time.perf_counter() - started,
    )


def prune_dense(
    run: DenseRun, bundle: DataBundle, ratio: float
) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, Any]]:
    """A pruned copy of the dense model, its masks and the accuracy right after pruning."""
    model = copy.deepcopy(run.model)
    ctx = PruneContext.for_model(model, shape=bundle.shape, seed=run.seed)
    model, report = prune(model, PRUNE_METHOD, PruneTarget(ratio=ratio), ctx)
    assert report.masks is not None
    cfg = config(run.seed)
    info = {
        "requested_ratio": ratio,
        "conv_sparsity": report.achieved_ratio,  # one round from dense: of conv weights
        "sparsity_all_prunable": sparsity(model, report.masks),  # conv + FC weights
        "pruned_val_acc": evaluate(model, bundle, "val", cfg)[1],
        "pruned_test_acc": evaluate(model, bundle, "test", cfg)[1],
    }
    return model, report.masks, info


def retrain(
    model: nn.Module,
    masks: dict[str, torch.Tensor],
    bundle: DataBundle,
    schedule_name: str,
    epochs: int,
    seed: int,
    **params: float,
) -> dict[str, Any]:
    """Retrain a copy of the pruned model; final-epoch accuracies and the test curve."""
    started = time.perf_counter()
    model = copy.deepcopy(model)
    schedule = build_schedule(
        schedule_name, epochs=epochs, steps_per_epoch=bundle.steps_per_epoch(BATCH_SIZE), **params
    )
    result = train(model, bundle, schedule, config(seed), masks=masks)
    final = result.final
    return {
        "schedule": schedule_name,
        "params": schedule.params(),
        "diverged": result.diverged,
        "val_acc": final.val_acc if final else math.nan,
        "test_acc": final.test_acc if final else math.nan,
        "test_curve": [m.test_acc for m in result.metrics],
        "sparsity_after": sparsity(model, masks),
        "wall_s": time.perf_counter() - started,
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def pct(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def run_dense_part(
    setups: list[tuple[str, str, int]], seeds: list[int]
) -> tuple[Part, dict[tuple[str, str], list[DenseRun]]]:
    """Part 1: every (dataset, model, epochs) setup for every seed."""
    part, dense = Part("1 dense"), {}
    started = time.perf_counter()
    for dataset, model_name, epochs in setups:
        bundle = data.load(dataset, split_seed=0)
        runs = [train_dense(model_name, bundle, epochs, s) for s in seeds]
        dense[(dataset, model_name)] = runs
        part.rows.append(
            {
                "dataset": dataset,
                "model": model_name,
                "dims": bundle.dims,
                "epochs": epochs,
                "seeds": seeds,
                "val_acc": [r.val_acc for r in runs],
                "test_acc": [r.test_acc for r in runs],
                "last_lr": runs[0].last_lr,
                "wall_s": sum(r.wall_s for r in runs),
            }
        )
    part.wall_s = time.perf_counter() - started
    return part, dense


def run_prune_part(
    name: str, runs: list[DenseRun], bundle: DataBundle, ratio: float, epochs: int
) -> Part:
    """Parts 2/3: prune each dense seed, retrain with CLR and FT, compare over seeds."""
    part = Part(name)
    started = time.perf_counter()
    for run in runs:
        pruned, masks, info = prune_dense(run, bundle, ratio)
        clr = retrain(pruned, masks, bundle, "clr", epochs, run.seed, max_lr=0.1)
        ft = retrain(pruned, masks, bundle, "ft", epochs, run.seed, lr=run.last_lr)
        part.rows.append(
            {"seed": run.seed, "dense_test_acc": run.test_acc, **info, "clr": clr, "ft": ft}
        )
    part.wall_s = time.perf_counter() - started
    return part


def welch_p(a: list[float], b: list[float]) -> float:
    if len(a) < 2 or len(b) < 2:
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def dense_table(part: Part) -> list[str]:
    lines = [
        "| dataset | model | dims | epochs | val acc % | test acc % | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in part.rows:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['dims']}-D | {r['epochs']} | "
            f"{pct(r['val_acc'])} | {pct(r['test_acc'])} | {r['wall_s']:.0f} |"
        )
    return lines


def prune_summary(model_name: str, part: Part) -> tuple[str, dict[str, Any]]:
    """One markdown row per pruned model (mean ± std over seeds) and its JSON summary."""
    rows = part.rows
    dense = [r["dense_test_acc"] for r in rows]
    pruned = [r["pruned_test_acc"] for r in rows]
    clr = [r["clr"]["test_acc"] for r in rows]
    ft = [r["ft"]["test_acc"] for r in rows]
    clr_val = [r["clr"]["val_acc"] for r in rows]
    ft_val = [r["ft"]["val_acc"] for r in rows]
    diff = statistics.fmean(clr) - statistics.fmean(ft)
    p = welch_p(clr, ft)
    conv = statistics.fmean(r["conv_sparsity"] for r in rows)
    sp = statistics.fmean(r["sparsity_all_prunable"] for r in rows)
    line = (
        f"| {model_name} | {100 * conv:.1f} / {100 * sp:.1f} | {pct(dense)} | {pct(pruned)} | "
        f"{pct(clr)} | {pct(ft)} | {pct(clr_val)} | {pct(ft_val)} | "
        f"{100 * diff:+.2f} | {p:.3g} | {part.wall_s:.0f} |"
    )
    summary = {
        "clr_minus_ft_test": diff,
        "welch_p_test": p,
        "welch_p_val": welch_p(clr_val, ft_val),
    }
    return line, summary


def per_seed_lines(model_name: str, part: Part) -> list[str]:
    return [
        f"| {model_name} | {r['seed']} | {100 * r['dense_test_acc']:.1f} | "
        f"{100 * r['pruned_test_acc']:.1f} | {100 * r['clr']['test_acc']:.1f} | "
        f"{100 * r['ft']['test_acc']:.1f} |"
        for r in part.rows
    ]


def report(dense: Part, pruned: dict[str, Part], retrain_epochs: int) -> tuple[str, dict]:
    """The markdown tables and the JSON summaries of the pruning parts."""
    lines = ["### 1. Dense (step schedule), final epoch", "", *dense_table(dense), ""]
    summaries: dict[str, Any] = {}
    if pruned:
        lines += [
            f"### 2/3. mnist1d, {PRUNE_METHOD} 0.9 one-shot, {retrain_epochs} retraining epochs, "
            "final epoch",
            "",
            "| model | sparsity % conv / conv+FC | dense test % | pruned test % | CLR test % | FT test % | "
            "CLR val % | FT val % | CLR−FT test | Welch p (test) | wall s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        seed_lines = []
        for model_name, part in pruned.items():
            line, summaries[model_name] = prune_summary(model_name, part)
            lines.append(line)
            seed_lines += per_seed_lines(model_name, part)
        lines += [
            "",
            "Per seed (test %):",
            "",
            "| model | seed | dense | after pruning | CLR | FT |",
            "|---|---|---|---|---|---|",
            *seed_lines,
            "",
        ]
    walls = [f"part {dense.name}: {dense.wall_s:.0f} s"]
    walls += [f"part {p.name}: {p.wall_s:.0f} s" for p in pruned.values()]
    lines.append("Wall time: " + "; ".join(walls) + ".")
    return "\n".join(lines), summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=None, help="write all results as JSON here")
    parser.add_argument("--digits-epochs", type=int, default=30)
    parser.add_argument("--mnist1d-epochs", type=int, default=40)
    parser.add_argument("--retrain-epochs", type=int, default=10)
    parser.add_argument("--ratio", type=float, default=0.9)
    parser.add_argument(
        "--no-smallcnn-prune", action="store_true", help="skip part 3 (smallcnn pruning)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared 2-core machine; also keeps timings comparable
    total = time.perf_counter()
    setups = [
        ("digits", "smallcnn", args.digits_epochs),
        ("mnist1d", "smallcnn", args.mnist1d_epochs),
        ("mnist1d", "resnet20", args.mnist1d_epochs),
    ]
    dense_part, dense = run_dense_part(setups, args.seeds)
    mnist1d = data.load("mnist1d", split_seed=0)
    prune_models = ["resnet20"] + ([] if args.no_smallcnn_prune else ["smallcnn"])
    pruned = {
        name: run_prune_part(
            f"{2 if name == 'resnet20' else 3} prune {name}",
            dense[("mnist1d", name)],
            mnist1d,
            args.ratio,
            args.retrain_epochs,
        )
        for name in prune_models
    }
    table, summaries = report(dense_part, pruned, args.retrain_epochs)
    print(table)
    wall = time.perf_counter() - total
    print(f"Total wall time: {wall:.0f} s (torch threads: {torch.get_num_threads()})")
    if args.out:
        payload = {
            "args": vars(args),
            "weight_decay": WEIGHT_DECAY,
            "batch_size": BATCH_SIZE,
            "torch": torch.__version__,
            "dense": {"rows": dense_part.rows, "wall_s": dense_part.wall_s},
            "pruned": {k: {"rows": p.rows, "wall_s": p.wall_s} for k, p in pruned.items()},
            "summary": summaries,
            "total_wall_s": wall,
        }
        with open(args.out, "w") as f:
            json.dump(payload, f, indent=1)


if __name__ == "__main__":
    main()
