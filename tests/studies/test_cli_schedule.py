"""`prunetune schedule scyc --per-step ... --round K` prints SILO's per-step LR for round K, to
hold against SILO's ResNet-20 code: the LR rises by max_lr/20000 per step from lr0 = 0 (at most
20,000 steps), is max_lr/10 from epoch 25 and max_lr/100 from epoch 32 of a 50-epoch round; the
peak is 0.03 in rounds 1 and earlier and offset + alpha·s(x), x = 1 − 0.8^(k−1), after."""

from __future__ import annotations

import pytest

from studies.cli import main

STEPS, EPOCHS, RATIO = 563, 50, 0.2


def silo_peak(round_index: int) -> float:
    """SILO's cal(x): 0.03 + 0.04 / (1 + (x / (1 − x))^−5), x = 1 − (1 − p)^(k − 1)."""
    x = 1 - (1 - RATIO) ** (round_index - 1)
    return 0.03 + (0.0 if x == 0 else 0.04 / (1 + (x / (1 - x)) ** -5.0))


def silo_lr(step: int, round_index: int) -> float:
    """SILO's rule, written out from resnet_20_cifar_10.py (not from prunetune's code)."""
    peak = silo_peak(round_index)
    epoch = step // STEPS
    if epoch >= 32:
        return peak / 100
    if epoch >= 25:
        return peak / 10
    return min(step + 1, 20000) * peak / 20000


def _rows(capsys, round_index: int) -> dict[int, float]:
    code = main(
        [
            "schedule", "scyc", "--per-step", "--steps-per-epoch", str(STEPS), "--epochs",
            str(EPOCHS), "--round", str(round_index), "--rounds", "15", "--round-ratio",
            str(RATIO), "--set", "shape=silo",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[0] == "step,lr" and len(out) == STEPS * EPOCHS + 1
    return {int(a): float(b) for a, b in (line.split(",") for line in out[1:])}


@pytest.mark.parametrize("round_index", [1, 2, 10])
def test_silo_shape_matches_silos_code(capsys, round_index: int) -> None:
    """Steps around the ramp's end and at epochs 24/25/31/32/49 equal SILO's rule."""
    rows = _rows(capsys, round_index)
    steps = [0, 1, 19998, 19999, 20000, 20001]
    steps += [e * STEPS + d for e in (24, 25, 31, 32, 49) for d in (0, STEPS - 1)]
    for step in steps:
        assert rows[step] == pytest.approx(silo_lr(step, round_index), rel=1e-9), step
    # At 563 steps per epoch the drop at epoch 25 (step 14,075) comes before the ramp's end.
    assert rows[14074] == pytest.approx(14075 / 20000 * silo_peak(round_index))
    assert max(rows.values()) == rows[14074] < silo_peak(round_index)


@pytest.mark.parametrize(
    "args",
    [
        ["--rounds", "3", "--round-ratio", "0.2", "--set", "offset=-1"],
        ["--rounds", "3", "--round-ratio", "0.2", "--set", "alpha=-5"],
        ["--rounds", "3", "--round-ratio", "0.2", "--set", "beta=0"],
        ["--rounds", "3", "--round-ratio", "0.2", "--set", "lag=1.5"],
        ["--epochs", "4", "--round", "2", "--round-ratio", "0.2", "--set", "beta=-5"],
        ["--epochs", "4", "--round", "2", "--round-ratio", "0.2", "--set", "shape=silo", "lr0=-1"],
        ["--epochs", "4", "--round", "4", "--rounds", "3"],
    ],
)
def test_degenerate_scyc_params_exit_2_with_no_output(capsys, args: list[str]) -> None:
    """Every path of `prunetune schedule scyc` validates: one line on stderr, exit 2, no CSV."""
    code = main(["schedule", "scyc", *args])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("prunetune: error:")
