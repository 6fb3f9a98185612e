"""replay_pruning: cut another dense-architecture model exactly as recorded pruning cut one."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from pruning.methods import PruneContext, PruneTarget, prune, replay_pruning
from pruning.methods.layers import prunable_convs
from pruning.models import build

VGG11_NARROW = [16, "M", 32, "M", 32, 32, "M", 64, 64, "M", 64, 64]
CASES: dict[str, tuple[dict, tuple[int, ...]]] = {
    "resnet20": ({"name": "resnet20", "num_classes": 10}, (4, 3, 32, 32)),
    "vgg11": ({"name": "vgg11", "num_classes": 10, "widths": VGG11_NARROW}, (4, 3, 32, 32)),
    "smallcnn1d": (
        {"name": "smallcnn", "num_classes": 10, "in_channels": 1, "image_size": 40, "dims": 1},
        (4, 1, 40),
    ),
}
# The first prunable conv of each case, its BN, and the conv that consumes its output channels.
FIRST_BN_CONSUMER = {
    "resnet20": ("layer1.0.conv1", "layer1.0.bn1", "layer1.0.conv2"),
    "vgg11": ("features.0", "features.1", "features.4"),
    "smallcnn1d": ("features.0", "features.1", "features.3"),
}


def dense(case: str, seed: int) -> nn.Module:
    """A dense model of the case whose BN scales/shifts and running stats look trained."""
    torch.manual_seed(seed)
    model = build(**CASES[case][0])
    generator = torch.Generator().manual_seed(seed + 10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.05)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator))
    return model


def context(case: str, seed: int) -> PruneContext:
    shape = CASES[case][1]
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator)
    batches = [(torch.randn(shape, generator=generator), torch.randint(0, 10, (shape[0],)))]
    return PruneContext(example_inputs=x, seed=seed, loss_batches=lambda: batches)


def prune_rounds(model: nn.Module, case: str, method: str, targets: list[PruneTarget]):
    reports = []
    for k, target in enumerate(targets):
        model, report = prune(model, method, target, context(case, k))
        reports.append(report)
    return model, reports


def assert_same_tensors(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def global_kept(reports: list, layer: str) -> torch.Tensor:
    """Indices into the *dense* layer of the filters that survive every round."""
    index = torch.as_tensor(reports[0]["kept"][layer])
    for report in reports[1:]:
        index = index[torch.as_tensor(report["kept"][layer])]
    return index


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("method", ["l1", "random", "taylor", "slimming"])
@pytest.mark.parametrize("rounds", [1, 3])
def test_replay_reproduces_the_pruned_model(case: str, method: str, rounds: int) -> None:
    """Replaying onto a copy of the dense model gives the pruned model's tensors; onto another
    dense model, that model's weights at the kept filters, in the pruned shapes."""
    original = dense(case, seed=0)
    same, other = copy.deepcopy(original), dense(case, seed=1)
    pruned, reports = prune_rounds(original, case, method, [PruneTarget(ratio=0.3)] * rounds)
    as_json = [json.loads(json.dumps(r.to_dict())) for r in reports]
    assert_same_tensors(replay_pruning(same, reports), pruned)
    replayed = replay_pruning(copy.deepcopy(other), as_json)
    shapes = {k: v.shape for k, v in pruned.state_dict().items()}
    assert {k: v.shape for k, v in replayed.state_dict().items()} == shapes
    first, bn, consumer = FIRST_BN_CONSUMER[case]
    kept = global_kept(as_json, first)
    got, source = dict(replayed.named_modules()), dict(other.named_modules())
    # The first prunable conv reads the unpruned stem/input: only its filters are cut.
    assert torch.equal(got[first].weight, source[first].weight[kept])
    assert torch.equal(got[bn].running_mean, source[bn].running_mean[kept])
    assert torch.equal(got[bn].weight, source[bn].weight[kept])
    consumer_in = source[consumer].weight[:, kept]
    if case != "resnet20":  # a plain net's consumer is itself pruned: its filters are cut too
        consumer_in = consumer_in[global_kept(as_json, consumer)]
    assert torch.equal(got[consumer].weight, consumer_in)


def test_replay_of_a_paper_config_and_of_iterative_rounds_on_resnet56() -> None:
    """resnet56-B once, then resnet56-I twice: replay matches shapes and the copy's tensors."""
    original = build("resnet56", num_classes=10)
    other = build("resnet56", num_classes=10)
    same = copy.deepcopy(original)
    x = torch.randn(1, 3, 32, 32)
    reports = []
    for config in ("B", "I", "I"):
        original, report = prune(original, "l1", PruneTarget(config=config), PruneContext(x))
        reports.append(report)
    assert_same_tensors(replay_pruning(same, reports, example_inputs=x), original)
    replayed = replay_pruning(other, [r.to_dict() for r in reports])
    assert [lay.channels for lay in prunable_convs(replayed)] == [
        lay.channels for lay in prunable_convs(original)
    ]
    assert replayed(x).shape == (1, 10)


def test_unstructured_replay_is_the_dense_weights_times_the_mask() -> None:
    """For unstructured rounds the replayed model is dense_k ⊙ mask (masks from the report or
    given), and dict reports without masks= are refused."""
    original, other = dense("vgg11", seed=0), dense("vgg11", seed=1)
    expected = {n: p.detach().clone() for n, p in other.named_parameters()}
    _, reports = prune_rounds(original, "vgg11", "magnitude", [PruneTarget(ratio=0.5)] * 2)
    masks = reports[-1].masks
    replayed = replay_pruning(copy.deepcopy(other), reports)
    for name, param in replayed.named_parameters():
        mask = masks[name] if name in masks else torch.ones_like(param, dtype=torch.bool)
        assert torch.equal(param, expected[name] * mask), name
    as_dicts = [r.to_dict() for r in reports]
    with pytest.raises(ValueError, match="pass masks="):
        replay_pruning(copy.deepcopy(other), as_dicts)
    again = replay_pruning(copy.deepcopy(other), as_dicts, masks=masks)
    assert_same_tensors(again, replayed)


def test_report_records_kept_indices_as_json() -> None:
    """A structured report's kept indices are sorted, JSON-able and match its widths."""
    _, reports = prune_rounds(dense("resnet20", 0), "resnet20", "l1", [PruneTarget(ratio=0.5)])
    data = json.loads(json.dumps(reports[0].to_dict()))
    assert set(data["kept"]) == {lay.name for lay in prunable_convs(build("resnet20", 10))}
    for name, kept in data["kept"].items():
        assert kept == sorted(set(kept)) and len(kept) == data["widths"][name]
    _, unstructured = prune_rounds(
        dense("resnet20", 0), "resnet20", "magnitude", [PruneTarget(ratio=0.5)]
    )
    assert unstructured[0].kept is None and unstructured[0].to_dict()["kept"] is None


def test_replay_refuses_mismatched_reports() -> None:
    """Missing kept, another architecture or bad indices: one-line ValueErrors."""
    _, reports = prune_rounds(dense("resnet20", 0), "resnet20", "l1", [PruneTarget(ratio=0.5)])
    data = reports[0].to_dict()
    with pytest.raises(ValueError, match="needs 'kept'"):
        replay_pruning(dense("resnet20", 1), [{**data, "kept": None}])
    with pytest.raises(ValueError, match="do not match this model's"):
        replay_pruning(build("resnet32", 10), [data])
    bad = {**data, "kept": {**data["kept"], "layer1.0.conv1": [3, 1]}}
    with pytest.raises(ValueError, match=r"kept\['layer1\.0\.conv1'\]: indices must be sorted"):
        replay_pruning(dense("resnet20", 1), [bad])
    with pytest.raises(ValueError, match="kind must be"):
        replay_pruning(dense("resnet20", 1), [{**data, "kind": "other"}])
    wrong_widths = {**data, "widths": {**data["widths"], "layer1.0.conv1": 9}}
    with pytest.raises(ValueError, match="conv widths differ from the report's"):
        replay_pruning(dense("resnet20", 1), [wrong_widths])
    twice = dense("resnet20", 1)
    replay_pruning(twice, [data])
    with pytest.raises(ValueError, match=r"indices must be sorted, distinct and in \[0, \d+\)"):
        replay_pruning(twice, [data])  # already cut: the indices exceed the channels left
