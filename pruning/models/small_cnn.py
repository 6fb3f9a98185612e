"""`smallcnn`: a few Conv-BN-ReLU layers, global average pool, Linear — for digits and MNIST-1D.

Default widths 16/32/32 with 3-wide kernels; every conv after the first has stride 2 so the
receptive field covers a useful part of MNIST-1D's 40 samples (and the 8×8 digits) before the
global pool. About 5 k parameters in 1-D and 14.5 k in 2-D: big enough to respond to LR
schedules, small enough to train in seconds on a CPU, and prunable like the large models.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pruning.models.common import (
    MODELS,
    ClassifierMixin,
    ModelFactory,
    Widths,
    check_int_widths,
    init_conv_bn,
    layers,
)

WIDTHS = [16, 32, 32]


class SmallCNN(ClassifierMixin, nn.Module):
    """`features` (Conv, BN, ReLU per width), global average pool, `fc`."""

    classifier_name = "fc"
    head_names = ("fc",)

    def __init__(
        self, num_classes: int, in_channels: int = 1, dims: int = 2, widths: list[int] = WIDTHS
    ) -> None:
        super().__init__()
        lay = layers(dims)
        features: list[nn.Module] = []
        channels = in_channels
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            features += [
                lay.conv(channels, w, 3, stride=stride, padding=1, bias=False),
                lay.bn(w),
                nn.ReLU(inplace=True),
            ]
            channels = w
        self.features = nn.Sequential(*features)
        self.pool = lay.avgpool(1)
        self.fc = nn.Linear(channels, num_classes)
        init_conv_bn(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def _build(
    *, num_classes: int, in_channels: int, image_size: int, dims: int, widths: Widths | None
) -> nn.Module:
    return SmallCNN(num_classes, in_channels, dims, check_int_widths("smallcnn", widths, WIDTHS))


MODELS.add(
    "smallcnn",
    ModelFactory(_build, dims=(1, 2), description="small CNN for digits / MNIST-1D"),
)
