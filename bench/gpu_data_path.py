"""P2: epochs/s of ResNet-20 on CIFAR-shaped data — prunetune's data path vs torchvision's
DataLoader — on the GPU when there is one, else on the CPU (and then it says so).

Both arms read the same files: a CIFAR-10-sized synthetic uint8 data set written to a temp dir
in torchvision's CIFAR-10 pickle format (no download).

- prunetune: `pruning.data.load("cifar10", root)` (a DataBundle: uint8 images copied to the
  device once, random crop with pad 4 + flip + normalise per batch on the device), trained with
  `pruning.train.train` (bf16 autocast and channels_last on CUDA), optionally `torch.compile`
  (`--compile`; also for the third arm below, never for the torchvision baseline);
- torchvision: `torchvision.datasets.CIFAR10` over the same files with RandomCrop(32,
  padding=4), RandomHorizontalFlip, ToTensor, Normalize, a `DataLoader` with 4 workers
  (persistent, pinned memory on CUDA: the generous setting), and the plain fp32 training step
  of the tutorials. On CUDA a third arm, the DataLoader feeding the same bf16/channels_last
  step, separates the loader from the step.

Same model, batch 128, SGD, no evaluation. Each arm gets one warm-up epoch (compilation,
cuDNN, residency, worker start), then the arms alternate (prunetune, torchvision, ...) for
--repeats rounds of --epochs epochs; the ratio is the median of the rounds.

    .venv/bin/python bench/gpu_data_path.py [--n 50000] [--epochs 2] [--repeats 3] [--compile]
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import benchlib
import numpy as np
import torch
from torch import nn

from pruning.data.augment import CIFAR10_MEAN, CIFAR10_STD

BATCH = 128
LR = 0.05


def write_cifar10(root: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Random images in CIFAR-10's python-pickle layout: 5 train batches, a test batch, meta."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(seed)

    def dump(name: str, n: int) -> None:
        entry = {
            "data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
            "labels": rng.integers(0, 10, n).tolist(),
        }
        with open(base / name, "wb") as f:
            pickle.dump(entry, f)

    sizes = [n_train // 5 + (1 if i < n_train % 5 else 0) for i in range(5)]
    for i, n in enumerate(sizes, 1):
        dump(f"data_batch_{i}", n)
    dump("test_batch", n_test)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)


def torchvision_dataset(root: Path) -> Any:
    """torchvision's CIFAR10 over our files: its md5 checks would reject them, nothing else
    differs (the same __getitem__: Image.fromarray, then the transforms)."""
    from torchvision import datasets, transforms

    class LocalCIFAR10(datasets.CIFAR10):
        def _check_integrity(self) -> bool:
            return True

        def _load_meta(self) -> None:
            self.classes = [f"class{i}" for i in range(10)]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
        ]
    )
    return LocalCIFAR10(str(root), train=True, transform=tf)


def new_model(device: str, compile_model: bool) -> nn.Module:
    from pruning.models import build

    torch.manual_seed(0)
    model = build("resnet20", 10, in_channels=3, image_size=32, dims=2).to(device)
    return torch.compile(model) if compile_model else model  # type: ignore[return-value]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class PrunetuneArm:
    """The DataBundle + pruning.train path; `run(e)` trains e epochs and returns seconds."""

    def __init__(self, root: Path, device: str, compile_model: bool) -> None:
        from pruning.data import load
        from pruning.train import TrainConfig, make_optimizer

        self.bundle = load("cifar10", root, val_fraction=0.0)
        self.device = device
        self.model = new_model(device, compile_model)
        self.cfg = TrainConfig(batch_size=BATCH, weight_decay=5e-4, device=device, eval_splits=())
        self.optimizer = make_optimizer(self.model, self.cfg)
        self.epoch = 0

    def run(self, epochs: int) -> float:
        from pruning.schedules import build_schedule
        from pruning.train import train

        steps = self.bundle.steps_per_epoch(BATCH)
        schedule = build_schedule("ft", epochs=self.epoch + epochs, steps_per_epoch=steps, lr=LR)
        sync(self.device)
        started = time.perf_counter()
        train(
            self.model,
            self.bundle,
            schedule,
            self.cfg,
            start_epoch=self.epoch,
            optimizer=self.optimizer,
        )
        sync(self.device)
        self.epoch += epochs
        return time.perf_counter() - started


class LoaderArm:
    """torchvision's DataLoader and a plain loop (fp32), or the same fast step (`fast=True`)."""

    def __init__(
        self, dataset: Any, device: str, workers: int, compile_model: bool, fast: bool
    ) -> None:
        from torch.utils.data import DataLoader

        cuda = device.startswith("cuda")
        # More workers than cores is the point on a small machine: say it once, not per epoch.
        warnings.filterwarnings("ignore", message="This DataLoader will create")
        self.loader = DataLoader(
            dataset,
            batch_size=BATCH,
            shuffle=True,
            num_workers=workers,
            pin_memory=cuda,
            persistent_workers=workers > 0,
        )
        self.device, self.fast = device, fast and cuda
        self.model = new_model(device, compile_model)
        if self.fast:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4
        )
        self.loss = nn.CrossEntropyLoss()

    def run(self, epochs: int) -> float:
        self.model.train()
        sync(self.device)
        started = time.perf_counter()
        for _ in range(epochs):
            for x, y in self.loader:
                x = x.to(self.device, non_blocking=True)
                y = y.to(self.device, non_blocking=True)
                if self.fast:
                    x = x.contiguous(memory_format=torch.channels_last)
                autocast = (
                    torch.autocast("cuda", dtype=torch.bfloat16)
                    if self.fast
                    else contextlib.nullcontext()
                )
                with autocast:
                    loss = self.loss(self.model(x).float(), y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
        sync(self.device)
        return time.perf_counter() - started


def features(device: str, args: argparse.Namespace) -> str:
    cuda = device.startswith("cuda")
    on = {
        "data resident on the device (uint8)": cuda,
        "crop/flip/normalise per batch as tensor ops": True,
        "bf16 autocast": cuda,  # pruning.train: CUDA only
        "channels_last": cuda,  # pruning.train: CUDA only
        "torch.compile": args.compile,
    }
    return "; ".join(f"{k}: {'on' if v else 'off'}" for k, v in on.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=0, help="train images (default 50k GPU, 5k CPU)")
    parser.add_argument("--epochs", type=int, default=0, help="epochs per round (3 GPU, 1 CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; medians")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers (baseline)")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the model of the prunetune arm"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all)")
    parser.add_argument("--quick", action="store_true", help="2560 images, 1 epoch, 2 rounds")
    args = parser.parse_args()
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    cuda = device.startswith("cuda")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.n, args.epochs, args.repeats = 2560, 1, 2
    n = args.n or (50_000 if cuda else 5_000)
    epochs = args.epochs or (3 if cuda else 1)
    benchlib.print_header("P2 data path (bench/gpu_data_path.py)", device, ("torchvision",))
    print(f"ResNet-20, {n} CIFAR-shaped train images, batch {BATCH}, {epochs} epoch(s) a round")
    print(f"prunetune arm: {features(device, args)}")
    if not cuda:
        print("CPU run: measures the CPU path (no device residency, autocast or channels_last)")
    print(
        f"torchvision arm: DataLoader, {args.workers} workers (persistent), PIL transforms, fp32"
    )
    root = Path(tempfile.mkdtemp(prefix="prunetune-datapath-"))
    try:
        write_cifar10(root, n, 1000)
        arms: dict[str, Any] = {
            "prunetune": PrunetuneArm(root, device, args.compile),
            "torchvision": LoaderArm(
                torchvision_dataset(root), device, args.workers, False, fast=False
            ),
        }
        if cuda:
            arms["loader+fast step"] = LoaderArm(
                torchvision_dataset(root), device, args.workers, args.compile, fast=True
            )
        for arm in arms.values():
            arm.run(1)  # warm-up: compile, cuDNN autotuning, residency, workers
        rates: dict[str, list[float]] = {name: [] for name in arms}
        for i in range(args.repeats):
            for name, arm in arms.items():
                rates[name].append(epochs / arm.run(epochs))
            print(
                f"round {i + 1}: "
                + ", ".join(f"{k} {v[-1]:.3f} epochs/s" for k, v in rates.items())
                + f"; {benchlib.load_average()}",
                flush=True,
            )
        ratios = [p / t for p, t in zip(rates["prunetune"], rates["torchvision"], strict=True)]
        if cuda:
            step_only = [
                p / t for p, t in zip(rates["prunetune"], rates["loader+fast step"], strict=True)
            ]
            print(f"data path alone (same bf16/channels_last step): {benchlib.spread(step_only)}x")
        for name, values in rates.items():
            print(f"{name:18}: {benchlib.spread(values)} epochs/s")
        print(
            f"data path: {benchlib.median(ratios):.2f}x epochs/s of torchvision DataLoader "
            f"({benchlib.device_name(device)})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
