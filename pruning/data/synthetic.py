"""A small, learnable, deterministic data set for tests, in 2-D (C×S×S) or 1-D (C×L).

Each class has a smooth random template (coarse Gaussian noise upsampled); a sample is its class
template plus independent pixel noise, quantised to uint8 so the image path (uint8 storage,
augmentation, normalisation) is exercised. Nearest-centroid classification gets it nearly right,
a small CNN learns it in an epoch or two. Stored as uint8 and, like digits, not augmented by
default; normalised with training-split statistics.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from pruning.data.source import RawData


def load_synthetic(
    root: Path | None,
    *,
    download: bool,
    image_size: int | None,
    dims: int = 2,
    channels: int = 3,
    num_classes: int = 10,
    n_train: int = 512,
    n_test: int = 256,
    noise: float = 1.0,
    seed: int = 0,
) -> RawData:
    """Synthetic class-pattern data; `image_size` is the side (2-D, default 16) or length (1-D, 64)."""
    if dims not in (1, 2):
        raise ValueError(f"dims for dataset synthetic must be 1 or 2, got {dims}")
    for name, value in (("channels", channels), ("n_train", n_train), ("n_test", n_test)):
        if value < 1:
            raise ValueError(f"{name} for dataset synthetic must be >= 1, got {value}")
    if num_classes < 2:
        raise ValueError(f"num_classes for dataset synthetic must be >= 2, got {num_classes}")
    size = image_size if image_size is not None else (16 if dims == 2 else 64)
    gen = torch.Generator().manual_seed(seed)
    spatial = (size, size) if dims == 2 else (size,)
    coarse = torch.randn(num_classes, channels, *(max(2, size // 4),) * dims, generator=gen)
    mode = "bilinear" if dims == 2 else "linear"
    templates = F.interpolate(coarse, size=spatial, mode=mode, align_corners=False)
    templates = templates / templates.std()

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % num_classes  # balanced classes
        y = y[torch.randperm(n, generator=gen)]
        x = templates[y] + noise * torch.randn(n, channels, *spatial, generator=gen)
        return (128 + 40 * x).round().clamp(0, 255).to(torch.uint8), y

    train_x, train_y = sample(n_train)
    test_x, test_y = sample(n_test)
    desc = f"synthetic(dims={dims}, size={size}, seed={seed}, noise={noise})"
    return RawData(
        train_x,
        train_y,
        test_x,
        test_y,
        num_classes,
        sources={"train": desc, "test": desc},
        classes=tuple(f"pattern{c}" for c in range(num_classes)),
    )
