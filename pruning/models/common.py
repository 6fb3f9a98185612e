"""Pieces every model family shares: the registry, dimension-generic layers, the head mixin.

The same model code builds 2-D networks (images, input N×C×H×W) and 1-D networks (MNIST-1D,
input N×C×L): a family asks `layers(dims)` for its Conv/BatchNorm/MaxPool classes instead of
naming `nn.Conv2d` directly, so one definition serves both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from torch import nn

from pruning.registry import Registry

Widths = list[int | str]


@dataclass(frozen=True)
class ModelFactory:
    """A registered model: `fn(num_classes, in_channels, image_size, dims, widths) -> nn.Module`.

    `dims` lists the input dimensionalities the family can build (2 = images, 1 = sequences);
    `description` is one line for `prunetune list models`.
    """

    fn: Callable[..., nn.Module]
    dims: tuple[int, ...] = (1, 2)
    description: str = ""

    def __call__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        image_size: int,
        dims: int,
        widths: Widths | None,
    ) -> nn.Module:
        return self.fn(
            num_classes=num_classes,
            in_channels=in_channels,
            image_size=image_size,
            dims=dims,
            widths=widths,
        )


MODELS: Registry[ModelFactory] = Registry("model")


class Layers(NamedTuple):
    """The layer classes of one dimensionality."""

    conv: type[nn.Conv1d] | type[nn.Conv2d]
    bn: type[nn.BatchNorm1d] | type[nn.BatchNorm2d]
    maxpool: type[nn.MaxPool1d] | type[nn.MaxPool2d]
    avgpool: type[nn.AdaptiveAvgPool1d] | type[nn.AdaptiveAvgPool2d]


def layers(dims: int) -> Layers:
    """Conv/BN/pool classes for 1-D (`dims=1`) or 2-D (`dims=2`) inputs."""
    if dims == 2:
        return Layers(nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d)
    if dims == 1:
        return Layers(nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AdaptiveAvgPool1d)
    raise ValueError(f"dims must be 1 or 2, got {dims!r}")


def init_conv_bn(model: nn.Module, bn_weight: float = 1.0) -> None:
    """He-normal (fan-out) convs, BN γ = `bn_weight`, β = 0: the init of the reference code.

    The PFEC/Rethinking CIFAR code draws conv weights from N(0, 2/(k·k·out)); VGG there starts BN
    γ at 0.5 (a network-slimming habit), ResNet at 1.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            fan_out = m.out_channels * math.prod(m.kernel_size)
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.constant_(m.weight, bn_weight)
            nn.init.zeros_(m.bias)


class ClassifierMixin:
    """Names the model's final Linear so pruning can leave the class outputs alone.

    `classifier_name` is a dotted module path (``"fc"``, ``"classifier.3"``); `head_names` lists
    every module after global pooling (hidden FC layers included) for methods that prune convs
    only and must not shrink hidden FC widths either.
    """

    classifier_name: str = "fc"
    head_names: tuple[str, ...] = ("fc",)

    def classifier_module(self) -> nn.Module:
        """The final Linear layer (its output features are the classes)."""
        assert isinstance(self, nn.Module)
        return self.get_submodule(self.classifier_name)

    def head_modules(self) -> list[nn.Module]:
        """All modules of the classifier head (hidden FC layers and their BN included)."""
        assert isinstance(self, nn.Module)
        return [self.get_submodule(name) for name in self.head_names]


def check_int_widths(name: str, widths: Widths | None, default: list[int]) -> list[int]:
    """`widths` or the default, after checking it is a list of positive ints."""
    if widths is None:
        return list(default)
    if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
        raise ValueError(f"widths for {name} must be positive ints, got {widths!r}")
    return [int(w) for w in widths]
