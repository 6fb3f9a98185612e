"""CIFAR ResNet-20/32/44/56/110 (He et al. 2016, §4.2): 3 stages of BasicBlocks, widths 16/32/64.

Shortcut choice — option A, parameter free. Where a block changes width or resolution the
shortcut subsamples the input by the stride and zero-pads the missing channels (He et al. 2016
option A), as in the code of PFEC's CIFAR experiments, Rethinking the Value of Network Pruning
and NPTM (Le & Hua), whose results prunetune reproduces. Option B (1×1 conv + BN) would add
parameters and MACs and change the published budgets (ResNet-56: 125.5 M MACs, 0.85 M params),
which every pruning ratio and Scratch-B epoch count is measured against.

`PadShortcut` is a real module, not a lambda around `F.pad`: torch-pruning's dependency tracer
sees `F.pad` as an element-wise op and fails on the channel-count change. The padding is built
as ``cat((x, x.mul(0)), dim=1)`` (the Rethinking code's `DownsampleA`), which the tracer maps
exactly (a concat of two views of x), so the graph builds and even pruning the residual stream
stays consistent. The subsampling is a kernel-1 average pool (`F.avg_pool`, stride s), identical
to ``x[..., ::s]`` but without a slice op, which torch-pruning misreads as a channel slice on
3-D (1-D conv) tensors; the Rethinking code's l1-norm ResNet averages 2×2 instead, with the same
MACs and parameters. The pad width is computed at run time from the two tensors' channel counts,
so pruned widths need no bookkeeping.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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

DEPTHS = (20, 32, 44, 56, 110)
STAGE_WIDTHS = [16, 32, 64]


class PadShortcut(nn.Module):
    """Option-A shortcut: subsample by `stride`, zero-pad channels up to the residual's width."""

    def __init__(self, stride: int = 1, dims: int = 2) -> None:
        super().__init__()
        self.stride, self.dims = stride, dims

    def forward(self, x: Tensor, out_channels: int) -> Tensor:
        if self.stride != 1:
            pool = F.avg_pool2d if self.dims == 2 else F.avg_pool1d
            x = pool(x, kernel_size=1, stride=self.stride)
        pad = out_channels - x.shape[1]
        if pad == 0:
            return x
        if pad == x.shape[1]:
            # The doubling case of every standard ResNet: traceable by torch-pruning.
            return torch.cat((x, x.mul(0)), dim=1)
        if pad < 0:
            raise ValueError(
                f"PadShortcut: residual branch has {out_channels} channels, fewer than the "
                f"shortcut's {x.shape[1]}"
            )
        zeros = x.new_zeros((x.shape[0], pad, *x.shape[2:]))
        return torch.cat((x, zeros), dim=1)

    def extra_repr(self) -> str:
        return f"stride={self.stride}, dims={self.dims}"


class BasicBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN plus the option-A shortcut, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int, dims: int) -> None:
        super().__init__()
        lay = layers(dims)
        self.conv1 = lay.conv(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = lay.bn(planes)
        self.conv2 = lay.conv(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = lay.bn(planes)
        self.shortcut = PadShortcut(stride, dims)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x, out.shape[1]))


class CifarResNet(ClassifierMixin, nn.Module):
    """ResNet-(6n+2) for 32×32 inputs: stem conv, 3 stages of n blocks, global pool, `fc`."""

    classifier_name = "fc"
    head_names = ("fc",)

    def __init__(
        self,
        depth: int,
        num_classes: int,
        in_channels: int = 3,
        dims: int = 2,
        widths: list[int] | None = None,
    ) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n+2 (e.g. {DEPTHS}), got {depth}")
        n = (depth - 2) // 6
        widths = widths or STAGE_WIDTHS
        lay = layers(dims)
        self.conv1 = lay.conv(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = lay.bn(widths[0])
        in_planes = widths[0]
        for i, planes in enumerate(widths):
            blocks = []
            for b in range(n):
                stride = 2 if (i > 0 and b == 0) else 1
                blocks.append(BasicBlock(in_planes, planes, stride, dims))
                in_planes = planes
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.pool = lay.avgpool(1)
        self.fc = nn.Linear(in_planes, num_classes)
        init_conv_bn(self)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def _factory(depth: int) -> ModelFactory:
    def build(
        *, num_classes: int, in_channels: int, image_size: int, dims: int, widths: Widths | None
    ) -> nn.Module:
        stage_widths = check_int_widths(f"resnet{depth}", widths, STAGE_WIDTHS)
        if len(stage_widths) != 3:
            raise ValueError(f"widths for resnet{depth} must be 3 stage widths, got {widths!r}")
        return CifarResNet(depth, num_classes, in_channels, dims, stage_widths)

    return ModelFactory(
        build, dims=(1, 2), description=f"CIFAR ResNet-{depth} (BasicBlock, option-A shortcut)"
    )


for _depth in DEPTHS:
    MODELS.add(f"resnet{_depth}", _factory(_depth))
