"""`prunetune plan`: what every arm runs, round by round, without data, Ray or stores."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from studies.cli.main import main
from studies.spec import derived, load_spec, validate
from studies.spec.arms import plan_study

PRESETS = sorted(
    p.stem for p in (Path(__file__).parents[2] / "studies" / "presets").glob("*.toml")
)
# A narrow 1-D ResNet-56 keeps the paper config's layer ids at little cost.
ITERATIVE_PFEC = {
    "name": "plan-pfec",
    "model": {"name": "resnet56", "widths": [4, 8, 16]},
    "dataset": {"name": "mnist1d"},
    "pretrain": {"epochs": 20},
    "pruning": {
        "methods": ["l1"],
        "configs": ["resnet56-I"],
        "schedule": "iterative",
        "rounds": 4,
    },
    "retrain": {"schedules": ["lrw", "scyc", "clr"], "epochs": [8], "start": ["init"]},
    "search": {"sampler": "grid", "trials": 0},
}


def _arm(plan: dict, schedule: str) -> dict:
    (arm,) = [a for a in plan["arms"] if a["schedule"] == schedule]
    return arm


def test_lottery_ticket_lrw_decays_within_every_round() -> None:
    """lrw from init at E ≠ T replays the whole dense schedule compressed into each round:
    it starts at the dense run's LR and decays by two drops, never a flat LR."""
    plan = plan_study(validate(ITERATIVE_PFEC)).to_dict()
    rounds = _arm(plan, "lrw")["rounds"]
    assert len(rounds) == 4
    for r in rounds:
        assert r["lr_first"] == r["lr_peak"] == pytest.approx(0.1)
        assert r["lr_last"] == pytest.approx(0.001)


def test_scyc_peak_rises_over_the_rounds_of_a_structured_config() -> None:
    """S-Cyc's x is the fraction of weights the earlier rounds actually removed, so on a
    structured config (no per-round ratio) its peak still rises, lagged one round."""
    plan = plan_study(
        validate({**ITERATIVE_PFEC, "retrain": {**ITERATIVE_PFEC["retrain"], "start": ["pruned"]}})
    ).to_dict()
    rounds = _arm(plan, "scyc")["rounds"]
    peaks = [r["max_lr"] for r in rounds]
    sparsity = [r["sparsity"] for r in rounds]
    assert peaks[0] == pytest.approx(0.03)  # round 1 sees x = 0 (lag 1)
    assert all(a < b for a, b in itertools.pairwise(peaks))
    assert all(0 < a < b < 1 for a, b in itertools.pairwise(sparsity))


def test_trials_and_trial_epochs_match_the_search() -> None:
    """The plan's trial count is the search's; trial-epochs are each trial's rounds × budget."""
    spec = load_spec("quickstart")
    plan = plan_study(spec)
    assert plan.trials == derived.search_trials(spec) == 12
    assert plan.trial_epochs == 12 * 8 and plan.trial_epochs_exact
    assert {(a.schedule, a.target) for a in plan.arms} == {
        (s, f"ratio {r}") for s in ("ft", "lrw", "slr", "clr") for r in (0.5, 0.8)
    }


def test_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    """--format json: arms with schedule/method/target/start and rounds with epochs and the
    first/peak/last LR; the study's trials and trial-epochs."""
    assert main(["plan", "rethinking-mini", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["trials"] == 6 * 1 + 2 * 6 and plan["trial_epochs"] > 0
    for arm in plan["arms"]:
        assert {"schedule", "method", "target", "start", "rounds"} <= set(arm)
        for r in arm["rounds"]:
            assert {"round", "epochs", "lr_first", "lr_peak", "lr_last"} <= set(r)
            assert 0 < r["lr_last"] <= r["lr_peak"] and r["lr_first"] <= r["lr_peak"]
    scratch_b = _arm(plan, "scratch-b")
    assert scratch_b["budget"] > _arm(plan, "scratch-e")["budget"] == 20


def test_a_refused_combination_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """plan validates like run: S-Cyc on one-shot pruning is refused naming the field."""
    code = main(["plan", "nptm-mini", "--set", "retrain.schedules=[scyc]"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "retrain.schedules[0]" in err and "iterative" in err


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_plans_and_its_arms_are_distinct(preset: str) -> None:
    """Every preset plans without data, and no two of its schedules run the same LRs for one
    (method, target, budget, start): an arm identical to another (LRW = FT at a short budget)
    would compare a schedule with itself under two names."""
    spec = load_spec(preset, {"dataset.root": "/nonexistent"} if _needs_root(preset) else {})
    plan = plan_study(spec).to_dict()
    assert plan["trials"] > 0 and plan["trial_epochs"] > 0
    cells: dict[tuple, dict[str, tuple]] = {}
    for arm in plan["arms"]:
        key = (arm["method"], arm["target"], arm["start"], str(arm["max_lr"]))
        curve = tuple(
            (r["epochs"], r["lr_first"], r["lr_peak"], r["lr_last"]) for r in arm["rounds"]
        )
        cells.setdefault(key, {})[arm["schedule"]] = curve
    for key, curves in cells.items():
        names = list(curves)
        for a, b in itertools.combinations(names, 2):
            assert curves[a] != curves[b], (preset, key, a, b)


def _needs_root(preset: str) -> bool:
    text = (Path(__file__).parents[2] / "studies" / "presets" / f"{preset}.toml").read_text()
    return 'root = ""' in text


def test_plan_imports_no_ray_optuna_or_mlflow() -> None:
    """plan needs no services: planning a preset loads neither Ray, Optuna nor MLflow."""
    code = (
        "import sys; from studies.cli.main import main; main(['plan', 'quickstart']); "
        "print(sorted(m for m in ('ray', 'optuna', 'mlflow') if m in sys.modules), file=sys.stderr)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "[]"
