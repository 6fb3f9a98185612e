"""The study file's compare.equivalence_margin: validated like every field, outside the spec hash,
defaulted for records written before it existed, and used by `compare`'s TOSTs."""

from __future__ import annotations

from pathlib import Path

import pytest
from scipy import stats
from test_compare import SPEC, FakeSource, known_frame, row, save_record

from studies.results.report import equivalence_margin, run_compare
from studies.session.records import load_record
from studies.spec import SpecError, StudySpec, load_spec, spec_hash

STUDY = """\
name = "margin"
[model]
name = "resnet20"
[dataset]
name = "mnist1d"
[pruning]
methods = ["l1"]
ratio = [0.5]
[retrain]
schedules = ["ft", "clr"]
epochs = [4]
max_lr = [0.1]
"""


@pytest.fixture
def study(tmp_path: Path) -> str:
    """A small valid study file."""
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    return str(path)


@pytest.mark.parametrize("value", [0.0, -0.5, float("inf"), float("nan")])
def test_bad_margins_are_one_line_naming_the_field(study: str, value: float) -> None:
    """≤ 0, infinite or NaN: one SpecError line naming compare.equivalence_margin and > 0."""
    with pytest.raises(SpecError) as caught:
        load_spec(study, {"compare.equivalence_margin": value})
    line = str(caught.value)
    assert "\n" not in line and f"{study}: compare.equivalence_margin: " in line
    assert line.endswith("valid: > 0"), line
    with pytest.raises(SpecError, match=r"compare\.equivalence_margin: expected a number"):
        load_spec(study, {"compare.equivalence_margin": "wide"})


def test_margin_defaults_to_half_a_point_and_is_not_part_of_the_hash(study: str) -> None:
    """Default 0.5 points; a different margin judges the same trials, so the hash is equal."""
    default, wide = load_spec(study), load_spec(study, {"compare.equivalence_margin": 2.0})
    assert default.compare.equivalence_margin == 0.5 and wide.compare.equivalence_margin == 2.0
    assert spec_hash(default) == spec_hash(wide)
    assert spec_hash(load_spec(study, {"search.seeds": [0, 1]})) != spec_hash(default)


def test_records_without_the_section_load_with_the_default(study: str) -> None:
    """A record's spec written before [compare] existed validates, with margin 0.5, and the
    same hash as the spec that has the section."""
    spec = load_spec(study)
    old = spec.model_dump(mode="json")
    del old["compare"]
    assert StudySpec.model_validate(old) == spec
    assert equivalence_margin(old) == 0.5 and equivalence_margin({}) == 0.5
    assert equivalence_margin({"compare": {"equivalence_margin": 1.5}}) == 1.5


def test_compare_tests_equivalence_with_the_studys_margin(tmp_path: Path) -> None:
    """run_compare reads the margin from the study's record: ft vs clr's TOST at ±5 points is
    two one-sided paired tests of the differences −3, −2, −4 against ∓5."""
    save_record(tmp_path, "s")
    record = load_record(str(tmp_path), "s")
    record.spec = {**SPEC, "compare": {"equivalence_margin": 5.0}}
    record.save()
    _, table = run_compare(str(tmp_path), "s", source=FakeSource({"s": known_frame()}))
    diffs = [88 - 91, 90 - 92, 89 - 93]
    lower = stats.ttest_1samp(diffs, -5.0, alternative="greater").pvalue
    upper = stats.ttest_1samp(diffs, 5.0, alternative="less").pvalue
    ft = row(table, "ft")
    assert ft["tost_p"] == pytest.approx(max(lower, upper))
    text = (tmp_path / "reports" / "s" / "report.md").read_text()
    assert "equivalence within ±5 points" in text
