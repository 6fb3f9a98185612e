"""Figures are generated, never typed: README's findings block and bench/results/mini_findings.md
are what bench/render_results.py makes of mini_findings.json, every decimal in README's Results
tables is in a results file, and bench/mini_findings.py computes what the JSON holds."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_compare import run

from bench import mini_findings, render_results
from studies.results.runs import tidy_trials
from studies.results.stats import holm
from studies.results.verdict import Claim

ROOT = Path(__file__).resolve().parents[1]
DECIMAL = re.compile(r"(?<![\w.])[+\-\u2212]?\d+\.\d+")


def results_section(readme: str) -> str:
    """README's "## Results" section, up to the next "## " heading."""
    found = re.search(r"^## Results\b(.*?)(?=^## |\Z)", readme, re.S | re.M)
    assert found, "README.md has no ## Results section"
    return found.group(1)


def untraced_decimals(section: str, results: Path) -> list[str]:
    """The decimals of the section's table rows that appear, rounded to their shown digits, in
    no .md/.csv/.json/.txt file under `results`."""
    pool = [
        abs(float(x.replace("\u2212", "-")))
        for f in results.rglob("*")
        if f.is_file() and f.suffix in (".md", ".csv", ".json", ".txt")
        for x in DECIMAL.findall(f.read_text(errors="replace"))
    ]
    missing = []
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        for token in DECIMAL.findall(line):
            x, digits = abs(float(token.replace("\u2212", "-"))), len(token.split(".")[1])
            if not any(abs(round(y, digits) - x) < 10 ** -(digits + 3) for y in pool):
                missing.append(token)
    return missing


def test_readme_findings_block_is_rendered_from_the_json() -> None:
    """The block between the markers equals the renderer's output for mini_findings.json."""
    data = json.loads(render_results.FINDINGS.read_text())
    readme = render_results.README.read_text()
    start, end = readme.index(render_results.BEGIN), readme.index(render_results.END)
    shown = readme[start : end + len(render_results.END)]
    assert shown == render_results.readme_block(data), "run bench/render_results.py"
    assert start > readme.index("## Results") and "## Cluster" in readme[end:]


def test_full_findings_file_is_rendered_from_the_json() -> None:
    """bench/results/mini_findings.md is exactly the renderer's output."""
    data = json.loads(render_results.FINDINGS.read_text())
    assert render_results.FULL.read_text() == render_results.full_markdown(data)


def test_every_decimal_in_readme_results_tables_is_in_a_results_file() -> None:
    """Each number in a table row of README's Results appears, rounded, under bench/results."""
    section = results_section(render_results.README.read_text())
    assert untraced_decimals(section, ROOT / "bench" / "results") == []


def test_the_decimal_check_catches_a_typed_number(tmp_path: Path) -> None:
    """A table row whose 12.34 is in no results file is reported; one that is, is not."""
    (tmp_path / "a.json").write_text('{"x": 56.7812}')
    assert untraced_decimals("| 12.34 | 56.78 |\ntext 99.99\n", tmp_path) == ["12.34"]


# --- bench/mini_findings.py on hand-built arms ----------------------------------------------

A = {s: 87.0 + d for s, d in enumerate([0.1, 0.5, 0.6, 0.9, -0.2, -0.1])}
FT = {s: 80.0 + d for s, d in enumerate([0.3, -1.1, 3.3, 1.3, -3.0, -1.5])}
NEAR = {s: v + d for (s, v), d in zip(A.items(), [0.1, -0.1, 0.05, 0.0, -0.05, 0.08], strict=True)}


def arms(label: str, claim: Claim, a: dict, b: dict, dense: dict | None = None):
    """Hand-built arms of a study with margin 0.5 points."""
    return mini_findings.Arms(label, "s", claim, "", "A", "B", a, b, dense or {}, 0.5)


def test_findings_are_paired_holm_adjusted_and_worded_by_the_claim() -> None:
    """p is scipy's ttest_rel, Holm runs over both tests of every finding (family 4), CLR vs
    FT is reproduced and a near-copy of A is equivalent within ±0.5."""
    rows, family = mini_findings.findings(
        [arms("gt", Claim.GREATER, A, FT), arms("eq", Claim.EQUIVALENT, A, NEAR)]
    )
    gt, eq = rows
    seeds = sorted(A)
    p_gt = stats.ttest_rel([A[s] for s in seeds], [FT[s] for s in seeds]).pvalue
    assert gt["design"] == "paired" and gt["n"] == 6 and gt["p"] == pytest.approx(p_gt)
    raw = [gt["p"], eq["p"], gt["tost_p"], eq["tost_p"]]
    assert family == 4
    expected = holm(raw)
    adjusted = [gt["p_holm"], eq["p_holm"], gt["tost_p_holm"], eq["tost_p_holm"]]
    assert adjusted == pytest.approx(list(expected))
    assert gt["status"] == "reproduced" and gt["reproduced"]
    assert eq["status"] == "equivalent within ±0.5" and eq["reproduced"]
    assert gt["wilcoxon_p"] == pytest.approx(
        stats.wilcoxon(list(A.values()), list(FT.values()))[1]
    )


def test_findings_json_has_no_nan_and_one_seed_shows_no_spread() -> None:
    """n = 1: no test, no std (null in the JSON), the status says why; rendered as (n=1)."""
    rows, family = mini_findings.findings([arms("one", Claim.GREATER, {0: 86.0}, {0: 80.0})])
    data = mini_findings.clean({"comparisons": rows})
    text = json.dumps(data, allow_nan=False)
    one = data["comparisons"][0]
    assert family == 0 and one["std_a"] is None and one["p"] is None and '"diff": 6.0' in text
    assert one["status"] == "not testable (n < 2)"
    row = render_results._readme_row(one)
    assert "86.00 (n=1)" in row and not any(
        "±" in cell and "TOST" not in cell for cell in row[3:5]
    )


def test_gaps_to_dense_are_paired_with_their_ci() -> None:
    """A − dense per seed, with the paired 95 % CI of scipy's ttest_rel."""
    dense = {s: 88.0 + 0.1 * s for s in A}
    (row,), _ = mini_findings.findings([arms("d", Claim.GREATER, A, FT, dense)])
    gap = row["gap_dense"]["a"]
    seeds = sorted(A)
    ci = stats.ttest_rel([A[s] for s in seeds], [dense[s] for s in seeds]).confidence_interval()
    assert gap["diff"] == pytest.approx(np.mean([A[s] - dense[s] for s in seeds]))
    assert gap["ci95"] == pytest.approx([ci.low, ci.high]) and gap["design"] == "paired"


def test_best_fixed_max_lr_is_chosen_on_mean_validation_not_test() -> None:
    """max LR 0.1 has the better mean validation, 0.01 the better test: 0.1 is chosen, and per
    seed its trial's test accuracy is what the finding uses."""
    rows = []
    for seed in range(3):
        rows.append(run(f"a{seed}", seed=seed, max_lr=0.1, val=0.90, test=0.80 + seed / 100))
        rows.append(run(f"b{seed}", seed=seed, max_lr=0.01, val=0.85, test=0.95))
    best, values = mini_findings.best_fixed_clr(tidy_trials(pd.DataFrame(rows)))
    assert best == pytest.approx(0.1)
    assert values == pytest.approx({0: 80.0, 1: 81.0, 2: 82.0})


def test_a_study_that_has_not_run_is_listed_as_missing(tmp_path: Path) -> None:
    """An empty workdir: no comparison, every part and the smoke test listed with the reason."""
    data = mini_findings.report(str(tmp_path))
    assert data["comparisons"] == [] and data["holm_family"] == 0 and data["studies"] == []
    assert len(data["missing"]) == len(mini_findings.PARTS)
    assert all("has not run in this workdir" in m["why"] for m in data["missing"])
    assert data["smoke"]["status"] == "missing"
    block = render_results.readme_block(mini_findings.clean(data))
    assert block.count("- not available: ") == len(mini_findings.PARTS)
    assert not math.isnan(data["alpha"])
