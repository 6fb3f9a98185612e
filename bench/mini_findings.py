"""The findings of docs/science.md §5, tested on the mini presets' finished studies, written as
bench/results/mini_findings.json (bench/render_results.py renders the Markdown from it).

`prunetune compare` tests each schedule against the validation-chosen best of its own group;
the findings need comparisons across groups (random + CLR vs L1 + FT; Scratch-E/B vs FT; S-Cyc
vs the best fixed-max-LR CLR and vs the oracle). This script reads the finished studies of a
workdir back (the trial chosen on validation per cell and seed, its test accuracy), compares
each pair of arms paired by seed (the arms of one seed share its dense model and data split),
with the TOST for the study's compare.equivalence_margin, Holm over every test of the file, and
the status word of studies.results.verdict for the claim each finding checks. A study that has
not run (or not finished) is listed as missing. docs/science.md §9 defines the statistics.

    .venv/bin/python bench/mini_findings.py --workdir prunetune-runs
    .venv/bin/python bench/render_results.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from studies.errors import UsageError
from studies.results.compare import dense_by_seed
from studies.results.contrast import Contrast, contrast
from studies.results.report import equivalence_margin
from studies.results.runs import (
    final_oracle_winners,
    select_trials,
    tidy_trials,
    trials_frame,
    winner_rows,
)
from studies.results.stats import WILCOXON_MIN_N, holm
from studies.results.verdict import ALPHA, Claim, reproduces, status
from studies.session.records import StudyRecord, list_records, load_record, record_path
from trainables.keys import Role, RunStatus

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "mini_findings.json"
PERCENT = 100.0
# silo-mini is a smoke test of SILO's protocol, not a finding (why: the rendered notes).
SMOKE = "silo-mini"


@dataclass(frozen=True)
class Arms:
    """One finding: arm A against arm B of one study, the claim it checks, per-seed test acc %."""

    label: str
    study: str
    claim: Claim
    paper: str  # the claim in the paper's words
    a_name: str
    b_name: str
    a: dict[int, float]
    b: dict[int, float]
    dense: dict[int, float]  # the dense model's test acc % per seed (may be empty)
    margin: float  # the study's compare.equivalence_margin, points
    detail: str = ""


@dataclass(frozen=True)
class Study:
    record: StudyRecord
    tidy: pd.DataFrame

    @property
    def selected(self) -> pd.DataFrame:
        return select_trials(self.tidy)

    @property
    def dense(self) -> dict[int, float]:
        return {int(s): PERCENT * float(v) for s, v in dense_by_seed(self.tidy).items()}

    @property
    def margin(self) -> float:
        return equivalence_margin(self.record.spec)


def load_study(workdir: str, name: str) -> Study:
    """A finished study's trials; UsageError (listed as missing) when it is absent or unfinished."""
    if not record_path(workdir, name).exists():
        raise UsageError(f"study {name!r} has not run in this workdir")
    record = load_record(workdir, name)
    if record.status != RunStatus.FINISHED:
        raise UsageError(f"study {name!r} is {record.status_text}, not finished")
    return Study(record, tidy_trials(trials_frame(record)))


def by_seed(frame: pd.DataFrame, **where: object) -> dict[int, float]:
    """Test accuracy (%) per seed of the rows matching `where` (one selected row per seed)."""
    mask = pd.Series(True, index=frame.index)
    for key, value in where.items():
        mask &= frame[key] == value
    rows = frame[mask]
    if rows["seed"].duplicated().any():
        raise ValueError(f"several rows per seed for {where}: select first")
    return {
        int(s): PERCENT * float(v) for s, v in zip(rows["seed"], rows["test_acc"], strict=True)
    }


def _arms(study: Study, label: str, claim: Claim, paper: str, a, b, detail: str = "") -> Arms:
    """Arms of `study`; a and b are (name, {seed: acc %})."""
    name = study.record.name
    return Arms(
        label, name, claim, paper, a[0], b[0], a[1], b[1], study.dense, study.margin, detail
    )


# --- the findings, per study ----------------------------------------------------------------


def nptm(workdir: str) -> Iterator[Arms]:
    """Le & Hua at each budget: CLR against FT, LRW and SLR for L1, random + CLR against
    L1 + FT, and L1 against random with CLR."""
    study = load_study(workdir, "nptm-mini")
    s = study.selected
    for e in sorted(s["epochs"].dropna().unique()):
        at = {"epochs": e}
        clr = ("L1 + CLR", by_seed(s, method="l1", schedule="clr", **at))
        l1_ft = ("L1 + FT", by_seed(s, method="l1", schedule="ft", **at))
        random_clr = ("random + CLR", by_seed(s, method="random", schedule="clr", **at))
        tag = f"Le & Hua (E={e:g})"
        yield _arms(
            study,
            f"{tag}: random + CLR vs L1 + FT",
            Claim.GREATER,
            "random pruning + CLR ≥ PFEC + FT; tested as A > B",
            random_clr,
            l1_ft,
        )
        yield _arms(
            study, f"{tag}, L1: CLR vs FT", Claim.GREATER, "CLR > FT at equal budget", clr, l1_ft
        )
        lrw = ("L1 + LRW", by_seed(s, method="l1", schedule="lrw", **at))
        yield _arms(
            study,
            f"{tag}, L1: CLR vs LRW",
            Claim.GREATER,
            "CLR ≥ SLR ≈ LRW: CLR ≥ LRW; tested as A > B",
            clr,
            lrw,
        )
        slr = ("L1 + SLR", by_seed(s, method="l1", schedule="slr", **at))
        yield _arms(study, f"{tag}, L1: CLR vs SLR", Claim.EQUIVALENT, "SLR ≈ CLR", clr, slr)
        yield _arms(study, f"{tag}, CLR: L1 (PFEC) vs random", Claim.GREATER,
                    "with the same schedule PFEC ≥ random; tested as A > B", clr, random_clr)  # fmt: skip


def rethinking(workdir: str) -> Iterator[Arms]:
    """Liu et al.: training the pruned architecture from scratch against fine-tuning it."""
    study = load_study(workdir, "rethinking-mini")
    s = study.selected
    ft = ("fine-tuned", by_seed(s, schedule="ft"))
    yield _arms(
        study,
        "Liu et al.: Scratch-E vs fine-tuned",
        Claim.GREATER,
        "scratch training is comparable or better; tested as A > B",
        ("Scratch-E", by_seed(s, schedule="scratch-e")),
        ft,
    )
    yield _arms(study, "Liu et al.: Scratch-B vs fine-tuned", Claim.EQUIVALENT,
                "Scratch-B ≈ fine-tuned (structured pruning)",
                ("Scratch-B", by_seed(s, schedule="scratch-b")), ft)  # fmt: skip


def best_fixed_clr(tidy: pd.DataFrame) -> tuple[float, dict[int, float]]:
    """ "The best fixed max LR": one value for all seeds, the CLR max LR with the best mean
    validation accuracy over seeds; per seed its trial (best on validation if repeated)."""
    clr = tidy[(tidy["schedule"] == "clr") & (tidy["role"] == Role.SEARCH) & tidy["usable"]]
    if clr.empty:
        raise UsageError("no finished CLR trial")
    best = float(clr.groupby("max_lr")["val_acc"].mean().idxmax())
    return best, by_seed(winner_rows(clr[clr["max_lr"] == best], ["seed"]))


def scyc(workdir: str) -> Iterator[Arms]:
    """S-Cyc against CLR at the best fixed max LR and against FT."""
    study = load_study(workdir, "scyc-mini")
    ours = ("S-Cyc", by_seed(study.selected, schedule="scyc"))
    best, fixed = best_fixed_clr(study.tidy)
    yield _arms(
        study,
        f"S-Cyc vs CLR at the best fixed max LR ({best:g})",
        Claim.GREATER,
        "S-Cyc beats the best fixed-max-LR cyclic schedule at high sparsity",
        ours,
        ("CLR, best fixed max LR", fixed),
        f"max LR {best:g} chosen on mean validation accuracy over seeds",
    )
    yield _arms(study, "S-Cyc vs FT", Claim.GREATER, "S-Cyc > FT", ours,
                ("FT", by_seed(study.selected, schedule="ft")))  # fmt: skip


def scyc_oracle(workdir: str) -> Iterator[Arms]:
    """S-Cyc against the oracle's last-round winners (study scyc-mini-oracle)."""
    study = load_study(workdir, "scyc-mini")
    oracle = load_study(workdir, "scyc-mini-oracle")
    winners = final_oracle_winners(oracle.tidy)
    if winners.empty:
        raise UsageError("study 'scyc-mini-oracle' has no finished oracle round")
    last = int(winners["round"].max())
    yield _arms(study, f"S-Cyc vs the oracle's round-{last} winners", Claim.EQUIVALENT,
                "S-Cyc lands near the oracle",
                ("S-Cyc", by_seed(study.selected, schedule="scyc")),
                ("oracle", by_seed(winners)),
                "oracle: per seed and round the grid max LR best on validation (greedy)")  # fmt: skip


PARTS: list[tuple[str, Callable[[str], Iterator[Arms]]]] = [
    ("Le & Hua (nptm-mini)", nptm),
    ("Liu et al. (rethinking-mini)", rethinking),
    ("S-Cyc vs CLR and FT (scyc-mini)", scyc),
    ("S-Cyc vs the oracle (scyc-mini, scyc-mini-oracle)", scyc_oracle),
]


# --- statistics and the file ----------------------------------------------------------------


def findings(arms: list[Arms], alpha: float = ALPHA) -> tuple[list[dict], int]:
    """Every finding's statistics and status word; Holm adjusts all difference tests and TOSTs
    of the file as one family. Returns the findings and the family size."""
    contrasts = [contrast(x.a, x.b, margin=x.margin) for x in arms]
    adjusted = holm([c.p for c in contrasts] + [c.tost_p for c in contrasts])
    k = len(contrasts)
    out = [
        finding(x, c, float(adjusted[i]), float(adjusted[k + i]), alpha)
        for i, (x, c) in enumerate(zip(arms, contrasts, strict=True))
    ]
    return out, int(sum(not math.isnan(p) for p in adjusted))


def finding(x: Arms, c: Contrast, p_holm: float, tost_p_holm: float, alpha: float) -> dict:
    """One finding as the JSON holds it (NaN becomes null when written)."""
    word = status(
        x.claim, n=c.n, diff=c.diff, p_holm=p_holm, tost_p_holm=tost_p_holm,
        margin=x.margin, alpha=alpha,
    )  # fmt: skip
    paired = c.design == "paired"
    values_a = dict(zip(c.seeds, c.a, strict=True)) if paired else x.a
    values_b = dict(zip(c.seeds, c.b, strict=True)) if paired else x.b
    tost = c.tost
    return {
        "label": x.label,
        "study": x.study,
        "claim": str(x.claim),
        "paper": x.paper,
        "a": x.a_name,
        "b": x.b_name,
        "detail": x.detail,
        "design": c.design,
        "test": c.test,
        "n": c.n,
        "seeds_left_out": list(c.dropped),
        "values_a": _per_seed(values_a),
        "values_b": _per_seed(values_b),
        "mean_a": c.mean("a"),
        "mean_b": c.mean("b"),
        "std_a": c.std("a"),
        "std_b": c.std("b"),
        "diff": c.diff,
        "ci95": [c.low, c.high],
        "p": c.p,
        "p_holm": p_holm,
        "wilcoxon_p": c.wilcoxon_p,
        "wilcoxon_note": _wilcoxon_note(c),
        "margin": x.margin,
        "tost_p": c.tost_p,
        "tost_p_holm": tost_p_holm,
        "ci90": [math.nan, math.nan] if tost is None else [tost.low, tost.high],
        "effect": {"name": c.effect_name, "value": c.effect},
        "gap_dense": {"a": gap(x.a, x.dense), "b": gap(x.b, x.dense)} if x.dense else None,
        "status": word,
        "reproduced": reproduces(x.claim, word),
    }


def _per_seed(values: dict) -> dict[str, float]:
    """{seed: acc %} for the file; rounded to 1e-6 points (×100 leaves float noise)."""
    return {str(int(s)): round(float(v), 6) for s, v in values.items()}


def _wilcoxon_note(c: Contrast) -> str:
    if c.design != "paired":
        return "unpaired: no signed-rank test"
    if c.n < WILCOXON_MIN_N:
        return f"n < {WILCOXON_MIN_N}: not run (its exact p could not reach 0.05)"
    return ""


def gap(values: dict[int, float], dense: dict[int, float]) -> dict:
    """An arm's gap to the dense model (points), paired by seed, with its 95 % CI."""
    c = contrast(values, dense)
    return {"diff": c.diff, "ci95": [c.low, c.high], "n": c.n, "design": c.design}


def smoke(workdir: str) -> dict:
    """silo-mini's range of accuracies (a smoke test, not a finding), if it ran."""
    try:
        study = load_study(workdir, SMOKE)
    except UsageError as err:
        why = str(err).splitlines()[0].replace(str(workdir), "WORKDIR")
        return {"study": SMOKE, "status": "missing", "why": why}
    acc = PERCENT * study.selected["test_acc"]
    dense = list(study.dense.values())
    spec = study.record.spec
    return {
        "study": SMOKE,
        "status": "finished",
        "rounds": spec["pruning"]["rounds"],
        "round_epochs": spec["retrain"]["epochs"],
        "test_acc_min": float(acc.min()),
        "test_acc_max": float(acc.max()),
        "dense_mean": sum(dense) / len(dense) if dense else math.nan,
    }


def studies_of(workdir: str) -> list[dict]:
    """The workdir's studies as their records say."""
    return [
        {
            "name": r.name,
            "kind": r.spec.get("kind", "search"),
            "status": r.status_text,
            "spec_hash": r.spec_hash,
            "seeds": r.spec.get("search", {}).get("seeds", []),
            "updated": dt.datetime.fromtimestamp(r.updated, dt.UTC).isoformat(timespec="seconds"),
        }
        for r in list_records(workdir)
    ]


def git_state() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "-uno")),
    }


def report(workdir: str) -> dict:
    """Everything mini_findings.json holds."""
    arms: list[Arms] = []
    missing = []
    for name, part in PARTS:
        try:
            arms += list(part(workdir))
        except UsageError as err:  # a study not run (yet): said, not hidden
            why = str(err).splitlines()[0].replace(str(workdir), "WORKDIR")
            missing.append({"part": name, "why": why})
    rows, family = findings(arms)
    return {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": f".venv/bin/python bench/mini_findings.py --workdir {workdir}",
        "git": git_state(),
        "workdir": workdir,
        "studies": studies_of(workdir),
        "alpha": ALPHA,
        "holm_family": family,
        "wilcoxon_min_n": WILCOXON_MIN_N,
        "comparisons": rows,
        "missing": missing,
        "smoke": smoke(workdir),
    }


def clean(value: object) -> object:
    """JSON has no NaN: undefined statistics are null."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="prunetune-runs")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = clean(report(args.workdir))
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"{args.out}: {len(data['comparisons'])} comparisons, {len(data['missing'])} missing")


if __name__ == "__main__":
    main()
