"""`compare`'s statistics on hand-built frames: the reference is chosen on validation, Holm
adjusts one family per report (difference tests and TOSTs), Δ comes with its paired CI and dz,
notes are said once."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_compare import SPEC, iterative_frame, known_frame, row, run

from studies.results.compare import compare, reference_row
from studies.results.markdown import display_table, render_markdown
from studies.results.stats import cohens_dz, holm

# Validation says clr, test says ft: the two disagree about the best schedule.
CLR_VAL, CLR_TEST = [0.92, 0.93, 0.92], [0.90, 0.91, 0.92]
# ft − clr per seed: +3, +4, +2 (mean 3, SD 1), so the paired test has a spread to work with.
FT_VAL, FT_TEST = [0.88, 0.87, 0.88], [0.93, 0.95, 0.94]
PAIRED_HALF = stats.t.ppf(0.975, 2) / math.sqrt(3)  # t(0.975, n − 1) · SD / √n


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
    ft's Δ is +3 points, its p and CI are the paired t-test's against clr, its effect dz 3."""
    table = compare(disagreeing_frame()).table
    clr, ft = row(table, "clr"), row(table, "ft")
    assert bool(clr["reference"]) and not bool(ft["reference"])
    assert set(table["ref_schedule"]) == {"clr"}
    assert ft["delta_ref"] == pytest.approx(3.0)
    ft_pts, clr_pts = [93.0, 95.0, 94.0], [90.0, 91.0, 92.0]
    assert ft["p_value"] == pytest.approx(stats.ttest_rel(ft_pts, clr_pts).pvalue)
    low, high = 3 - PAIRED_HALF, 3 + PAIRED_HALF
    assert (ft["delta_ref_low"], ft["delta_ref_high"]) == pytest.approx((low, high))
    assert ft["delta_ref_low"] > 0  # mean difference 3 with SD 1 over 3 pairs: CI excludes 0
    assert ft["dz"] == pytest.approx(3.0)


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
    """Iterative: 1 comparison in the main table and 3 in the per-round table, each with a
    difference test and a TOST, form one family of 8; p_holm and tost_p_holm equal Holm over
    the 8 raw p-values, in both tables."""
    frame, hist = iterative_frame()
    comparison = compare(frame, fetch=lambda run_id, key: hist.get((run_id, key), []))
    tables = (comparison.table, comparison.rounds)
    raw = np.concatenate([t[c].to_numpy(float) for t in tables for c in ("p_value", "tost_p")])
    assert comparison.family_size == 8 == np.count_nonzero(~np.isnan(raw))
    adjusted = np.concatenate(
        [t[c].to_numpy(float) for t in tables for c in ("p_holm", "tost_p_holm")]
    )
    np.testing.assert_allclose(adjusted, holm(raw), equal_nan=True)
    tested = ~np.isnan(raw)
    assert np.all(adjusted[tested] >= raw[tested])


def test_holm_on_the_one_shot_table_by_hand() -> None:
    """known_frame: ft and scratch-b vs clr, a difference test and a TOST each, are the 4 tests;
    sorted ascending they are multiplied by 4, 3, 2, 1 and made monotone (capped at 1)."""
    table = compare(known_frame()).table
    cells = [(s, c) for s in ("ft", "scratch-b") for c in ("p_value", "tost_p")]
    raw = {cell: row(table, cell[0])[cell[1]] for cell in cells}
    expected, running = {}, 0.0
    for rank, cell in enumerate(sorted(raw, key=raw.get)):
        running = max(running, min(1.0, (4 - rank) * raw[cell]))
        expected[cell] = running
    for (schedule, column), value in expected.items():
        adjusted = "p_holm" if column == "p_value" else "tost_p_holm"
        assert row(table, schedule)[adjusted] == pytest.approx(value)
    assert math.isnan(row(table, "clr")["p_holm"])


def test_effect_size_matches_stats_on_the_known_frame() -> None:
    """ft vs clr is paired: its effect is dz = mean / SD of the differences −3, −2, −4 = −3."""
    ft = row(compare(known_frame()).table, "ft")
    assert ft["dz"] == pytest.approx(cohens_dz([88, 90, 89], [91, 92, 93]))
    assert ft["dz"] == pytest.approx(-3.0)


def test_zero_variance_on_both_sides_is_untested_and_noted_once() -> None:
    """Constant accuracies in both rows (identical per-seed differences): Δ is known but p, CI,
    TOST and the effect are NaN, the status says so; one report note."""
    rows = [run(f"a{s}", seed=s, val=0.9, test=0.9) for s in range(3)]
    rows += [run(f"b{s}", schedule="ft", seed=s, val=0.8, test=0.8) for s in range(3)]
    comparison = compare(pd.DataFrame(rows))
    ft = row(comparison.table, "ft")
    assert ft["delta_ref"] == pytest.approx(-10.0)
    untested = ("p_value", "p_holm", "delta_ref_low", "tost_p", "dz", "hedges_g", "wilcoxon_p")
    assert all(math.isnan(ft[c]) for c in untested)
    assert ft["status"] == "not testable (no seed-to-seed spread)"
    assert sum("no seed-to-seed spread" in n for n in comparison.notes) == 1
    assert comparison.family_size == 0


def test_display_has_the_statistics_columns_and_marks_the_reference() -> None:
    """Columns Δ vs ref [95 % CI], test (n), p, p (Holm), TOST p (Holm), effect, status; the
    reference shows "ref", others Δ [lo, hi] with the paired test and its n."""
    shown = display_table(compare(disagreeing_frame()).table)
    columns = {"Δ vs ref [95 % CI]", "test (n)", "p", "p (Holm)", "TOST p (Holm)", "effect"}
    assert columns | {"status", "val %"} <= set(shown.columns)
    assert "Wilcoxon p" not in shown.columns  # 3 pairs: below the 6 it needs
    by_schedule = shown.set_index("schedule")
    assert by_schedule.loc["clr", "Δ vs ref [95 % CI]"] == "ref"
    low, high = 3 - PAIRED_HALF, 3 + PAIRED_HALF
    assert by_schedule.loc["ft", "Δ vs ref [95 % CI]"] == f"+3.00 [{low:+.2f}, {high:+.2f}]"
    assert by_schedule.loc["ft", "test (n)"] == "paired t (3)"
    assert by_schedule.loc["ft", "effect"] == "dz +3.00"


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
    assert "Holm–Bonferroni over all 2 tests of this report" in header  # Δ test + TOST
    assert "paired by seed" in header and "±0.5 points" in header
    assert "oracle: none" in header and "Δ oracle" not in header
