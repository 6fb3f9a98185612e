"""Choose the embedded benchmark of the CPU mini presets: MNIST-1D difficulty × ResNet-20 width.

mnist1d's default generation leaves a 1-D ResNet-20 at ~98.5 % dense test accuracy, where the
few-point effects of high-sparsity retraining (docs/science.md §5) cannot show. Each candidate
(generation options × stage widths) is measured with `pruning/` only (no Ray, MLflow, Optuna),
one torch thread:

1. dense: step schedule as in the mini presets (LR 0.1, ×0.1 at 50 % and 75 % of the epochs,
   SGD momentum 0.9, weight decay 1e-4, batch 64), final-epoch accuracies, per seed;
2. one-shot global magnitude pruning of the conv weights at each ratio (`--method l1`: L1
   filter pruning of the first conv of every block, ratio = fraction of filters), each pruned model
   retrained with `clr` (max_lr 0.1) and with `ft` (0.001, the dense schedule's last LR) for the
   same short budget, same data order; final-epoch accuracies;
3. epoch time: the median wall time of the dense training epochs (training + val/test eval);
   on a shared machine that is noisy, so `--timing` also measures each candidate's epochs in
   CPU seconds of this process (one thread: ≈ the wall time of an idle core);
4. `--iterative LABEL`: one seed, iterative magnitude pruning of 20 % of the remaining conv
   weights per round for `--rounds` rounds, each round retrained with CLR at fixed max LRs.

The validation split (10 %, stratified, split_seed 0) is the same for all seeds; a seed changes
the initialisation and the data order. std is the sample std (ddof 1).

    .venv/bin/python bench/choose_benchmark.py --candidates all --out /tmp/cb/all.json
    .venv/bin/python bench/choose_benchmark.py --candidates none --iterative hard-half \
        --out /tmp/cb/iterative.json
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pruning import data, models
from pruning.data import DataBundle
from pruning.data.embedded import MNIST1D_HARD
from pruning.methods import PruneContext, PruneTarget, prune
from pruning.schedules import build_schedule
from pruning.train import TrainConfig, train

BATCH_SIZE = 64
WEIGHT_DECAY = 1e-4
DENSE_LR = 0.1
FT_LR = 0.001  # the step schedule's last LR (0.1 × 0.1 × 0.1)
CLR_MAX_LR = 0.1  # docs/science.md §2 default
HALF = (8, 16, 32)  # 0.5× ResNet-20: a quarter of the parameters
FULL = (16, 32, 64)


@dataclass(frozen=True)
class Candidate:
    """One benchmark setting: MNIST-1D generation options and ResNet-20 stage widths."""

    label: str
    options: dict[str, float | int]
    widths: tuple[int, int, int]

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items()) or "defaults"
        return f"mnist1d({opts}), widths {list(self.widths)}"


NOISE = {"iid_noise_scale": 0.05}
NOISE_SHEAR = {"iid_noise_scale": 0.04, "shear_scale": 1.5, "scale_coeff": 0.8}
CANDIDATES = [
    Candidate("default-full", {}, FULL),  # today's mini presets
    Candidate("default-half", {}, HALF),
    Candidate("noise-full", NOISE, FULL),
    Candidate("noise-half", NOISE, HALF),
    Candidate("hard-full", NOISE_SHEAR, FULL),
    Candidate("hard-half", NOISE_SHEAR, HALF),
]
BY_LABEL = {c.label: c for c in CANDIDATES}


def cfg(seed: int) -> TrainConfig:
    return TrainConfig(batch_size=BATCH_SIZE, weight_decay=WEIGHT_DECAY, seed=seed)


def build_model(cand: Candidate, bundle: DataBundle, seed: int) -> nn.Module:
    torch.manual_seed(seed)  # the global RNG draws the initial weights
    return models.build(
        "resnet20",
        bundle.num_classes,
        in_channels=bundle.shape[0],
        image_size=bundle.shape[-1],
        dims=bundle.dims,
        widths=list(cand.widths),
    )


def train_dense(
    cand: Candidate, bundle: DataBundle, epochs: int, seed: int
) -> tuple[nn.Module, dict[str, Any]]:
    model = build_model(cand, bundle, seed)
    schedule = build_schedule(
        "step", epochs=epochs, steps_per_epoch=bundle.steps_per_epoch(BATCH_SIZE), base_lr=DENSE_LR
    )
    result = train(model, bundle, schedule, cfg(seed))
    final = result.final
    if final is None or result.diverged:
        raise RuntimeError(f"dense {cand.label} seed {seed} diverged or ran no epoch")
    return model, {
        "seed": seed,
        "val_acc": final.val_acc,
        "test_acc": final.test_acc,
        "train_loss": final.train_loss,
        "epoch_s": statistics.median(m.wall_time for m in result.metrics),
        "params": sum(p.numel() for p in model.parameters()),
    }


def retrain(
    pruned: nn.Module,
    masks: dict[str, torch.Tensor],
    bundle: DataBundle,
    name: str,
    epochs: int,
    seed: int,
    **params: float,
) -> float:
    """Final test accuracy of a copy of `pruned` retrained with schedule `name`."""
    model = copy.deepcopy(pruned)
    schedule = build_schedule(
        name, epochs=epochs, steps_per_epoch=bundle.steps_per_epoch(BATCH_SIZE), **params
    )
    result = train(model, bundle, schedule, cfg(seed), masks=masks)
    if result.final is None or result.diverged:
        return float("nan")
    return result.final.test_acc


def one_shot(
    dense: nn.Module,
    bundle: DataBundle,
    method: str,
    ratios: list[float],
    epochs: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Per ratio: what was removed, and the test accuracy after CLR and after FT."""
    out = {}
    for ratio in ratios:
        model = copy.deepcopy(dense)
        ctx = PruneContext.for_model(model, shape=bundle.shape, seed=seed)
        model, report = prune(model, method, PruneTarget(ratio=ratio), ctx)
        masks = report.masks or {}  # structured methods remove filters: nothing to mask
        out[f"{ratio:g}"] = {
            "achieved_ratio": report.achieved_ratio,
            "params_kept": report.params_after / report.params_before,
            "macs_kept": report.macs_after / report.macs_before,
            "clr": retrain(model, masks, bundle, "clr", epochs, seed, max_lr=CLR_MAX_LR),
            "ft": retrain(model, masks, bundle, "ft", epochs, seed, lr=FT_LR),
        }
    return out


def run_candidate(
    cand: Candidate,
    seeds: list[int],
    dense_epochs: int,
    method: str,
    ratios: list[float],
    epochs: int,
) -> dict[str, Any]:
    started = time.perf_counter()
    bundle = data.load("mnist1d", split_seed=0, **cand.options)
    rows = []
    for seed in seeds:
        dense, row = train_dense(cand, bundle, dense_epochs, seed)
        row["one_shot"] = one_shot(dense, bundle, method, ratios, epochs, seed)
        rows.append(row)
        print(json.dumps({"candidate": cand.label, **row}), flush=True)
    return {
        "label": cand.label,
        "options": cand.options,
        "widths": list(cand.widths),
        "method": method,
        "rows": rows,
        "wall_s": time.perf_counter() - started,
    }


def iterative(
    cand: Candidate, seed: int, dense_epochs: int, rounds: int, epochs: int, max_lrs: list[float]
) -> dict[str, Any]:
    """Prune 20 % of the remaining conv weights per round, CLR at a fixed max LR each round."""
    bundle = data.load("mnist1d", split_seed=0, **cand.options)
    dense, dense_row = train_dense(cand, bundle, dense_epochs, seed)
    curves: dict[str, list[dict[str, float]]] = {}
    for max_lr in max_lrs:
        model, masks, curve = copy.deepcopy(dense), None, []
        for k in range(1, rounds + 1):
            ctx = PruneContext.for_model(model, shape=bundle.shape, seed=seed, masks=masks)
            model, report = prune(model, "magnitude", PruneTarget(ratio=0.2), ctx)
            masks = report.masks
            assert masks is not None
            schedule = build_schedule(
                "clr",
                epochs=epochs,
                steps_per_epoch=bundle.steps_per_epoch(BATCH_SIZE),
                max_lr=max_lr,
            )
            # Each round's data order differs (seed offset) as in a multi-round study.
            result = train(model, bundle, schedule, cfg(seed * 1000 + k), masks=masks)
            final = result.final
            assert final is not None
            conv_sparsity = 1 - sum(int(m.sum()) for m in masks.values()) / sum(
                m.numel() for m in masks.values()
            )
            curve.append({"round": k, "conv_sparsity": conv_sparsity, "test_acc": final.test_acc})
            print(json.dumps({"iterative": cand.label, "max_lr": max_lr, **curve[-1]}), flush=True)
        curves[f"{max_lr:g}"] = curve
    return {"label": cand.label, "seed": seed, "dense": dense_row, "curves": curves}


def timing(cand: Candidate, epochs: int) -> dict[str, Any]:
    """Median wall and CPU seconds of a dense epoch (training + val/test eval), seed 0."""
    bundle = data.load("mnist1d", split_seed=0, **cand.options)
    model = build_model(cand, bundle, 0)
    schedule = build_schedule(
        "step", epochs=epochs, steps_per_epoch=bundle.steps_per_epoch(BATCH_SIZE), base_lr=DENSE_LR
    )
    cpu: list[float] = []
    wall: list[float] = []

    def clock(_: object) -> bool:
        cpu.append(time.process_time())
        wall.append(time.perf_counter())
        return False

    clock(None)
    train(model, bundle, schedule, cfg(0), callback=clock)
    return {
        "label": cand.label,
        "cpu_s": statistics.median(b - a for a, b in itertools.pairwise(cpu)),
        "wall_s": statistics.median(b - a for a, b in itertools.pairwise(wall)),
        "steps_per_epoch": bundle.steps_per_epoch(BATCH_SIZE),
    }


def pct(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    std = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f}"


def tables(results: list[dict[str, Any]], ratios: list[float]) -> str:
    """The candidates table (markdown): dense and one-shot CLR / FT test accuracy, epoch time."""
    head = "| candidate | setting | params | dense test % | dense val % | epoch s |"
    head += "".join(f" CLR {100 * r:g} % | FT {100 * r:g} % |" for r in ratios)
    lines = [head, "|" + "---|" * (6 + 2 * len(ratios))]
    for res in results:
        rows = res["rows"]
        cand = BY_LABEL[res["label"]]
        line = (
            f"| {cand.label} | {cand.describe()} | {rows[0]['params']:,} | "
            f"{pct([r['test_acc'] for r in rows])} | {pct([r['val_acc'] for r in rows])} | "
            f"{statistics.median(r['epoch_s'] for r in rows):.2f} |"
        )
        for ratio in ratios:
            key = f"{ratio:g}"
            for sched in ("clr", "ft"):
                line += f" {pct([r['one_shot'][key][sched] for r in rows])} |"
        lines.append(line)
    return "\n".join(lines)


def timing_table(timings: list[dict[str, Any]]) -> str:
    ref = timings[0]["cpu_s"]
    lines = [
        f"| candidate | steps/epoch | CPU s/epoch | wall s/epoch | CPU vs {timings[0]['label']} |",
        "|---|---|---|---|---|",
    ]
    for t in timings:
        lines.append(
            f"| {t['label']} | {t['steps_per_epoch']} | {t['cpu_s']:.2f} | {t['wall_s']:.2f} | "
            f"{t['cpu_s'] / ref:.2f}× |"
        )
    return "\n".join(lines)


def iterative_table(it: dict[str, Any]) -> str:
    lrs = list(it["curves"])
    lines = [
        "| round | conv sparsity % |" + "".join(f" CLR max_lr {lr} test % |" for lr in lrs),
        "|" + "---|" * (2 + len(lrs)),
    ]
    first = it["curves"][lrs[0]]
    for i, point in enumerate(first):
        line = f"| {point['round']} | {100 * point['conv_sparsity']:.1f} |"
        line += "".join(f" {100 * it['curves'][lr][i]['test_acc']:.1f} |" for lr in lrs)
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--candidates",
        nargs="+",
        default=["all"],
        help=f"labels ({', '.join(BY_LABEL)}), 'all' or 'none'",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dense-epochs", type=int, default=20)
    parser.add_argument("--retrain-epochs", type=int, default=5)
    parser.add_argument(
        "--method", default="magnitude", help="one-shot pruning method (l1: ratio of filters)"
    )
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.8, 0.9, 0.95])
    parser.add_argument("--iterative", default=None, help="a candidate label")
    parser.add_argument("--rounds", type=int, default=14)
    parser.add_argument("--round-epochs", type=int, default=2)
    parser.add_argument("--max-lrs", type=float, nargs="+", default=[0.03, 0.1])
    parser.add_argument(
        "--timing", type=int, default=0, help="time N dense epochs of every candidate first"
    )
    parser.add_argument("--out", default=None, help="write all results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared 2-core machine; also keeps timings comparable
    labels = (
        list(BY_LABEL)
        if args.candidates == ["all"]
        else ([] if args.candidates == ["none"] else args.candidates)
    )
    unknown = [x for x in [*labels, args.iterative or CANDIDATES[0].label] if x not in BY_LABEL]
    if unknown:
        parser.error(f"unknown candidate {unknown[0]!r}; valid: {', '.join(BY_LABEL)}")
    started = time.perf_counter()
    timings = [timing(c, args.timing) for c in CANDIDATES] if args.timing else []
    results = [
        run_candidate(
            BY_LABEL[x],
            args.seeds,
            args.dense_epochs,
            args.method,
            args.ratios,
            args.retrain_epochs,
        )
        for x in labels
    ]
    it = None
    if args.iterative:
        it = iterative(
            BY_LABEL[args.iterative],
            args.seeds[0],
            args.dense_epochs,
            args.rounds,
            args.round_epochs,
            args.max_lrs,
        )
    if timings:
        print(timing_table(timings))
    if results:
        print(f"One-shot {args.method}, {args.retrain_epochs} retraining epochs, final test %:")
        print(tables(results, args.ratios))
    if it:
        print(iterative_table(it))
    wall = time.perf_counter() - started
    print(f"Total wall time: {wall:.0f} s (torch threads: {torch.get_num_threads()})")
    print(f"mnist1d-hard is registered with {MNIST1D_HARD}")
    if args.out:
        payload = {
            "args": vars(args),
            "torch": torch.__version__,
            "timings": timings,
            "candidates": results,
            "iterative": it,
            "mnist1d_hard": MNIST1D_HARD,
            "total_wall_s": wall,
        }
        with open(args.out, "w") as f:
            json.dump(payload, f, indent=1)


if __name__ == "__main__":
    main()
