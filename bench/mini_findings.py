"""The four findings of SCIENCE.md §5, tested on the mini presets' MLflow runs.

`prunetune compare` tests each schedule against the best of its own group; findings 2 and 4 need
comparisons across groups (random + CLR vs PFEC + FT; S-Cyc vs the best fixed-max-LR CLR and
vs the oracle). This script reads the finished studies back (validation-selected trials, test
accuracy per seed) and prints each comparison with means ± std and Welch p-values.

    .venv/bin/python bench/mini_findings.py --workdir prunetune-runs
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from studies.records import load_record
from studies.results.runs import select_trials, tidy_trials, trials_frame

Pick = Callable[[pd.DataFrame], pd.DataFrame]


def selected(workdir: str, name: str) -> pd.DataFrame:
    return select_trials(tidy_trials(trials_frame(load_record(workdir, name))))


def accs(frame: pd.DataFrame, **where: object) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    for key, value in where.items():
        mask &= (frame[key] == value).to_numpy()
    return frame.loc[mask].sort_values("seed")["test_acc"].to_numpy() * 100


def line(label: str, a: np.ndarray, b: np.ndarray) -> str:
    p = stats.ttest_ind(a, b, equal_var=False).pvalue if len(a) > 1 and len(b) > 1 else np.nan
    return (
        f"| {label} | {a.mean():.2f} ± {a.std(ddof=1):.2f} (n={len(a)}) | "
        f"{b.mean():.2f} ± {b.std(ddof=1):.2f} (n={len(b)}) | {a.mean() - b.mean():+.2f} | {p:.3g} |"
    )


def nptm(workdir: str) -> list[str]:
    s = selected(workdir, "nptm-mini")
    out = []
    for e in sorted(s["epochs"].dropna().unique()):
        e = float(e)
        for sched in ("slr", "lrw", "ft"):
            out.append(
                line(
                    f"1. PFEC, E={e:g}: clr vs {sched}",
                    accs(s, method="l1", schedule="clr", epochs=e),
                    accs(s, method="l1", schedule=sched, epochs=e),
                )
            )
        out.append(
            line(
                f"2. E={e:g}: random+clr vs PFEC+ft",
                accs(s, method="random", schedule="clr", epochs=e),
                accs(s, method="l1", schedule="ft", epochs=e),
            )
        )
        for sched in ("ft", "lrw", "slr", "clr"):
            out.append(
                line(
                    f"2. E={e:g}, {sched}: PFEC vs random",
                    accs(s, method="l1", schedule=sched, epochs=e),
                    accs(s, method="random", schedule=sched, epochs=e),
                )
            )
    return out


def rethinking(workdir: str) -> list[str]:
    s = selected(workdir, "rethinking-mini")
    ft = accs(s, schedule="ft")
    return [
        line("3. scratch-b vs fine-tuned (ft)", accs(s, schedule="scratch-b"), ft),
        line("3. scratch-e vs fine-tuned (ft)", accs(s, schedule="scratch-e"), ft),
    ]


def scyc(workdir: str) -> list[str]:
    record = load_record(workdir, "scyc-mini")
    tidy = tidy_trials(trials_frame(record))
    s = select_trials(tidy)
    out = []
    clr = tidy[(tidy["schedule"] == "clr") & (tidy["role"] == "search")]
    # "The best fixed max LR": one value for all seeds, chosen on mean validation accuracy.
    best_lr = clr.groupby("max_lr")["val_acc"].mean().idxmax()
    label = f"4. scyc vs clr at the best fixed max LR ({best_lr:g}, chosen on val)"
    out.append(line(label, accs(s, schedule="scyc"), accs(clr, max_lr=best_lr)))
    for lr in sorted(clr["max_lr"].unique()):
        out.append(
            line(
                f"4. scyc vs clr at max LR {lr:g}", accs(s, schedule="scyc"), accs(clr, max_lr=lr)
            )
        )
    for sched in ("lrw", "ft"):
        out.append(line(f"4. scyc vs {sched}", accs(s, schedule="scyc"), accs(s, schedule=sched)))
    try:
        o = tidy_trials(trials_frame(load_record(workdir, "scyc-mini-oracle")))
        last = o[(o["role"] == "oracle") & o["winner"]]
        last = last[last["round"] == last["round"].max()].sort_values("seed")
        label = f"4. scyc vs the oracle (round {int(last['round'].max())} winners)"
        out.append(line(label, accs(s, schedule="scyc"), last["test_acc"].to_numpy() * 100))
    except Exception as err:  # oracle not run yet
        out.append(f"| 4. oracle | not available ({err}) | | | |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="prunetune-runs")
    args = parser.parse_args()
    print(
        "| comparison | A test % | B test % | A − B | Welch p |\n| --- | --- | --- | --- | --- |"
    )
    for part in (nptm, rethinking, scyc):
        try:
            rows = part(args.workdir)
        except Exception as err:
            rows = [f"| {part.__name__} | not available ({err}) | | | |"]
        print("\n".join(rows))


if __name__ == "__main__":
    main()
