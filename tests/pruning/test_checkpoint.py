"""Checkpoints: pruned models with masks round-trip exactly, and load with weights_only=True."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch_pruning as tp
from torch import Tensor, nn
from torch.nn.utils import prune

from pruning.checkpoint import load_checkpoint, save_checkpoint
from pruning.models import build
from pruning.models.arch import architecture

CASES = [("resnet20", 2, 3, 32), ("vgg11", 1, 1, 40), ("smallcnn", 2, 1, 8)]


def pruned_model(name: str, dims: int, channels: int, size: int) -> tuple[nn.Module, Tensor]:
    """A model with filters physically removed by torch-pruning (two convs, different counts)."""
    torch.manual_seed(0)
    model = build(name, 10, in_channels=channels, image_size=size, dims=dims)
    x = torch.randn(4, channels, *([size] * dims))
    model(x)  # move BN running stats away from their init so the round trip checks them
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=x)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d | nn.Conv2d)]
    for conv, idxs in ((convs[1], [0, 2, 3]), (convs[-1], [1])):
        graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=idxs).prune()
    return model, x


def magnitude_masks(model: nn.Module, fraction: float = 0.3) -> dict[str, Tensor]:
    """Per-layer magnitude masks on conv weights, applied to the weights as training would."""
    masks = {}
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv1d | nn.Conv2d):
                k = max(1, int(fraction * m.weight.numel()))
                threshold = m.weight.abs().flatten().kthvalue(k).values
                masks[f"{name}.weight"] = m.weight.abs() > threshold
                m.weight.mul_(masks[f"{name}.weight"])
    return masks


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype and torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize(("name", "dims", "channels", "size"), CASES)
def test_pruned_masked_model_round_trips(
    tmp_path: Path, name: str, dims: int, channels: int, size: int
) -> None:
    """A torch-pruning-shrunk, masked model comes back with the same state and outputs."""
    model, x = pruned_model(name, dims, channels, size)
    masks = magnitude_masks(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(x).sum().backward()
    optimizer.step()
    extra = {"epoch": 3, "step": 117, "schedule": {"name": "clr", "max_lr": 0.1}, "ok": True}
    path = tmp_path / "ckpt" / "model.pt"
    save_checkpoint(path, model=model, masks=masks, optimizer=optimizer, extra=extra)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]

    ckpt = load_checkpoint(path)
    assert_same_state(model, ckpt.model)
    model.eval(), ckpt.model.eval()
    assert torch.equal(model(x), ckpt.model(x))
    assert ckpt.extra == extra
    assert ckpt.arch == architecture(model)
    assert ckpt.masks is not None and set(ckpt.masks) == set(masks)
    assert all(torch.equal(ckpt.masks[k], masks[k]) for k in masks)
    resumed = torch.optim.SGD(ckpt.model.parameters(), lr=0.1, momentum=0.9)
    resumed.load_state_dict(ckpt.optimizer_state)
    for p_old, p_new in zip(model.parameters(), ckpt.model.parameters(), strict=True):
        old, new = optimizer.state[p_old], resumed.state[p_new]
        assert torch.equal(old["momentum_buffer"], new["momentum_buffer"])


def contains_module(value: object) -> bool:
    if isinstance(value, nn.Module):
        return True
    if isinstance(value, dict):
        return any(contains_module(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_module(v) for v in value)
    return False


def test_file_is_plain_data_loadable_weights_only(tmp_path: Path) -> None:
    """The file is a plain dict that torch.load(weights_only=True) reads: no pickled modules."""
    model, _ = pruned_model("resnet20", 1, 1, 40)
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=model)
    payload = torch.load(path, weights_only=True)
    assert isinstance(payload, dict) and not contains_module(payload)
    assert set(payload) >= {"arch", "state_dict", "masks", "optimizer", "extra"}
    assert payload["masks"] is None and payload["optimizer"] is None and payload["extra"] == {}


def test_torch_prune_reparametrization_is_folded(tmp_path: Path) -> None:
    """torch.nn.utils.prune's weight_orig/weight_mask are saved as a plain weight plus a mask."""
    torch.manual_seed(0)
    model = build("smallcnn", 10, in_channels=1, image_size=40, dims=1).eval()
    prune.l1_unstructured(model.features[3], "weight", amount=0.5)
    x = torch.randn(2, 1, 40)
    path = tmp_path / "c.pt"
    save_checkpoint(path, model=model)
    ckpt = load_checkpoint(path)
    assert ckpt.masks is not None and set(ckpt.masks) == {"features.3.weight"}
    assert torch.equal(ckpt.masks["features.3.weight"], model.features[3].weight_mask)
    assert torch.equal(ckpt.model.eval()(x), model(x))


def test_unloadable_extra_is_rejected(tmp_path: Path) -> None:
    """extra holding objects weights_only cannot load fails at save time, naming the key."""
    model = build("smallcnn", 10, in_channels=1, image_size=8)
    with pytest.raises(ValueError, match=r"extra\['when'\]"):
        save_checkpoint(tmp_path / "c.pt", model=model, extra={"when": object()})
    assert not list(tmp_path.iterdir())


def test_foreign_file_is_rejected(tmp_path: Path) -> None:
    """A torch file that is not a prunetune checkpoint is a one-line ValueError."""
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match="not a prunetune checkpoint"):
        load_checkpoint(path)
