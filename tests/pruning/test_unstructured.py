"""Unstructured pruning: global magnitude / random masks, iterative rounds, mask semantics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pruning.budget import count_macs_params
from pruning.methods import (
    UNSTRUCTURED,
    PruneContext,
    PruneReport,
    PruneTarget,
    apply_masks,
    needs_previous_weights,
    prune,
)
from pruning.methods.unstructured import scope_weights
from pruning.models import build

VGG11_NARROW = [16, "M", 32, "M", 32, 32, "M", 64, 64, "M", 64, 64]


def vgg() -> nn.Module:
    torch.manual_seed(0)
    return build("vgg11", num_classes=10, widths=VGG11_NARROW)


def ctx(
    masks=None,
    seed: int = 0,
    include_fc: bool = False,
    *,
    method: str | None = None,
    model: nn.Module | None = None,
) -> PruneContext:
    """A context; for a method that needs them, `model`'s weights one epoch earlier too."""
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    previous = None
    if method is not None and needs_previous_weights(method):
        assert model is not None
        generator = torch.Generator().manual_seed(seed + 100)
        previous = {
            n: p.detach() + 0.01 * torch.randn(p.shape, generator=generator)
            for n, p in model.named_parameters()
        }
    return PruneContext(
        example_inputs=x,
        seed=seed,
        masks=masks,
        include_fc=include_fc,
        previous_weights=previous,
    )


def scope_sparsity(model: nn.Module, include_fc: bool = False) -> float:
    weights = scope_weights(model, include_fc)
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    return zeros / sum(w.numel() for w in weights.values())


def rounds(method: str, ratio: float, k: int) -> tuple[nn.Module, PruneReport]:
    model, masks, report = vgg(), None, None
    for r in range(k):
        context = ctx(masks, seed=r, method=method, model=model)
        model, report = prune(model, method, PruneTarget(ratio=ratio), context)
        masks = report.masks
    assert report is not None
    return model, report


def test_magnitude_is_one_global_threshold() -> None:
    """Every kept conv weight is at least as large in |w| as every removed one, across layers."""
    model = vgg()
    before = {n: w.detach().clone() for n, w in scope_weights(model).items()}
    _, report = prune(model, "magnitude", PruneTarget(ratio=0.6), ctx())
    kept = torch.cat([before[n][report.masks[n]].abs() for n in before])
    removed = torch.cat([before[n][~report.masks[n]].abs() for n in before])
    assert removed.max() <= kept.min()
    per_layer = [float((~m).float().mean()) for m in report.masks.values()]
    assert max(per_layer) - min(per_layer) > 0.1  # global, not per-layer uniform
    assert scope_sparsity(model) == pytest.approx(0.6, abs=1e-4)


@pytest.mark.parametrize("method", UNSTRUCTURED)
def test_include_fc(method: str) -> None:
    """Linear weights are pruned only with include_fc; conv weights always."""
    model = vgg()
    _, conv_only = prune(model, method, PruneTarget(ratio=0.5), ctx(method=method, model=model))
    model = vgg()
    context = ctx(include_fc=True, method=method, model=model)
    model, with_fc = prune(model, method, PruneTarget(ratio=0.5), context)
    assert not any(k.startswith("classifier") for k in conv_only.masks)
    assert {"classifier.0.weight", "classifier.3.weight"} <= set(with_fc.masks)
    assert "features.0.weight" in conv_only.masks
    assert scope_sparsity(model, include_fc=True) == pytest.approx(0.5, abs=1e-4)


@pytest.mark.parametrize("method", UNSTRUCTURED)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_iterative_rounds_compound(method: str, k: int) -> None:
    """k rounds of 20 % of the remaining weights leave sparsity 1 − 0.8^k (±0.5 points)."""
    model, report = rounds(method, 0.2, k)
    expected = 1 - 0.8**k
    assert scope_sparsity(model) == pytest.approx(expected, abs=0.005)
    assert report.achieved_ratio == pytest.approx(0.2, abs=0.005)
    assert report.requested_ratio == 0.2
    masked = sum(int((~m).sum()) for m in report.masks.values())
    assert masked / sum(m.numel() for m in report.masks.values()) == pytest.approx(
        expected, abs=0.005
    )


@pytest.mark.parametrize("method", UNSTRUCTURED)
def test_masked_and_zero_weights_stay_pruned(method: str) -> None:
    """Weights masked by earlier rounds, or already zero, are never revived."""
    model = vgg()
    with torch.no_grad():
        model.features[0].weight[:4] = 0.0  # zero without a mask
    _, first = prune(model, method, PruneTarget(ratio=0.3), ctx(method=method, model=model))
    assert not first.masks["features.0.weight"][:4].any()
    with torch.no_grad():  # training moved masked weights: the mask still wins
        for name, w in scope_weights(model).items():
            w.add_(torch.randn_like(w) * (~first.masks[name]))
    context = ctx(first.masks, seed=1, method=method, model=model)
    _, second = prune(model, method, PruneTarget(ratio=0.3), context)
    for name, mask in first.masks.items():
        assert not second.masks[name][~mask].any(), name
    assert not model.features[0].weight[:4].any()


def test_masks_work_in_a_training_step() -> None:
    """Masks are bool, keyed by named_parameters(), shaped like the weights, and re-applicable."""
    model, report = prune(vgg(), "magnitude", PruneTarget(ratio=0.5), ctx())
    params = dict(model.named_parameters())
    for name, mask in report.masks.items():
        assert mask.dtype == torch.bool and mask.shape == params[name].shape
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    assert any(params[n][~m].any() for n, m in report.masks.items())
    apply_masks(model, report.masks)
    assert not any(params[n][~m].any() for n, m in report.masks.items())


def test_report_counts_nonzero_weights() -> None:
    """Reported params/MACs after pruning count only unmasked weights (pruning.budget)."""
    model = vgg()
    context = ctx()
    dense_macs, dense_params = count_macs_params(model, context.example_inputs)
    _, report = prune(model, "magnitude", PruneTarget(ratio=0.5), context)
    assert (report.macs_before, report.params_before) == (dense_macs, dense_params)
    removed = sum(int((~m).sum()) for m in report.masks.values())
    assert report.params_after == dense_params - removed
    assert report.macs_after < 0.8 * dense_macs
    assert report.sparsity_before == 0.0
    assert report.sparsity_after == pytest.approx(removed / _prunable_count(model))
    assert report.widths["features.0"] == 16


def _prunable_count(model: nn.Module) -> int:
    return sum(w.numel() for w in scope_weights(model, include_fc=True).values())


def test_random_unstructured_seeded_and_uniform() -> None:
    """random_unstructured depends on the seed and spreads evenly over layers."""
    _, a = prune(vgg(), "random_unstructured", PruneTarget(ratio=0.5), ctx(seed=0))
    _, b = prune(vgg(), "random_unstructured", PruneTarget(ratio=0.5), ctx(seed=1))
    assert any(not torch.equal(a.masks[n], b.masks[n]) for n in a.masks)
    for name, mask in a.masks.items():
        if mask.numel() > 10_000:
            assert float((~mask).float().mean()) == pytest.approx(0.5, abs=0.03), name


def test_bad_masks_and_structured_on_masks() -> None:
    """Masks naming unknown parameters, or structured pruning on masks, fail in one line."""
    with pytest.raises(ValueError, match=r"ctx\.masks names parameters this model lacks"):
        prune(vgg(), "magnitude", PruneTarget(ratio=0.5), ctx({"nope.weight": torch.ones(1)}))
    _, report = prune(vgg(), "magnitude", PruneTarget(ratio=0.5), ctx())
    with pytest.raises(ValueError, match="cannot prune a model that carries unstructured masks"):
        prune(vgg(), "l1", PruneTarget(ratio=0.5), ctx(report.masks))


def test_removed_fractions_compound_rounds_of_either_kind() -> None:
    """Unstructured reports are relative to the dense model, structured ones to the round's
    input; removed_fractions gives the fraction of the dense weights gone after each round."""
    from pruning.methods import removed_fractions

    masked = [
        {"sparsity_before": 0.0, "sparsity_after": 0.2},
        {"sparsity_before": 0.2, "sparsity_after": 0.36},
    ]
    cut = [
        {"sparsity_before": 0.0, "sparsity_after": 0.2},
        {"sparsity_before": 0.0, "sparsity_after": 0.2},
    ]
    assert removed_fractions(masked) == pytest.approx([0.2, 0.36])
    assert removed_fractions(cut) == pytest.approx([0.2, 0.36])
    assert removed_fractions([]) == []
