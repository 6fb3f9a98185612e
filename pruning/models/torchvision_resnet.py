"""torchvision ResNet-18/34/50 (ImageNet style, option-B projection shortcuts), 2-D only.

Stem: for `image_size > 64` torchvision's own stem (7×7 stride-2 conv + 3×3 max-pool). For
small images (`image_size <= 64`: CIFAR 32 px, Tiny-ImageNet 64 px) the stem becomes a 3×3
stride-1 conv without the max-pool, the usual CIFAR practice: the ImageNet stem would shrink a
32-px image to 8 px before the first block. `in_channels` other than 3 replaces the stem conv.
Module names are torchvision's (`conv1`, `bn1`, `layer1..4`, `fc`), weights are random
(no pretrained download: the machines are offline).
"""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet as tv

from pruning.models.common import MODELS, ClassifierMixin, ModelFactory, Widths

SMALL_IMAGE = 64
SPECS: dict[int, tuple[type[tv.BasicBlock] | type[tv.Bottleneck], list[int]]] = {
    18: (tv.BasicBlock, [2, 2, 2, 2]),
    34: (tv.BasicBlock, [3, 4, 6, 3]),
    50: (tv.Bottleneck, [3, 4, 6, 3]),
}


class TorchvisionResNet(ClassifierMixin, tv.ResNet):
    """torchvision's ResNet with the classifier named for pruning and an optional small stem."""

    classifier_name = "fc"
    head_names = ("fc",)

    def __init__(self, depth: int, num_classes: int, in_channels: int, image_size: int) -> None:
        block, blocks = SPECS[depth]
        super().__init__(block, blocks, num_classes=num_classes)
        if image_size <= SMALL_IMAGE:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        elif in_channels != 3:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")


def _factory(depth: int) -> ModelFactory:
    def build(
        *, num_classes: int, in_channels: int, image_size: int, dims: int, widths: Widths | None
    ) -> nn.Module:
        if dims != 2:
            raise ValueError(f"dims for resnet{depth} must be 2 (torchvision is 2-D only)")
        if widths is not None:
            raise ValueError(f"widths is not supported for resnet{depth}; leave it unset")
        return TorchvisionResNet(depth, num_classes, in_channels, image_size)

    return ModelFactory(
        build, dims=(2,), description=f"torchvision ResNet-{depth} (ImageNet style)"
    )


for _depth in SPECS:
    MODELS.add(f"resnet{_depth}", _factory(_depth))
