"""Named PFEC configs (ResNet-56/110-A…D, VGG-16-A…C): resolution and the published budgets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pruning.methods import (
    PAPER_CONFIGS,
    PAPER_REDUCTIONS,
    PruneContext,
    PruneTarget,
    configs_for,
    prune,
    resolve_config,
)
from pruning.methods.counting import conv_fc_macs_params
from pruning.methods.layers import conv_ids
from pruning.models import build

X32 = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def pruned(config: str, method: str = "l1", seed: int = 0) -> nn.Module:
    model = build(PAPER_CONFIGS[config].model, num_classes=10)
    model, _ = prune(model, method, PruneTarget(config=config), PruneContext(X32, seed=seed))
    return model


@pytest.mark.parametrize("config", list(PAPER_REDUCTIONS))
def test_reductions_match_the_paper(config: str) -> None:
    """MACs / params removed (conv + FC, CIFAR-10, 32×32) match docs/science.md within 1 point."""
    dense_macs, dense_params = conv_fc_macs_params(build(PAPER_CONFIGS[config].model, 10), X32)
    macs, params = conv_fc_macs_params(pruned(config), X32)
    macs_removed, params_removed = PAPER_REDUCTIONS[config]
    assert 100 * (1 - macs / dense_macs) == pytest.approx(macs_removed, abs=1.0)
    assert 100 * (1 - params / dense_params) == pytest.approx(params_removed, abs=1.0)


@pytest.mark.parametrize("config", ["resnet56-B", "vgg16-C"])
def test_random_uses_the_config_widths(config: str) -> None:
    """random under a config keeps exactly l1's per-layer widths."""
    widths = lambda m: [c.out_channels for c in m.modules() if isinstance(c, nn.Conv2d)]  # noqa: E731
    assert widths(pruned(config, "random")) == widths(pruned(config, "l1"))


def test_vgg_config_reaches_the_cfg_widths() -> None:
    """VGG-16-A's convs end with exactly the cfg's widths."""
    model = pruned("vgg16-A")
    got = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert got == PAPER_CONFIGS["vgg16-A"].conv_widths()
    assert model.eval()(X32).shape == (1, 10)


def test_resnet_config_skips_and_stages() -> None:
    """ResNet-56-B: skipped ids keep full width, others lose 60/30/10 % by stage."""
    model = pruned("resnet56-B")
    config = PAPER_CONFIGS["resnet56-B"]
    dense_widths = [c.out_channels for c in conv_ids(build("resnet56", 10))]
    for conv, conv_id in conv_ids(model).items():
        dense = dense_widths[conv_id - 1]
        if conv_id % 2 == 1 or conv_id in config.skip_ids:
            assert conv.out_channels == dense, conv_id
        else:
            assert conv.out_channels == int(dense * (1 - config.conv_ratio(conv_id))), conv_id
    assert model(X32).shape == (1, 10)


def test_every_one_shot_config_has_its_published_reductions() -> None:
    """PAPER_REDUCTIONS covers every config but the iterative ones (no source gives a round's)."""
    assert set(PAPER_REDUCTIONS) == {n for n, c in PAPER_CONFIGS.items() if c.rounds == 1}
    assert {n for n, c in PAPER_CONFIGS.items() if c.rounds > 1} == {"resnet56-I", "resnet110-I"}


def test_config_name_resolution() -> None:
    """Full names in any spelling, or a letter resolved against the model, give the config."""
    assert resolve_config("B", "resnet56").name == "resnet56-B"
    assert resolve_config("ResNet-56-B", "resnet56").name == "resnet56-B"
    assert resolve_config("b", "resnet110").name == "resnet110-B"
    assert resolve_config("VGG-16-A", "vgg16").name == "vgg16-A"
    assert configs_for("vgg16") == ["vgg16-A", "vgg16-B", "vgg16-C"]
    model = build("resnet56", num_classes=10)
    _, report = prune(model, "l1", PruneTarget(config="C"), PruneContext(X32))
    assert report.config == "resnet56-C"
    assert report.requested_ratio < report.achieved_ratio < report.requested_ratio + 0.02


@pytest.mark.parametrize(
    ("model", "config", "valid"),
    [
        ("resnet56", "vgg16-A", "resnet56-A, resnet56-B, resnet56-C, resnet56-D"),
        ("vgg16", "D", "vgg16-A, vgg16-B, vgg16-C"),
        ("resnet20", "resnet56-B", "none"),
        ("resnet56", "Z", "resnet56-A"),
    ],
)
def test_config_that_does_not_fit(model: str, config: str, valid: str) -> None:
    """A config that does not fit the model is a one-line ValueError listing the valid ones."""
    with pytest.raises(ValueError, match=f"config '{config}'.*valid configs for it: {valid}"):
        prune(build(model, 10), "l1", PruneTarget(config=config), PruneContext(X32))


def test_config_needs_dense_widths() -> None:
    """A VGG-16 narrower than the config cannot be pruned up to it."""
    narrow = [16, 16, "M", 32, 32, "M", 64, 64, 64, "M", 64, 64, 64, "M", 64, 64, 64]
    model = build("vgg16", num_classes=10, widths=narrow)
    with pytest.raises(ValueError, match=r"wants 32 filters in features\.0, which has only 16"):
        prune(model, "l1", PruneTarget(config="A"), PruneContext(X32))
