"""CIFAR VGG-11/13/16/19 with BatchNorm, as in the PFEC / Rethinking (l1-norm-pruning) code.

`widths` is the layer list with "M" for a 2×2 max-pool, so PFEC's pruned VGG-16-A/B/C are just
other width lists. Head as in that code: global average pool, Linear(last, 512), BatchNorm1d,
ReLU, Linear(512, classes). That head is what makes the published budgets come out (VGG-16:
313.5 M MACs, 15.0 M params; VGG-16-A removes 64.0 % of the parameters): a single
Linear(last, classes) would give 14.7 M parameters.

Max-pools use `ceil_mode=True`. At the even sizes of CIFAR (32→16→8→4→2) this is identical
to the usual floor mode; on short inputs (8×8 digits, MNIST-1D's length 40 → 20 → 10 → 5 → 3)
it keeps every size ≥ 1 (a pool over a size-1 map returns it unchanged) instead of failing,
and the module list stays the same for every input size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pruning.models.common import (
    MODELS,
    ClassifierMixin,
    ModelFactory,
    Widths,
    init_conv_bn,
    layers,
)

CONFIGS: dict[int, Widths] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    19: [
        *[64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"],
        *[512, 512, 512, 512, "M", 512, 512, 512, 512],
    ],
}
HIDDEN = 512


class CifarVGG(ClassifierMixin, nn.Module):
    """VGG-BN `features` (Conv, BN, ReLU, [MaxPool] ...), global pool, two-layer `classifier`."""

    classifier_name = "classifier.3"
    head_names = ("classifier.0", "classifier.1", "classifier.3")

    def __init__(self, cfg: Widths, num_classes: int, in_channels: int = 3, dims: int = 2) -> None:
        super().__init__()
        lay = layers(dims)
        features: list[nn.Module] = []
        channels = in_channels
        for v in cfg:
            if v == "M":
                features.append(lay.maxpool(kernel_size=2, stride=2, ceil_mode=True))
            else:
                assert isinstance(v, int)
                features += [
                    lay.conv(channels, v, 3, padding=1, bias=False),
                    lay.bn(v),
                    nn.ReLU(inplace=True),
                ]
                channels = v
        self.features = nn.Sequential(*features)
        self.pool = lay.avgpool(1)
        self.classifier = nn.Sequential(
            nn.Linear(channels, HIDDEN),
            nn.BatchNorm1d(HIDDEN),
            nn.ReLU(inplace=True),
            nn.Linear(HIDDEN, num_classes),
        )
        init_conv_bn(self, bn_weight=0.5)
        for m in self.classifier:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def check_cfg(name: str, cfg: Widths) -> Widths:
    """A VGG width list: positive ints and "M", starting with a conv."""
    ok = all(v == "M" or (isinstance(v, int) and not isinstance(v, bool) and v > 0) for v in cfg)
    if not ok or not cfg or cfg[0] == "M":
        raise ValueError(
            f"widths for {name} must be positive ints and 'M' (max-pool), starting with a "
            f"conv, got {cfg!r}"
        )
    return list(cfg)


def _factory(depth: int) -> ModelFactory:
    def build(
        *, num_classes: int, in_channels: int, image_size: int, dims: int, widths: Widths | None
    ) -> nn.Module:
        cfg = check_cfg(f"vgg{depth}", widths if widths is not None else CONFIGS[depth])
        return CifarVGG(cfg, num_classes, in_channels, dims)

    return ModelFactory(build, dims=(1, 2), description=f"CIFAR VGG-{depth} with BatchNorm")


for _depth in CONFIGS:
    MODELS.add(f"vgg{_depth}", _factory(_depth))
