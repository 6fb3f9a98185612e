"""Contract suite over every registered model (and every dimensionality it supports)."""

from __future__ import annotations

import pytest
import torch
import torch_pruning as tp
from torch import nn

from pruning.models import MODELS, PadShortcut, build, classifier_module, supported_dims
from pruning.models.arch import architecture, rebuild
from pruning.registry import UnknownNameError

NUM_CLASSES = 7
CASES = [(name, dims) for name in MODELS.names() for dims in supported_dims(name)]
CONV = (nn.Conv1d, nn.Conv2d)


def input_spec(name: str, dims: int) -> tuple[int, int]:
    """(in_channels, image_size) a model is meant for: digits 8×8, MNIST-1D 40, else CIFAR."""
    if dims == 1:
        return 1, 40
    if name == "smallcnn":
        return 1, 8
    return 3, 32


def make(name: str, dims: int) -> tuple[nn.Module, torch.Tensor]:
    """A fresh model and a batch of 2 inputs for it."""
    torch.manual_seed(0)
    channels, size = input_spec(name, dims)
    model = build(name, NUM_CLASSES, in_channels=channels, image_size=size, dims=dims)
    x = torch.randn(2, channels, *([size] * dims))
    return model, x


def convs(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, CONV)]


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize(("name", "dims"), CASES)
def test_forward_shape_and_finite(name: str, dims: int) -> None:
    """The model maps (N, C, *spatial) to finite (N, num_classes) logits in train and eval mode."""
    model, x = make(name, dims)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    for train in (True, False):
        model.train(train)
        y = model(x)
        assert y.shape == (2, NUM_CLASSES)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize(("name", "dims"), CASES)
def test_classifier_and_build_kwargs(name: str, dims: int) -> None:
    """classifier_module() is the final Linear; build() records its kwargs on the model."""
    model, _ = make(name, dims)
    head = model.classifier_module()
    assert isinstance(head, nn.Linear) and head.out_features == NUM_CLASSES
    assert classifier_module(model) is head
    assert head in model.head_modules()
    assert model.build_kwargs["name"] == name and model.build_kwargs["dims"] == dims


@pytest.mark.parametrize(("name", "dims"), CASES)
def test_architecture_rebuild_round_trip(name: str, dims: int) -> None:
    """rebuild(architecture(m), m.state_dict()) recreates the model exactly."""
    model, x = make(name, dims)
    arch = architecture(model)
    assert arch["name"] == name
    assert arch["widths"] == {n: m.out_channels for n, m in convs(model)}
    copy = rebuild(arch, model.state_dict())
    assert_same_state(model, copy)
    model.eval(), copy.eval()
    assert torch.equal(model(x), copy(x))


@pytest.mark.parametrize(("name", "dims"), CASES)
def test_dependency_graph_prunes_a_channel(name: str, dims: int) -> None:
    """torch-pruning traces the model, removes 1 filter of its 2nd conv, and the result rebuilds."""
    model, x = make(name, dims)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=x)
    conv_name, conv = convs(model)[1]
    before = conv.out_channels
    graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=[1]).prune()
    assert conv.out_channels == before - 1
    model.eval()
    y = model(x)
    assert y.shape == (2, NUM_CLASSES)
    copy = rebuild(architecture(model), model.state_dict()).eval()
    assert architecture(copy)["widths"][conv_name] == before - 1
    assert torch.equal(copy(x), y)


# Published dense budgets at 32×32 (docs/science.md / PFEC / Rethinking), MACs and parameters.
PUBLISHED = {
    "resnet20": (40.6e6, 0.27e6),
    "resnet56": (125.5e6, 0.85e6),
    "resnet110": (252.9e6, 1.73e6),
    "vgg16": (313.7e6, 15.0e6),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_dense_budget_matches_published(name: str) -> None:
    """Dense MACs and parameters at 32×32 are within 2 % of the published numbers."""
    model = build(name, 10)
    macs, params = tp.utils.count_ops_and_params(model, torch.randn(1, 3, 32, 32))
    want_macs, want_params = PUBLISHED[name]
    assert macs == pytest.approx(want_macs, rel=0.02)
    assert params == pytest.approx(want_params, rel=0.02)


VGG16_CONFIGS = {  # docs/science.md: PFEC VGG-16 configs and the parameters they remove
    "A": (
        [32, 64, "M", 128, 128, "M", 256, 256, 256, "M", 256, 256, 256, "M", 256, 256, 256],
        64.0,
    ),
    "B": (
        [32, 64, "M", 128, 128, "M", 196, 196, 196, "M", 196, 196, 256, "M", 256, 256, 256],
        71.9,
    ),
    "C": (
        [32, 64, "M", 64, 128, "M", 128, 128, 128, "M", 196, 196, 196, "M", 196, 196, 196],
        82.4,
    ),
}


@pytest.mark.parametrize("config", sorted(VGG16_CONFIGS))
def test_vgg16_pfec_configs_are_width_lists(config: str) -> None:
    """VGG-16-A/B/C built from their width lists remove the published share of parameters."""
    cfg, removed = VGG16_CONFIGS[config]
    dense = sum(p.numel() for p in build("vgg16", 10).parameters())
    pruned = sum(p.numel() for p in build("vgg16", 10, widths=cfg).parameters())
    assert 100 * (1 - pruned / dense) == pytest.approx(removed, abs=0.1)


@pytest.mark.parametrize("dims", [1, 2])
def test_resnet_residual_stream_prunes_through_pad_shortcut(dims: int) -> None:
    """Pruning the stem (the whole residual stream) goes through PadShortcut consistently."""
    model, x = make("resnet20", dims)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=x)
    graph.get_pruning_group(model.conv1, tp.prune_conv_out_channels, idxs=[0, 5]).prune()
    widths = architecture(model)["widths"]
    assert widths["conv1"] == 14 and widths["layer2.0.conv2"] == 28
    assert widths["layer3.2.conv2"] == 56 and widths["layer1.0.conv1"] == 16
    model.eval()
    assert model(x).shape == (2, NUM_CLASSES)


def test_pfec_conv_ids_follow_module_order() -> None:
    """Conv id 1 is the stem; block b's convs are ids 2+2b and 3+2b (INTERFACES.md)."""
    names = [n for n, _ in convs(build("resnet56", 10))]
    assert len(names) == 55 and names[0] == "conv1"
    assert names[2 + 2 * 9 - 1] == "layer2.0.conv1" and names[3 + 2 * 9 - 1] == "layer2.0.conv2"


def test_pad_shortcut_is_option_a() -> None:
    """PadShortcut subsamples by the stride and zero-pads to the requested width."""
    x = torch.randn(2, 4, 6, 6)
    y = PadShortcut(stride=2)(x, 8)
    assert torch.equal(y[:, :4], x[:, :, ::2, ::2]) and not y[:, 4:].any()
    assert torch.equal(PadShortcut(stride=2)(x, 6)[:, :4], x[:, :, ::2, ::2])
    assert torch.equal(PadShortcut()(x, 4), x)
    x1 = torch.randn(2, 4, 9)
    assert torch.equal(PadShortcut(stride=2, dims=1)(x1, 8)[:, :4], x1[:, :, ::2])
    with pytest.raises(ValueError, match="fewer"):
        PadShortcut()(x, 3)
    assert not list(PadShortcut().parameters())


def test_small_inputs_keep_vgg_working() -> None:
    """VGG on 8×8 images keeps every map ≥ 1 (ceil-mode pools) and still classifies."""
    model = build("vgg16", 10, in_channels=1, image_size=8).eval()
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("dims", [1, 2])
def test_smallcnn_is_small(dims: int) -> None:
    """smallcnn has 5k–20k parameters for digits (2-D) and MNIST-1D (1-D)."""
    n = sum(p.numel() for p in build("smallcnn", 10, in_channels=1, dims=dims).parameters())
    assert 4_500 <= n <= 20_000


def test_torchvision_stem_depends_on_image_size() -> None:
    """Small images get a 3×3 stride-1 stem without max-pool; large ones torchvision's stem."""
    small = build("resnet18", 10, image_size=32)
    large = build("resnet18", 10, in_channels=1, image_size=224)
    assert small.conv1.kernel_size == (3, 3) and isinstance(small.maxpool, nn.Identity)
    assert large.conv1.kernel_size == (7, 7) and large.conv1.in_channels == 1
    assert isinstance(large.maxpool, nn.MaxPool2d)


def test_build_errors_are_one_line() -> None:
    """Unknown names, unsupported dims and bad widths raise one-line ValueErrors."""
    with pytest.raises(UnknownNameError, match="valid choices"):
        build("resnet21", 10)
    cases = [
        ({"name": "resnet18", "num_classes": 10, "dims": 1}, "dims"),
        ({"name": "resnet20", "num_classes": 0}, "num_classes"),
        ({"name": "vgg16", "num_classes": 10, "widths": ["M", 64]}, "widths"),
        ({"name": "resnet20", "num_classes": 10, "widths": [16, 32]}, "widths"),
        ({"name": "resnet50", "num_classes": 10, "widths": [64]}, "widths"),
    ]
    for kwargs, word in cases:
        with pytest.raises(ValueError, match=word) as info:
            build(**kwargs)
        assert "\n" not in str(info.value)
