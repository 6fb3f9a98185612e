"""P3: trials per hour with k trials packed on one device vs one trial given the whole device.

A "trial" here is what a study's trial spends its time on: ResNet-20 trained for E epochs with
`pruning.train.train` (clr schedule, SGD, evaluation on validation and test after every epoch),
data held by a `DataBundle` (on an accelerator, resident there). Data loading, model building
and (on CUDA) a warm-up epoch happen before a barrier: a study's reused actors have done those
already. Then:

- CPU: k processes with 1 torch thread each, side by side, vs 1 process with k threads
  (what Ray Tune's cpu=1 vs cpu=k resources do with the trainable's thread setting);
- GPU (when CUDA is available): k processes sharing the one GPU (what fractional gpu=1/k
  gives: every trial sees the same device) vs 1 process.

Throughput = trials finished / wall from the barrier to the last trial's end, as trials per
hour. The k=1 and k=K runs alternate (k=1, k=K, k=1, ...) and the ratio is the median of the
pairs. Data: the embedded MNIST-1D (1-D ResNet-20) and CIFAR-shaped synthetic tensors (data set
`synthetic` with image_size=32: 3×32×32 uint8, pad-4 crop + flip as CIFAR); the last line is
the CIFAR-shaped figure on the GPU if there is one, else on the CPU.

    .venv/bin/python bench/packing.py [--k 2] [--epochs 2] [--pairs 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from typing import Any

import benchlib

DATASETS = {
    # name: (loader name, load() keywords)
    "mnist1d": ("mnist1d", {}),
    "cifar-shaped": ("synthetic", {"image_size": 32, "augment": True}),
}


@dataclass
class Job:
    dataset: str
    n_train: int  # synthetic only
    epochs: int
    batch_size: int
    threads: int
    device: str


def trial_worker(job: Job, barrier: Any, results: Any) -> None:
    """One packed trial: set up, wait for the others, train, report (start, end)."""
    import copy

    import torch

    from pruning import data, models
    from pruning.schedules import build_schedule
    from pruning.train import TrainConfig, train

    torch.set_num_threads(job.threads)
    name, kwargs = DATASETS[job.dataset]
    if name == "synthetic":
        kwargs = {**kwargs, "n_train": job.n_train, "n_test": max(256, job.n_train // 5)}
    bundle = data.load(name, **kwargs)
    torch.manual_seed(0)
    model = models.build(
        "resnet20",
        bundle.num_classes,
        in_channels=bundle.shape[0],
        image_size=bundle.shape[-1],
        dims=bundle.dims,
    )
    cfg = TrainConfig(batch_size=job.batch_size, device=job.device)
    steps = bundle.steps_per_epoch(job.batch_size)
    if job.device.startswith("cuda"):  # CUDA context, kernels, data residency: done by now
        warm = build_schedule("clr", epochs=1, steps_per_epoch=steps, max_lr=0.1)
        train(copy.deepcopy(model), bundle, warm, cfg)
        torch.cuda.synchronize()
    schedule = build_schedule("clr", epochs=job.epochs, steps_per_epoch=steps, max_lr=0.1)
    barrier.wait()
    started = time.time()
    train(model, bundle, schedule, cfg)
    if job.device.startswith("cuda"):
        torch.cuda.synchronize()
    results.put((started, time.time()))


def packed_rate(k: int, job: Job) -> float:
    """Trials per hour with k copies of `job` running at once (spawned: CUDA needs it)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=trial_worker, args=(job, barrier, results)) for _ in range(k)]
    for p in procs:
        p.start()
    spans = [results.get() for _ in range(k)]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a packed trial exited {p.exitcode}")
    wall = max(e for _, e in spans) - min(s for s, _ in spans)
    return k * 3600.0 / wall


def measure(dataset: str, device: str, k: int, args: argparse.Namespace) -> list[float]:
    """Paired (k=1 with k threads, k=K with 1 thread each) runs; the ratio of each pair."""
    one = Job(
        dataset, args.n_train, args.epochs, args.batch_size, k if device == "cpu" else 1, device
    )
    packed = Job(dataset, args.n_train, args.epochs, args.batch_size, 1, device)
    ratios = []
    for i in range(args.pairs):
        r1 = packed_rate(1, one)
        rk = packed_rate(k, packed)
        ratios.append(rk / r1)
        print(
            f"  {dataset:12} {device:5} pair {i + 1}: k=1 {r1:8.1f} trials/h, k={k} {rk:8.1f} "
            f"trials/h → {rk / r1:.2f}x; {benchlib.load_average()}",
            flush=True,
        )
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--k", type=int, default=0, help="trials packed (default: CPU cores on CPU, 4 on GPU)"
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs per trial")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--n-train", type=int, default=0, help="CIFAR-shaped train images (1024 CPU, 20k GPU)"
    )
    parser.add_argument("--pairs", type=int, default=3, help="(k=1, k=K) pairs; medians")
    parser.add_argument(
        "--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS), help="data sets"
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA if present"
    )
    parser.add_argument("--quick", action="store_true", help="1 epoch, 512 images, 1 pair")
    args = parser.parse_args()
    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.quick:
        args.epochs, args.n_train, args.pairs = 1, 512, 1
    args.n_train = args.n_train or (1024 if device == "cpu" else 20_000)
    k = args.k or ((os.cpu_count() or 1) if device == "cpu" else 4)
    benchlib.print_header("P3 packing (bench/packing.py)", device)
    print(
        f"ResNet-20, {args.epochs} epochs per trial, batch {args.batch_size}, k={k} packed "
        f"({'1 thread each vs 1 trial with k threads' if device == 'cpu' else 'one shared GPU'})"
        f"; CIFAR-shaped: {args.n_train} train images"
    )
    results = {}
    for dataset in args.datasets:
        results[dataset] = benchlib.median(measure(dataset, device, k, args))
        print(f"{dataset}: k={k} gives {results[dataset]:.2f}x the trials/hour of k=1")
    headline = results.get("cifar-shaped", next(iter(results.values())))
    print(
        f"packing: k={k} gives {headline:.2f}x the trials/hour of k=1 "
        f"({benchlib.device_name(device)})"
    )


if __name__ == "__main__":
    main()
