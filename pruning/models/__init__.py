"""The model zoo: `MODELS` (name → factory) and `build()`.

Members: resnet20/32/44/56/110 (CIFAR, option-A shortcut), vgg11/13/16/19 (CIFAR VGG-BN, width
lists with "M"), resnet18/34/50 (torchvision, 2-D only), smallcnn (digits / MNIST-1D). Every
CIFAR-style family builds 1-D (Conv1d, input N×C×L) or 2-D (Conv2d, input N×C×H×W) networks.

`build()` records its arguments on the model as `model.build_kwargs` (and the name as
`model.model_name`) so `pruning.models.arch.architecture()` can describe a pruned model and
`rebuild()` can recreate it from a checkpoint.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from pruning.models import resnet_cifar, small_cnn, torchvision_resnet, vgg_cifar
from pruning.models.common import MODELS, ClassifierMixin, ModelFactory, Widths
from pruning.models.resnet_cifar import PadShortcut

__all__ = [
    "MODELS",
    "ClassifierMixin",
    "ModelFactory",
    "PadShortcut",
    "Widths",
    "build",
    "classifier_module",
    "resnet_cifar",
    "small_cnn",
    "supported_dims",
    "torchvision_resnet",
    "vgg_cifar",
]


def supported_dims(name: str) -> tuple[int, ...]:
    """Input dimensionalities model `name` can be built for (2 = images, 1 = sequences)."""
    return MODELS.get(name).dims


def build(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    image_size: int = 32,
    dims: int = 2,
    widths: Widths | None = None,
) -> nn.Module:
    """Build the dense model `name`; `widths` overrides the layer widths where the family has them.

    widths: VGG — the cfg list with "M" for max-pool (e.g. PFEC's VGG-16-A); CIFAR ResNet — the
    3 stage widths; smallcnn — one width per conv; torchvision ResNets — not supported.
    """
    factory = MODELS.get(name)
    if dims not in factory.dims:
        raise ValueError(f"dims for {name} must be one of {list(factory.dims)}, got {dims!r}")
    for arg, value in (
        ("num_classes", num_classes),
        ("in_channels", in_channels),
        ("image_size", image_size),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{arg} must be a positive int, got {value!r}")
    model = factory(
        num_classes=num_classes,
        in_channels=in_channels,
        image_size=image_size,
        dims=dims,
        widths=widths,
    )
    kwargs: dict[str, Any] = {
        "name": name,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "image_size": image_size,
        "dims": dims,
        "widths": None if widths is None else list(widths),
    }
    model.build_kwargs = kwargs
    model.model_name = name
    return model


def classifier_module(model: nn.Module) -> nn.Module:
    """The final Linear of any zoo model (or of a plain model whose last Linear is the head)."""
    if isinstance(model, ClassifierMixin):
        return model.classifier_module()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"model {type(model).__name__} has no Linear classifier")
    return linears[-1]
