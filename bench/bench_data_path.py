"""Data path benchmark: batched tensor augmentation vs per-sample PIL transforms (same process).

Both paths turn 10k random uint8 32×32 images into shuffled, pad-4-cropped, flipped, normalised
float32 batches of 128 — the CIFAR recipe of the papers. The baseline is what
`torchvision.datasets.CIFAR10` + a DataLoader without workers do per sample (Image.fromarray,
RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize, then collate).

    .venv/bin/python bench/bench_data_path.py [--n 10000] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from pruning.data import DataBundle, Split
from pruning.data.augment import CIFAR10_MEAN, CIFAR10_STD, Augment


def batched_epoch(bundle: DataBundle, batch_size: int, device: str) -> int:
    seen = 0
    for x, _ in bundle.train_batches(batch_size, epoch_seed=seen, device=device):
        seen += len(x)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return seen


def pil_epoch(images_hwc: np.ndarray, labels: torch.Tensor, batch_size: int) -> int:
    tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
        ]
    )
    order = torch.randperm(len(labels)).tolist()
    seen = 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        x = torch.stack([tf(Image.fromarray(images_hwc[i])) for i in idx])
        _ = labels[idx]  # the label gather of a real loader
        seen += len(x)
    return seen


def best_of(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (PIL uses 1)")
    parser.add_argument("--device", default="cpu", help="device for the batched path")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.n, 3, 32, 32), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 10, (args.n,), generator=gen)
    bundle = DataBundle(
        "bench",
        Split("train", x, y),
        Split("val", x[:0], y[:0]),
        Split("test", x[:0], y[:0]),
        num_classes=10,
        shape=(3, 32, 32),
        dims=2,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        augment=Augment(pad=4, flip=True),
    )
    images_hwc = x.permute(0, 2, 3, 1).contiguous().numpy()
    batched_epoch(bundle, args.batch_size, args.device)  # warm-up (device copy, allocator)
    t_batched = best_of(lambda: batched_epoch(bundle, args.batch_size, args.device), args.repeats)
    t_pil = best_of(lambda: pil_epoch(images_hwc, y, args.batch_size), args.repeats)
    print(f"images={args.n} batch={args.batch_size} threads={args.threads} device={args.device}")
    print(f"per-sample PIL transforms : {t_pil:8.3f} s  ({t_pil / args.n * 5e4:6.1f} s per 50k)")
    print(
        f"batched tensor ops        : {t_batched:8.3f} s  ({t_batched / args.n * 5e4:6.1f} s per 50k)"
    )
    print(f"speed-up (PIL / batched)  : {t_pil / t_batched:8.1f}x")


if __name__ == "__main__":
    main()
