"""The findings of docs/science.md §"Findings", tested on the mini presets' MLflow runs.

`prunetune compare` tests each schedule against the validation-chosen best of its own group;
the findings need comparisons across groups (random + CLR vs L1 + FT; Scratch-E/B vs FT; S-Cyc
vs the best fixed-max-LR CLR and vs the oracle; SILO's weight-change vs magnitude). This script
reads the finished studies back (the trial chosen on validation per cell and seed, its test
accuracy) and prints one Markdown row per comparison: means ± std over seeds, the difference
with its Welch 95 % CI, Welch's p, the Holm-adjusted p over every comparison printed, and
Hedges' g. A study that has not run is listed as missing.

    .venv/bin/python bench/mini_findings.py --workdir prunetune-runs
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from studies.records import load_record
from studies.results.runs import select_trials, tidy_trials, trials_frame
from studies.results.stats import hedges_g, holm, welch

Comparison = tuple[str, np.ndarray, np.ndarray]


def tidy(workdir: str, name: str) -> pd.DataFrame:
    return tidy_trials(trials_frame(load_record(workdir, name)))


def accs(frame: pd.DataFrame, **where: object) -> np.ndarray:
    """Test accuracies (%) of the rows matching `where`, by seed."""
    mask = np.ones(len(frame), dtype=bool)
    for key, value in where.items():
        mask &= (frame[key] == value).to_numpy()
    return frame.loc[mask].sort_values("seed")["test_acc"].to_numpy() * 100


def nptm(workdir: str) -> Iterator[Comparison]:
    s = select_trials(tidy(workdir, "nptm-mini"))
    for e in sorted(s["epochs"].dropna().unique()):
        at = {"epochs": e}
        l1_ft = accs(s, method="l1", schedule="ft", **at)
        yield (
            f"Le & Hua, E={e:g}: random+CLR vs L1+FT",
            accs(s, method="random", schedule="clr", **at),
            l1_ft,
        )
        for sched in ("ft", "lrw", "slr"):
            yield (
                f"Le & Hua, E={e:g}, L1: CLR vs {sched.upper()}",
                accs(s, method="l1", schedule="clr", **at),
                accs(s, method="l1", schedule=sched, **at),
            )  # fmt: skip


def rethinking(workdir: str) -> Iterator[Comparison]:
    s = select_trials(tidy(workdir, "rethinking-mini"))
    ft = accs(s, schedule="ft")
    yield "Liu et al.: Scratch-E vs FT", accs(s, schedule="scratch-e"), ft
    yield "Liu et al.: Scratch-B vs FT", accs(s, schedule="scratch-b"), ft


def scyc(workdir: str) -> Iterator[Comparison]:
    t = tidy(workdir, "scyc-mini")
    s = select_trials(t)
    ours = accs(s, schedule="scyc")
    clr = t[(t["schedule"] == "clr") & (t["role"] == "search")]
    # "The best fixed max LR": one value for all seeds, chosen on mean validation accuracy.
    best = clr.groupby("max_lr")["val_acc"].mean().idxmax()
    yield (
        f"S-Cyc vs CLR at the best fixed max LR ({best:g}, chosen on val)",
        ours,
        accs(clr, max_lr=best),
    )
    for sched in ("lrw", "ft"):
        yield f"S-Cyc vs {sched.upper()}", ours, accs(s, schedule=sched)
    o = tidy(workdir, "scyc-mini-oracle")
    last = o[(o["role"] == "oracle") & o["winner"]]
    last = last[last["round"] == last["round"].max()]
    yield f"S-Cyc vs the oracle (round {int(last['round'].max())})", ours, accs(last)


def silo(workdir: str) -> Iterator[Comparison]:
    """SILO's protocol (reinit every round): the arms are named `clr+reinit`, `scyc+reinit`."""
    t = tidy(workdir, "silo-mini")
    s = select_trials(t)
    for method in ("weight_change", "magnitude"):
        fixed = t[
            (t["method"] == method) & (t["schedule_name"] == "clr") & (t["role"] == "search")
        ]
        best = fixed.groupby("max_lr")["val_acc"].mean().idxmax()
        yield (
            f"SILO, {method}: S-Cyc peak vs the best fixed peak ({best:g}, chosen on val)",
            accs(s, method=method, schedule_name="scyc"),
            accs(fixed, max_lr=best),
        )  # fmt: skip
    yield (
        "SILO, S-Cyc peak: weight-change vs magnitude",
        accs(s, method="weight_change", schedule_name="scyc"),
        accs(s, method="magnitude", schedule_name="scyc"),
    )  # fmt: skip


def _cell(a: np.ndarray) -> str:
    spread = f"{a.std(ddof=1):.2f}" if len(a) > 1 else "–"
    return f"{a.mean():.2f} ± {spread} (n={len(a)})" if len(a) else "–"


def table(comparisons: list[Comparison], missing: list[str]) -> str:
    tests = [welch(a, b) for _, a, b in comparisons]
    p_holm = holm([t.p for t in tests])
    lines = [
        "| comparison | A test % | B test % | A − B [95 % CI] | p | p (Holm) | g |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (label, a, b), t, ph in zip(comparisons, tests, p_holm, strict=True):
        lines.append(
            f"| {label} | {_cell(a)} | {_cell(b)} | {t.diff:+.2f} [{t.low:+.2f}, {t.high:+.2f}] "
            f"| {t.p:.3g} | {ph:.3g} | {hedges_g(a, b):+.2f} |"
        )
    lines += [f"| {name}: not available ({why}) | | | | | | |" for name, why in missing]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="prunetune-runs")
    args = parser.parse_args()
    parts: list[Callable[[str], Iterator[Comparison]]] = [nptm, rethinking, scyc, silo]
    comparisons: list[Comparison] = []
    missing: list[tuple[str, str]] = []
    for part in parts:
        try:
            comparisons += list(part(args.workdir))
        except Exception as err:  # a study not run (yet): said, not hidden
            missing.append((part.__name__, str(err).splitlines()[0]))
    print(table(comparisons, missing))
    print(
        f"\nHolm over the {len(comparisons)} comparisons above; test accuracy of the trial chosen on validation per seed."
    )


if __name__ == "__main__":
    main()
