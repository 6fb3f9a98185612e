"""Re-initialisation schemes of pruning/reinit.py: the zoo's (default) and SILO's Xavier."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pruning.methods import PruneContext, PruneTarget, prune
from pruning.models import build
from pruning.reinit import mask_weights, random_init

X = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
VGG11_NARROW = [16, "M", 32, "M", 32, 32, "M", 64, 64, "M", 64, 64]


def pruned_resnet20() -> nn.Module:
    torch.manual_seed(0)
    model, _ = prune(build("resnet20", 10), "l1", PruneTarget(ratio=0.5), PruneContext(X))
    return model


def xavier_std(weight: torch.Tensor) -> float:
    """√(2/(fan_in + fan_out)), fans counted as torch.nn.init counts them."""
    receptive = weight[0][0].numel() if weight.dim() > 2 else 1
    return math.sqrt(2.0 / ((weight.shape[0] + weight.shape[1]) * receptive))


def shapes(model: nn.Module) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in model.state_dict().items()}


def test_xavier_is_seeded_and_keeps_the_pruned_shapes() -> None:
    """Same seed, same weights; another seed, other weights; shapes are the pruned ones."""
    pruned = pruned_resnet20()
    a, b = random_init(pruned, 3, scheme="xavier"), random_init(pruned, 3, scheme="xavier")
    c = random_init(pruned, 4, scheme="xavier")
    assert shapes(a) == shapes(pruned)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.layer3[0].conv2.weight, c.layer3[0].conv2.weight)
    assert not torch.equal(a.layer3[0].conv2.weight, pruned.layer3[0].conv2.weight)
    assert a(X).shape == (1, 10)


def test_xavier_statistics_follow_silos_weight_init() -> None:
    """Conv/linear std = √(2/(fan_in + fan_out)) within 10 %; BN γ ~ N(1, 0.02), β = 0, fresh
    running stats; linear biases N(0, 1) as SILO's init.normal_ draws them."""
    model = random_init(build("vgg11", 10, widths=VGG11_NARROW), 0, scheme="xavier")
    big = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear) and m.weight.numel() >= 20_000:
            weight = m.weight.detach()
            expected = xavier_std(weight)
            assert float(weight.std()) == pytest.approx(expected, rel=0.1)
            assert abs(float(weight.mean())) < 0.1 * expected
            big += 1
    assert big >= 4  # the 64-wide convs and the hidden Linear
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    gammas = torch.cat([m.weight.detach() for m in bns])
    assert float(gammas.mean()) == pytest.approx(1.0, abs=0.005)
    assert float(gammas.std()) == pytest.approx(0.02, rel=0.15)
    assert all(not m.bias.any() and not m.running_mean.any() for m in bns)
    assert all(torch.equal(m.running_var, torch.ones_like(m.running_var)) for m in bns)
    hidden = model.classifier[0].bias.detach()  # 512 draws
    assert float(hidden.std()) == pytest.approx(1.0, rel=0.15)


def test_xavier_1d_convs_get_xavier_too() -> None:
    """A 1-D model's convs get Xavier-normal (not SILO's N(0, 1) Conv1d branch)."""
    model = build("smallcnn", 10, in_channels=1, image_size=40, dims=1, widths=[64, 64, 64])
    fresh = random_init(model, 0, scheme="xavier")
    conv = fresh.features[3]
    assert isinstance(conv, nn.Conv1d)
    weight = conv.weight.detach()
    assert float(weight.std()) == pytest.approx(xavier_std(weight), rel=0.1)


def test_zoo_stays_the_default() -> None:
    """scheme defaults to "zoo": the same draws as before the schemes existed."""
    pruned = pruned_resnet20()
    default, zoo = random_init(pruned, 5), random_init(pruned, 5, scheme="zoo")
    assert all(torch.equal(v, zoo.state_dict()[k]) for k, v in default.state_dict().items())
    xavier = random_init(pruned, 5, scheme="xavier")
    assert not torch.equal(default.conv1.weight, xavier.conv1.weight)


@pytest.mark.parametrize("scheme", ["zoo", "xavier"])
def test_masks_stay_applied_after_reinit(scheme: str) -> None:
    """With masks, every masked weight is zero after the redraw and the others are not."""
    model = build("vgg11", 10, widths=VGG11_NARROW)
    model, report = prune(model, "magnitude", PruneTarget(ratio=0.6), PruneContext(X))
    fresh = random_init(model, 1, scheme=scheme, masks=report.masks)
    params = dict(fresh.named_parameters())
    for name, mask in report.masks.items():
        assert not params[name][~mask].any(), name
        assert params[name][mask].ne(0).all(), name
    unmasked = random_init(model, 1, scheme=scheme)
    assert unmasked.features[0].weight.ne(0).all()


def test_bad_scheme_and_bad_masks_are_one_line_errors() -> None:
    """An unknown scheme names the valid ones; a mask for no parameter is refused."""
    model = build("smallcnn", 10, in_channels=1, image_size=8)
    with pytest.raises(ValueError, match="scheme must be one of zoo, xavier; got 'he'"):
        random_init(model, 0, scheme="he")
    with pytest.raises(ValueError, match="not a parameter of the model"):
        mask_weights(model, {"nope.weight": torch.ones(1, dtype=torch.bool)})
