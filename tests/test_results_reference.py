"""`compare`'s statistics on hand-built frames: the reference is chosen on validation, Holm
adjusts one family per report, Δ comes with its Welch CI and Hedges' g, notes are said once."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_compare import SPEC, iterative_frame, known_frame, row, run

from studies.results.compare import compare, reference_row
from studies.results.markdown import display_table, render_markdown
from studies.results.stats import hedges_g, holm

# Validation says clr, test says ft: the two disagree about the best schedule.
CLR_VAL, CLR_TEST = [0.92, 0.93, 0.92], [0.90, 0.91, 0.92]
FT_VAL, FT_TEST = [0.88, 0.87, 0.88], [0.93, 0.94, 0.95]


def disagreeing_frame() -> pd.DataFrame:
    """Three seeds where ft has the better test and clr the better validation accuracy."""
    rows = []
    for seed in range(3):
        rows.append(run(f"clr{seed}", seed=seed, val=CLR_VAL[seed], test=CLR_TEST[seed]))
        rows.append(
            run(f"ft{seed}", schedule="ft", seed=seed, val=FT_VAL[seed], test=FT_TEST[seed])
        )
    return pd.DataFrame(rows)


def test_reference_follows_validation_when_test_disagrees() -> None:
    """clr (val 92.33) is the reference although ft has the higher test mean (94 vs 91);
    ft's Δ is +3 points, its p is Welch's against clr, and its CI is Welch's."""
    table = compare(disagreeing_frame()).table
    clr, ft = row(table, "clr"), row(table, "ft")
    assert bool(clr["reference"]) and not bool(ft["reference"])
    assert set(table["ref_schedule"]) == {"clr"}
    assert ft["delta_ref"] == pytest.approx(3.0)
    ft_pts, clr_pts = [93.0, 94.0, 95.0], [90.0, 91.0, 92.0]
    assert ft["p_value"] == pytest.approx(stats.ttest_ind(ft_pts, clr_pts, equal_var=False).pvalue)
    half = stats.t.ppf(0.975, 4) * math.sqrt(2 / 3)  # both variances 1, Welch df 4
    assert (ft["delta_ref_low"], ft["delta_ref_high"]) == pytest.approx((3 - half, 3 + half))
    assert ft["delta_ref_low"] > 0  # shift 3 with unit variances: the CI excludes 0
    assert ft["hedges_g"] == pytest.approx(0.8 * 3.0)  # pooled SD 1, J = 0.8


def test_reference_ties_go_to_more_seeds_then_to_the_schedule_name() -> None:
    """Equal mean validation: the row with more seeds wins, then the alphabetically first."""
    group = pd.DataFrame(
        {
            "schedule": ["slr", "clr", "ft", "lrw"],
            "val_acc_mean": [90.0, 90.0, 90.0, 89.0],
            "n": [3, 2, 3, 3],
        },
        index=[10, 11, 12, 13],
    )
    assert reference_row(group) == 12  # ft and slr have 3 seeds; "ft" < "slr"
    assert reference_row(group.assign(val_acc_mean=np.nan)) is None


def test_tie_is_noted_on_the_reference_row_only() -> None:
    """clr and scratch-b tie on validation (both 90): clr by name, and only clr's note says so."""
    frame = known_frame()
    frame.loc[frame["run_id"].str.startswith("sb"), "metrics.final/val_acc"] = 0.90
    table = compare(frame).table
    assert bool(row(table, "clr")["reference"])
    assert "tie rule" in row(table, "clr")["note"] and row(table, "ft")["note"] == ""


def test_holm_family_is_every_test_of_the_report() -> None:
    """Iterative: 1 test in the main table and 3 in the per-round table form one family of 4;
    p_holm equals Holm over the 4 raw p-values, in both tables."""
    frame, hist = iterative_frame()
    comparison = compare(frame, fetch=lambda run_id, key: hist.get((run_id, key), []))
    main, rounds = comparison.table, comparison.rounds
    raw = np.concatenate([main["p_value"].to_numpy(float), rounds["p_value"].to_numpy(float)])
    assert comparison.family_size == 4 == np.count_nonzero(~np.isnan(raw))
    adjusted = np.concatenate([main["p_holm"].to_numpy(float), rounds["p_holm"].to_numpy(float)])
    np.testing.assert_allclose(adjusted, holm(raw), equal_nan=True)
    tested = ~np.isnan(raw)
    assert np.all(adjusted[tested] >= raw[tested])


def test_holm_on_the_one_shot_table_by_hand() -> None:
    """known_frame: ft and scratch-b vs clr are the 2 tests; Holm = (2·p_min, max(p_max, 2·p_min))."""
    table = compare(known_frame()).table
    p_ft, p_sb = row(table, "ft")["p_value"], row(table, "scratch-b")["p_value"]
    low, high = sorted([p_ft, p_sb])
    expected = {low: 2 * low, high: max(high, 2 * low)}
    assert row(table, "ft")["p_holm"] == pytest.approx(min(1.0, expected[p_ft]))
    assert row(table, "scratch-b")["p_holm"] == pytest.approx(min(1.0, expected[p_sb]))
    assert math.isnan(row(table, "clr")["p_holm"])


def test_effect_size_matches_stats_on_the_known_frame() -> None:
    """Hedges' g of ft vs clr is stats.hedges_g on the percent accuracies: −3 / 1 · 0.8 = −2.4."""
    ft = row(compare(known_frame()).table, "ft")
    assert ft["hedges_g"] == pytest.approx(hedges_g([88, 90, 89], [91, 92, 93]))
    assert ft["hedges_g"] == pytest.approx(-2.4)


def test_zero_variance_on_both_sides_is_untested_and_noted_once() -> None:
    """Constant accuracies in both rows: Δ is known but p, CI, g are NaN; one report note."""
    rows = [run(f"a{s}", seed=s, val=0.9, test=0.9) for s in range(3)]
    rows += [run(f"b{s}", schedule="ft", seed=s, val=0.8, test=0.8) for s in range(3)]
    comparison = compare(pd.DataFrame(rows))
    ft = row(comparison.table, "ft")
    assert ft["delta_ref"] == pytest.approx(-10.0)
    assert all(math.isnan(ft[c]) for c in ("p_value", "p_holm", "delta_ref_low", "hedges_g"))
    assert sum("zero variance" in n for n in comparison.notes) == 1
    assert comparison.family_size == 0


def test_display_has_the_statistics_columns_and_marks_the_reference() -> None:
    """Columns Δ vs ref [95 % CI], p, p (Holm), g; the reference shows "ref", others Δ [lo, hi]."""
    shown = display_table(compare(disagreeing_frame()).table)
    assert {"Δ vs ref [95 % CI]", "p", "p (Holm)", "g", "val %"} <= set(shown.columns)
    assert "p vs best" not in shown.columns
    by_schedule = shown.set_index("schedule")
    assert by_schedule.loc["clr", "Δ vs ref [95 % CI]"] == "ref"
    half = stats.t.ppf(0.975, 4) * math.sqrt(2 / 3)
    assert (
        by_schedule.loc["ft", "Δ vs ref [95 % CI]"] == f"+3.00 [{3 - half:+.2f}, {3 + half:+.2f}]"
    )
    assert by_schedule.loc["ft", "g"] == "+2.40"


def test_no_oracle_columns_without_oracle_and_a_dash_where_one_group_lacks_it() -> None:
    """No oracle at all: no oracle columns. Oracle for budget 4 only: budget-8 rows show "–"
    and one report note counts them."""
    frame = known_frame()
    no_oracle = frame[frame["tags.role"] != "oracle"]
    assert "oracle %" not in display_table(compare(no_oracle).table).columns
    longer = [run(f"ft8_{s}", schedule="ft", seed=s, epochs=8, test=0.9) for s in range(3)]
    comparison = compare(pd.concat([frame, pd.DataFrame(longer)], ignore_index=True))
    shown = display_table(comparison.table)
    at8 = shown[shown["budget"] == "8"]
    assert len(at8) == 2 and set(at8["oracle %"]) == {"–"}  # ft and scratch-b join budget 8
    assert [n for n in comparison.notes if "oracle" in n] == [
        "2 row(s) without an oracle run of their method/target/budget/round (shown as –)"
    ]


def test_header_states_reference_on_validation_and_the_holm_family() -> None:
    """The report header says the reference is chosen on validation, tested on test, and how
    many tests Holm adjusts for; the oracle is "none" without oracle runs."""
    frame = disagreeing_frame()
    text = render_markdown(compare(frame), name="d", spec=SPEC, notes=[])
    header = text.split("## Main table")[0]
    assert "reference chosen on **validation**, tested on **test**" in header
    assert "Holm–Bonferroni over all 1 tests of this report" in header
    assert "oracle: none" in header and "Δ oracle" not in header
