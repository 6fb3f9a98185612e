"""Contract suite: every registered pruning method on every small model family."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pruning.methods import (
    METHODS,
    STRUCTURED,
    UNSTRUCTURED,
    PruneContext,
    PruneTarget,
    apply_masks,
    is_structured,
    needs_previous_weights,
    prune,
)
from pruning.methods.layers import prunable_convs
from pruning.models import build
from pruning.registry import UnknownNameError

VGG11_NARROW = [16, "M", 32, "M", 32, 32, "M", 64, 64, "M", 64, 64]
# name → (build kwargs, input shape)
CASES: dict[str, tuple[dict, tuple[int, ...]]] = {
    "resnet20": ({"name": "resnet20", "num_classes": 10}, (4, 3, 32, 32)),
    "vgg11": ({"name": "vgg11", "num_classes": 10, "widths": VGG11_NARROW}, (4, 3, 32, 32)),
    "smallcnn1d": (
        {"name": "smallcnn", "num_classes": 10, "in_channels": 1, "image_size": 40, "dims": 1},
        (4, 1, 40),
    ),
    "smallcnn2d": (
        {"name": "smallcnn", "num_classes": 10, "in_channels": 1, "image_size": 8, "dims": 2},
        (4, 1, 8, 8),
    ),
}


def make_model(case: str) -> nn.Module:
    """A model whose BN scales and shifts look trained (distinct, not all equal)."""
    torch.manual_seed(0)
    model = build(**CASES[case][0])
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.05)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
    return model


def batches_for(shape: tuple[int, ...]) -> Callable[[], list[tuple[torch.Tensor, torch.Tensor]]]:
    """A loss_batches callable: two fixed random labelled batches."""

    def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(2)
        return [
            (torch.randn(shape, generator=generator), torch.randint(0, 10, (shape[0],)))
            for _ in range(2)
        ]

    return batches


def previous_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter as it was "one epoch earlier": a fixed random perturbation of it."""
    generator = torch.Generator().manual_seed(4)
    return {
        name: p.detach() + 0.01 * torch.randn(p.shape, generator=generator)
        for name, p in model.named_parameters()
    }


def context(
    case: str, seed: int = 0, *, method: str | None = None, model: nn.Module | None = None
) -> PruneContext:
    """The case's context; for a method that needs them, the model's previous weights too."""
    shape = CASES[case][1]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    previous = None
    if method is not None and needs_previous_weights(method):
        assert model is not None, "a method that needs previous weights needs the model"
        previous = previous_weights(model)
    return PruneContext(
        example_inputs=x, seed=seed, loss_batches=batches_for(shape), previous_weights=previous
    )


def run(case: str, method: str, ratio: float = 0.5, seed: int = 0):
    model = make_model(case)
    ctx = context(case, seed, method=method, model=model)
    model, report = prune(model, method, PruneTarget(ratio=ratio), ctx)
    return model, report, ctx


PAIRS = [(m, c) for m in METHODS.names() for c in CASES]


@pytest.mark.parametrize(("method", "case"), PAIRS)
def test_forward_and_report(method: str, case: str) -> None:
    """The pruned model runs forward and its report is consistent and JSON-able."""
    model, report, ctx = run(case, method)
    assert model(ctx.example_inputs).shape == (ctx.example_inputs.shape[0], 10)
    assert report.method == method
    assert report.kind == ("structured" if is_structured(method) else "unstructured")
    assert report.requested_ratio == 0.5
    assert report.achieved_ratio == pytest.approx(0.5, abs=0.05)
    assert report.macs_after < report.macs_before
    assert report.sparsity_after > report.sparsity_before
    if is_structured(method):
        assert report.params_after < report.params_before
        assert report.masks is None
    else:
        assert set(report.masks) <= dict(model.named_parameters()).keys()
    data = json.loads(json.dumps(report.to_dict()))
    assert "masks" not in data and data["method"] == method


@pytest.mark.parametrize(("method", "case"), PAIRS)
def test_same_seed_same_result(method: str, case: str) -> None:
    """Pruning twice with the same seed gives identical weights, widths and masks."""
    first, report_a, _ = run(case, method, seed=7)
    second, report_b, _ = run(case, method, seed=7)
    assert report_a.to_dict() == report_b.to_dict()
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    for name in report_a.masks or {}:
        assert torch.equal(report_a.masks[name], report_b.masks[name])


@pytest.mark.parametrize(("method", "case"), PAIRS)
def test_retrains_one_sgd_step(method: str, case: str) -> None:
    """A fresh optimizer takes one SGD step on the pruned model; masked weights stay zero."""
    model, report, ctx = run(case, method)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = batches_for(tuple(ctx.example_inputs.shape))()[0]
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    if report.masks:
        apply_masks(model, report.masks)
        params = dict(model.named_parameters())
        for name, mask in report.masks.items():
            assert not params[name][~mask].any(), name
    assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    "target", [PruneTarget(ratio=0.3), PruneTarget(ratio=0.7)], ids=["r0.3", "r0.7"]
)
def test_random_matches_l1_widths(case: str, target: PruneTarget) -> None:
    """random keeps exactly l1's per-layer filter counts but picks other filters."""
    l1_model, l1_report = prune(make_model(case), "l1", target, context(case))
    rnd_model, rnd_report = prune(make_model(case), "random", target, context(case))
    assert rnd_report.widths == l1_report.widths
    assert rnd_report.params_after == l1_report.params_after
    differs = any(
        not torch.equal(a, b)
        for a, b in zip(
            l1_model.state_dict().values(), rnd_model.state_dict().values(), strict=True
        )
    )
    assert differs


def test_random_depends_on_seed() -> None:
    """Different seeds choose different random filters."""
    a, _, _ = run("vgg11", "random", seed=0)
    b, _, _ = run("vgg11", "random", seed=1)
    assert not torch.equal(a.features[0].weight, b.features[0].weight)


@pytest.mark.parametrize("criterion", ["l1", "l2"])
def test_norm_criteria_keep_largest_filters(criterion: str) -> None:
    """l1/l2 keep, per conv, the filters of largest norm (computed on the unpruned model)."""
    model = make_model("vgg11")
    p = 1 if criterion == "l1" else 2
    originals = [lay.conv.weight.detach().clone() for lay in prunable_convs(model)]
    prune(model, criterion, PruneTarget(ratio=0.5), context("vgg11"))
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    previous = None
    for before, conv in zip(originals, convs, strict=True):
        norms = before.flatten(1).norm(p=p, dim=1)
        keep = torch.sort(torch.argsort(norms, descending=True)[: len(norms) // 2]).values
        expected = before[keep] if previous is None else before[keep][:, previous]
        assert torch.equal(conv.weight, expected)
        previous = keep


def test_stage_ratios_resnet() -> None:
    """stage_ratios prune each ResNet stage's block-first convs by its own ratio."""
    model, report = prune(
        make_model("resnet20"),
        "l1",
        PruneTarget(stage_ratios=(0.5, 0.25, 0.0)),
        context("resnet20"),
    )
    firsts = {lay.name: lay.channels for lay in prunable_convs(model)}
    assert {w for n, w in firsts.items() if n.startswith("layer1")} == {8}
    assert {w for n, w in firsts.items() if n.startswith("layer2")} == {24}
    assert {w for n, w in firsts.items() if n.startswith("layer3")} == {64}
    assert report.widths["conv1"] == 16 and report.widths["layer1.0.conv2"] == 16
    assert report.requested_ratio == pytest.approx((16 * 3 * 0.5 + 32 * 3 * 0.25) / (112 * 3))


def test_stage_ratios_vgg_pooling_stages() -> None:
    """VGG stages are the pooling stages (vgg11: 5)."""
    ratios = (0.5, 0.5, 0.25, 0.0, 0.0)
    _, report = prune(
        make_model("vgg11"), "l1", PruneTarget(stage_ratios=ratios), context("vgg11")
    )
    assert list(report.widths.values()) == [8, 16, 24, 24, 64, 64, 64, 64]
    with pytest.raises(ValueError, match=r"stage_ratios has 3 entries.*5 stages"):
        prune(make_model("vgg11"), "l1", PruneTarget(stage_ratios=(0.1,) * 3), context("vgg11"))


def test_resnet_prunes_only_block_internal_convs() -> None:
    """CIFAR ResNet: only block-first convs shrink; stem, second convs keep their widths."""
    dense = {
        n: m.out_channels
        for n, m in make_model("resnet20").named_modules()
        if isinstance(m, nn.Conv2d)
    }
    _, report, _ = run("resnet20", "l2", ratio=0.5)
    for name, width in report.widths.items():
        block_first = name.startswith("layer") and name.endswith("conv1")
        assert width == (dense[name] // 2 if block_first else dense[name]), name


def test_torchvision_bottleneck_internal_convs() -> None:
    """torchvision ResNet-50: conv1 and conv2 of each Bottleneck are prunable, conv3 is not."""
    model = build("resnet50", num_classes=10, image_size=32)
    names = [lay.name for lay in prunable_convs(model)]
    assert "layer1.0.conv1" in names and "layer1.0.conv2" in names
    assert not any(n.endswith("conv3") or "downsample" in n or n == "conv1" for n in names)
    x = torch.randn(1, 3, 32, 32)
    model, report = prune(model, "l1", PruneTarget(ratio=0.5), PruneContext(x))
    assert report.widths["layer1.0.conv2"] == 32 and report.widths["layer1.0.conv3"] == 256
    assert model(x).shape == (1, 10)


def test_slimming_global_threshold() -> None:
    """slimming removes the int(N·ratio) smallest |γ| globally and never empties a layer."""
    model = make_model("vgg11")
    with torch.no_grad():  # one layer entirely below every other γ: it must keep one channel
        prunable_convs(model)[2].bn.weight.mul_(1e-3)
    gammas = [lay.bn.weight.detach().abs().clone() for lay in prunable_convs(model)]
    flat = torch.cat(gammas)
    threshold = torch.sort(flat).values[int(len(flat) * 0.4)]  # smallest kept |γ|
    _, report = prune(model, "slimming", PruneTarget(ratio=0.4), context("vgg11"))
    widths = list(report.widths.values())
    assert widths[2] == 1
    for i, (g, width) in enumerate(zip(gammas, widths, strict=True)):
        if i != 2:
            assert width == int((g >= threshold).sum())
    removed = len(flat) - sum(widths)
    assert removed == int(len(flat) * 0.4) - 1
    assert report.achieved_ratio == pytest.approx(removed / len(flat))


def test_structured_keeps_bn_running_stats() -> None:
    """Tracing and surgery do not update BN running statistics of kept channels."""
    model = make_model("smallcnn2d")
    before = model.features[1].running_var.clone()
    prune(model, "l1", PruneTarget(ratio=0.0), context("smallcnn2d"))
    assert torch.equal(model.features[1].running_var, before)
    model = make_model("resnet20")
    stats = {k: v.clone() for k, v in model.named_buffers()}
    prune(model, "taylor", PruneTarget(ratio=0.0), context("resnet20"))
    for key, value in model.named_buffers():
        assert torch.equal(value, stats[key]), key


def test_target_validation() -> None:
    """Bad ratios and targets fail with one-line ValueErrors naming the argument."""
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="ratio must be in"):
            PruneTarget(ratio=bad)
    with pytest.raises(ValueError, match="stage_ratios must be in"):
        PruneTarget(stage_ratios=(0.5, 1.0))
    with pytest.raises(ValueError, match="exactly one of ratio, stage_ratios, config"):
        PruneTarget(ratio=0.5, config="B")
    with pytest.raises(ValueError, match="exactly one"):
        PruneTarget()


def test_method_errors() -> None:
    """Unknown methods, missing inputs and unsupported targets are one-line ValueErrors."""
    with pytest.raises(UnknownNameError, match="valid choices: l1, l2"):
        run("smallcnn2d", "pfec")
    ctx = context("smallcnn2d")
    no_batches = PruneContext(example_inputs=ctx.example_inputs)
    with pytest.raises(ValueError, match=r"taylor needs ctx\.loss_batches"):
        prune(make_model("smallcnn2d"), "taylor", PruneTarget(ratio=0.5), no_batches)
    for method in ("slimming", *UNSTRUCTURED):
        with pytest.raises(ValueError, match="takes a uniform ratio"):
            prune(make_model("smallcnn2d"), method, PruneTarget(stage_ratios=(0.5,) * 3), ctx)
    assert set(STRUCTURED) | set(UNSTRUCTURED) == set(METHODS.names())


def test_prune_returns_same_object() -> None:
    """prune() works in place and returns the model it was given."""
    model = make_model("smallcnn1d")
    out, _ = prune(model, "l1", PruneTarget(ratio=0.25), context("smallcnn1d"))
    assert out is model


def test_taylor_reads_at_most_taylor_batches() -> None:
    """taylor stops after ctx.taylor_batches batches, so an endless iterator is fine."""
    seen = []

    def endless():
        generator = torch.Generator().manual_seed(0)
        while True:
            seen.append(1)
            yield torch.randn(4, 1, 8, 8, generator=generator), torch.randint(0, 10, (4,))

    ctx = context("smallcnn2d")
    ctx = PruneContext(ctx.example_inputs, loss_batches=endless, taylor_batches=3)
    prune(make_model("smallcnn2d"), "taylor", PruneTarget(ratio=0.5), ctx)
    assert len(seen) == 3


def test_context_for_model() -> None:
    """PruneContext.for_model makes a fixed example batch of the data shape."""
    model = make_model("smallcnn1d")
    ctx = PruneContext.for_model(model, shape=(1, 40), num_classes=10, seed=3, include_fc=True)
    assert ctx.example_inputs.shape == (1, 1, 40) and ctx.seed == 3 and ctx.include_fc
    again = PruneContext.for_model(model, shape=(1, 40))
    assert torch.equal(ctx.example_inputs, again.example_inputs)
    _, report = prune(model, "l1", PruneTarget(ratio=0.5), ctx)
    assert report.achieved_ratio == 0.5
