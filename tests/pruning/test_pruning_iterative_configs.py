"""Iterative PFEC (ResNet-56-I / ResNet-110-I) and which paper configs compose across rounds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pruning.methods import (
    PAPER_CONFIGS,
    PruneContext,
    PruneTarget,
    config_is_iterable,
    configs_for,
    prune,
)
from pruning.methods.counting import conv_fc_macs_params
from pruning.methods.layers import prunable_convs
from pruning.models import build

X32 = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
STAGE_WIDTHS = (16, 32, 64)
RATIOS = (0.1, 0.15, 0.2)  # iterative PFEC, per stage


def compounded(width: int, ratio: float, rounds: int) -> int:
    """NPTM's res56prune.py rule applied `rounds` times: num_keep = int(C · (1 − p))."""
    for _ in range(rounds):
        width = int(width * (1 - ratio))
    return width


def stage_widths(model: nn.Module) -> list[set[int]]:
    """The set of block-first conv widths in each stage."""
    per_stage: list[set[int]] = [set(), set(), set()]
    for layer in prunable_convs(model):
        per_stage[layer.stage].add(layer.channels)
    return per_stage


@pytest.mark.parametrize(("depth", "rounds"), [(56, 8), (110, 2)])
def test_iterative_config_compounds_per_stage(depth: int, rounds: int) -> None:
    """After k rounds of resnet{d}-I every stage's block-first convs have the int()-compounded
    width (10/15/20 %, no skipped ids) and MACs fall strictly every round."""
    model = build(f"resnet{depth}", num_classes=10)
    macs = [conv_fc_macs_params(model, X32)[0]]
    for k in range(1, rounds + 1):
        model, report = prune(model, "l1", PruneTarget(config="I"), PruneContext(X32, seed=k))
        assert report.config == f"resnet{depth}-I"
        expected = [{compounded(w, r, k)} for w, r in zip(STAGE_WIDTHS, RATIOS, strict=True)]
        assert stage_widths(model) == expected, k
        macs.append(conv_fc_macs_params(model, X32)[0])
        assert macs[-1] < macs[-2]
        # Every stage has as many block-first convs, so the request is a width-weighted mean.
        before = [compounded(w, r, k - 1) for w, r in zip(STAGE_WIDTHS, RATIOS, strict=True)]
        asked = sum(c * r for c, r in zip(before, RATIOS, strict=True)) / sum(before)
        assert report.requested_ratio == pytest.approx(asked)
    assert model(X32).shape == (1, 10)
    if rounds == 8:  # docs/science.md's 8 rounds: 16/32/64 → 5/6/9
        assert stage_widths(model) == [{5}, {6}, {9}]


def test_one_shot_ratio_configs_also_compose() -> None:
    """ResNet-56-B applied twice keeps int(C·(1 − p)) of the *current* widths in round 2."""
    model = build("resnet56", num_classes=10)
    for _ in range(2):
        model, _ = prune(model, "l1", PruneTarget(config="B"), PruneContext(X32))
    config = PAPER_CONFIGS["resnet56-B"]
    for layer in prunable_convs(model):
        dense = STAGE_WIDTHS[layer.stage]
        expected = compounded(dense, config.conv_ratio(layer.conv_id), 2)
        assert layer.channels == expected, layer.name


def test_width_list_config_refuses_a_second_round() -> None:
    """VGG-16-A on an already-pruned VGG-16 is a one-line ValueError; the first round works."""
    model = build("vgg16", num_classes=10)
    model, _ = prune(model, "l1", PruneTarget(config="A"), PruneContext(X32))
    with pytest.raises(ValueError, match=r"config 'vgg16-A' lists absolute widths") as info:
        prune(model, "l1", PruneTarget(config="A"), PruneContext(X32))
    assert "\n" not in str(info.value) and "already has" in str(info.value)
    pruned = build("vgg16", num_classes=10)
    pruned, _ = prune(pruned, "l1", PruneTarget(ratio=0.1), PruneContext(X32))
    with pytest.raises(ValueError, match="applies once, to the unpruned model"):
        prune(pruned, "random", PruneTarget(config="vgg16-C"), PruneContext(X32))


def test_config_is_iterable() -> None:
    """Ratio configs (A–D, I) iterate, VGG width lists do not; misfits fail as resolve_config."""
    for model in ("resnet56", "resnet110"):
        assert configs_for(model)[-1] == f"{model}-I"
        assert all(config_is_iterable(name, model) for name in configs_for(model))
    assert not any(config_is_iterable(name, "vgg16") for name in configs_for("vgg16"))
    assert config_is_iterable("I", "resnet56") and not config_is_iterable("B", "vgg16")
    with pytest.raises(ValueError, match="valid configs for it: none"):
        config_is_iterable("I", "resnet20")
    assert PAPER_CONFIGS["resnet56-I"].rounds == 8 and PAPER_CONFIGS["resnet56-B"].rounds == 1
