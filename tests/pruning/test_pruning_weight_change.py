"""weight_change (SILO's criterion): remove the weights that moved least over the last epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pruning.methods import (
    METHODS,
    UNSTRUCTURED,
    PruneContext,
    PruneTarget,
    needs_previous_weights,
    prune,
)
from pruning.methods.unstructured import scope_weights
from pruning.models import build
from pruning.registry import UnknownNameError

X = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def model_and_previous(seed: int = 0) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """A small CNN and its weights "one epoch earlier": each weight moved by its own amount,
    later layers more (as a global ranking must notice)."""
    torch.manual_seed(seed)
    model = build("smallcnn", num_classes=10, in_channels=1, image_size=8)
    generator = torch.Generator().manual_seed(seed + 1)
    previous = {
        n: p.detach() - torch.randn(p.shape, generator=generator) * 0.05 * (i + 1)
        for i, (n, p) in enumerate(model.named_parameters())
    }
    return model, previous


def moved(model: nn.Module, previous: dict[str, torch.Tensor], include_fc: bool = False):
    return {
        n: (w.detach() - previous[n]).abs() for n, w in scope_weights(model, include_fc).items()
    }


def test_registered_and_needs_previous_weights() -> None:
    """weight_change is a registered unstructured method; only it needs previous weights."""
    assert "weight_change" in METHODS and "weight_change" in UNSTRUCTURED
    assert needs_previous_weights("weight_change")
    assert not any(needs_previous_weights(m) for m in METHODS.names() if m != "weight_change")
    with pytest.raises(UnknownNameError):
        needs_previous_weights("movement")


def test_removes_the_least_moved_weights_globally() -> None:
    """Every removed weight moved no more than every kept one, across layers; ratio exact."""
    model, previous = model_and_previous()
    delta = moved(model, previous)
    ctx = PruneContext(X, previous_weights=previous)
    _, report = prune(model, "weight_change", PruneTarget(ratio=0.4), ctx)
    kept = torch.cat([delta[n][report.masks[n]] for n in delta])
    removed = torch.cat([delta[n][~report.masks[n]] for n in delta])
    assert removed.max() <= kept.min()
    assert removed.numel() == round(0.4 * (removed.numel() + kept.numel()))
    per_layer = [float((~m).float().mean()) for m in report.masks.values()]
    assert max(per_layer) - min(per_layer) > 0.05  # one global ranking, not per layer
    for name, weight in scope_weights(model).items():
        assert not weight[~report.masks[name]].any(), name


def test_matches_silos_percentile_rule() -> None:
    """Same mask as SILO's np.percentile(|Δw| of alive weights) rule, ±1 weight at the cut."""
    model, previous = model_and_previous(seed=3)
    weights = {n: w.detach().clone() for n, w in scope_weights(model).items()}
    ctx = PruneContext(X, previous_weights=previous)
    _, report = prune(model, "weight_change", PruneTarget(ratio=0.2), ctx)
    alive = np.hstack([w.numpy()[np.nonzero(w.numpy())] for w in weights.values()])
    alive_prev = np.hstack(
        [previous[n].numpy()[np.nonzero(w.numpy())] for n, w in weights.items()]
    )
    threshold = np.percentile(np.abs(alive - alive_prev), 20)
    differ = 0
    for name, w in weights.items():
        silo_mask = np.where(np.abs(w.numpy() - previous[name].numpy()) <= threshold, 0, 1)
        differ += int((silo_mask != report.masks[name].numpy()).sum())
    assert differ <= 1


def test_unlike_magnitude_prunes_large_weights_that_stood_still() -> None:
    """A large weight that did not move goes first; magnitude would keep it."""
    model, previous = model_and_previous()
    conv = model.features[0]
    with torch.no_grad():
        conv.weight[0, 0, 0, 0] = 5.0
    previous["features.0.weight"][0, 0, 0, 0] = 5.0
    ctx = PruneContext(X, previous_weights=previous)
    _, report = prune(model, "weight_change", PruneTarget(ratio=0.01), ctx)
    assert not report.masks["features.0.weight"][0, 0, 0, 0]
    model, _ = model_and_previous()
    with torch.no_grad():
        model.features[0].weight[0, 0, 0, 0] = 5.0
    _, by_magnitude = prune(model, "magnitude", PruneTarget(ratio=0.01), PruneContext(X))
    assert by_magnitude.masks["features.0.weight"][0, 0, 0, 0]


def test_respects_earlier_masks_and_counts_the_remaining_weights() -> None:
    """Round 2 keeps round 1's pruned weights pruned and removes 30 % of the remaining ones."""
    model, previous = model_and_previous()
    _, first = prune(
        model, "weight_change", PruneTarget(ratio=0.5), PruneContext(X, previous_weights=previous)
    )
    with torch.no_grad():  # another epoch: weights move again (pruned ones would, unmasked)
        for w in model.parameters():
            w.add_(torch.randn_like(w) * 0.01)
    previous = {n: p.detach() - 0.02 * torch.rand_like(p) for n, p in model.named_parameters()}
    ctx = PruneContext(X, masks=first.masks, previous_weights=previous, seed=1)
    _, second = prune(model, "weight_change", PruneTarget(ratio=0.3), ctx)
    for name, mask in first.masks.items():
        assert not second.masks[name][~mask].any(), name
    remaining = sum(int(m.sum()) for m in first.masks.values())
    removed_now = remaining - sum(int(m.sum()) for m in second.masks.values())
    assert removed_now == round(0.3 * remaining)
    assert second.achieved_ratio == pytest.approx(0.3, abs=1e-3)


def test_include_fc() -> None:
    """Linear weights are ranked and pruned only with include_fc."""
    model, previous = model_and_previous()
    ctx = PruneContext(X, previous_weights=previous)
    _, conv_only = prune(model, "weight_change", PruneTarget(ratio=0.5), ctx)
    assert "fc.weight" not in conv_only.masks and "features.0.weight" in conv_only.masks
    model, previous = model_and_previous()
    ctx = PruneContext(X, previous_weights=previous, include_fc=True)
    _, with_fc = prune(model, "weight_change", PruneTarget(ratio=0.5), ctx)
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert {f"{n}.weight" for n in linear} <= set(with_fc.masks)


def test_missing_or_mismatched_previous_weights_are_one_line_errors() -> None:
    """No previous_weights, a missing entry or a wrong shape: ValueError naming the field."""
    model, previous = model_and_previous()
    with pytest.raises(ValueError, match=r"weight_change needs ctx\.previous_weights"):
        prune(model, "weight_change", PruneTarget(ratio=0.5), PruneContext(X))
    partial = {k: v for k, v in previous.items() if k != "features.0.weight"}
    with pytest.raises(ValueError, match=r"ctx\.previous_weights lacks features\.0\.weight"):
        prune(
            model,
            "weight_change",
            PruneTarget(ratio=0.5),
            PruneContext(X, previous_weights=partial),
        )
    wrong = {**previous, "features.0.weight": previous["features.0.weight"][:1]}
    with pytest.raises(ValueError, match=r"previous_weights\['features\.0\.weight'\] has shape"):
        prune(
            model, "weight_change", PruneTarget(ratio=0.5), PruneContext(X, previous_weights=wrong)
        )
    assert all(not (w == 0).any() for w in scope_weights(model).values())  # nothing was pruned
