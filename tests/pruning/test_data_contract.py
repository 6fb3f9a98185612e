"""Contract suite: every registered data set yields a well-formed, deterministic DataBundle."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from pruning.data import DATASETS, DataBundle, load
from pruning.data.augment import crop_flip
from pruning.data.fakes import write_fake_cifar, write_fake_imagefolder

EXPECTED_CLASSES = {
    "cifar10": 10,
    "cifar100": 100,
    "imagefolder": 3,
    "digits": 10,
    "mnist1d": 10,
    "mnist1d-hard": 10,
    "synthetic": 10,
}
EXPECTED_SHAPE = {
    "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32),
    "imagefolder": (3, 24, 24),
    "digits": (1, 8, 8),
    "mnist1d": (1, 40),
    "mnist1d-hard": (1, 40),
    "synthetic": (3, 16, 16),
}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Fake on-disk data in the real formats for the data sets that live on disk."""
    base = tmp_path_factory.mktemp("data")
    write_fake_cifar(base, "cifar10", n_train=60, n_test=20)
    write_fake_cifar(base, "cifar100", n_train=60, n_test=20)
    write_fake_imagefolder(base / "tiny", fmt="JPEG")
    return {"cifar10": base, "cifar100": base, "imagefolder": base / "tiny"}


def _load(name: str, roots: dict[str, Path], **kw: object) -> DataBundle:
    if name == "imagefolder":
        kw.setdefault("image_size", 24)
    return load(name, roots.get(name), **kw)


@pytest.fixture(scope="module")
def bundles(roots: dict[str, Path]) -> dict[str, DataBundle]:
    """One bundle per data set (split_seed 0), loaded once for the module."""
    return {name: _load(name, roots) for name in DATASETS.names()}


def test_every_member_is_covered() -> None:
    """The suite's expectations name exactly the registered data sets."""
    assert set(EXPECTED_CLASSES) == set(DATASETS.names())


@pytest.mark.parametrize("name", DATASETS.names())
def test_shapes_dtypes_and_labels(name: str, bundles: dict[str, DataBundle]) -> None:
    """Splits share the declared shape, store uint8/float32 inputs and int64 labels in range."""
    b = bundles[name]
    assert b.num_classes == EXPECTED_CLASSES[name]
    assert b.shape == EXPECTED_SHAPE[name] and b.dims == len(b.shape) - 1
    assert len(b.mean) == len(b.std) == b.shape[0]
    for split in (b.train, b.val, b.test):
        assert tuple(split.x.shape[1:]) == b.shape
        assert split.x.dtype in (torch.uint8, torch.float32) and split.y.dtype == torch.int64
        assert len(split) == 0 or 0 <= int(split.y.min()) <= int(split.y.max()) < b.num_classes
    assert len(b.train) > 0 and len(b.val) > 0 and len(b.test) > 0
    assert set(b.sources) == {"train", "val", "test"}


def _rows(x: torch.Tensor) -> Counter[bytes]:
    return Counter(hashlib.sha1(r.numpy().tobytes()).digest() for r in x.contiguous())


@pytest.mark.parametrize("name", DATASETS.names())
def test_train_val_partition_the_training_data(
    name: str, roots: dict[str, Path], bundles: dict[str, DataBundle]
) -> None:
    """Train and val together are exactly the loader's training data, each sample once."""
    b = bundles[name]
    raw = DATASETS.get(name)(roots.get(name), download=False, image_size=b.shape[-1])
    assert len(b.train) + len(b.val) == len(raw.train_x)
    assert _rows(b.train.x) + _rows(b.val.x) == _rows(raw.train_x)
    assert torch.equal(b.test.x, raw.test_x) and torch.equal(b.test.y, raw.test_y)


@pytest.mark.parametrize("name", DATASETS.names())
def test_split_is_seeded(
    name: str, roots: dict[str, Path], bundles: dict[str, DataBundle]
) -> None:
    """The same split_seed gives the same split; another seed gives another; test is untouched."""
    same = _load(name, roots)
    other = _load(name, roots, split_seed=1)
    assert torch.equal(same.val.x, bundles[name].val.x)
    assert torch.equal(same.val.y, bundles[name].val.y)
    assert not torch.equal(other.val.x, same.val.x)
    assert torch.equal(other.test.x, same.test.x)


@pytest.mark.parametrize("name", DATASETS.names())
def test_train_batches_are_deterministic_and_complete(
    name: str, bundles: dict[str, DataBundle]
) -> None:
    """Same epoch_seed → same batches; an epoch visits every sample once, last batch kept."""
    b, bs = bundles[name], 32
    first = list(b.train_batches(bs, epoch_seed=7, device="cpu"))
    again = list(b.train_batches(bs, epoch_seed=7, device="cpu"))
    other = list(b.train_batches(bs, epoch_seed=8, device="cpu"))
    assert len(first) == b.steps_per_epoch(bs)
    assert all(
        torch.equal(x1, x2) and torch.equal(y1, y2)
        for (x1, y1), (x2, y2) in zip(first, again, strict=True)
    )
    assert not torch.equal(first[0][1], other[0][1]) or not torch.equal(first[0][0], other[0][0])
    ys = torch.cat([y for _, y in first])
    assert len(ys) == len(b.train) and torch.equal(ys.sort().values, b.train.y.sort().values)
    assert len(first[-1][1]) == len(b.train) - bs * (len(first) - 1)
    assert all(x.dtype == torch.float32 and tuple(x.shape[1:]) == b.shape for x, _ in first)


@pytest.mark.parametrize("name", DATASETS.names())
def test_augmentation_changes_samples_but_keeps_labels(
    name: str, roots: dict[str, Path], bundles: dict[str, DataBundle]
) -> None:
    """Each augmented sample is a crop/flip of ITS own sample; some differ from the original."""
    b = bundles[name] if bundles[name].augment else _load(name, roots, augment=True)
    aug, bs = b.augment, 16
    assert aug is not None
    x_aug, y_aug = next(b.train_batches(bs, epoch_seed=3, device="cpu"))
    idx = b.train_order(3)[:bs]
    raw = b.train.x[idx]
    assert torch.equal(y_aug, b.train.y[idx])
    assert x_aug.shape == (bs, *b.shape)
    span = range(2 * aug.pad + 1)
    matched = torch.zeros(bs, dtype=torch.bool)
    for oy in span if b.dims == 2 else [0]:
        for ox in span:
            for flip in (False, True) if aug.flip else (False,):
                cand = b.normalize(crop_flip(raw, *_const(bs, oy, ox, flip), aug.pad))
                matched |= (cand - x_aug).abs().flatten(1).amax(1) < 1e-5
    assert matched.all()
    assert (x_aug - b.normalize(raw)).abs().flatten(1).amax(1).gt(1e-5).any()


def _const(n: int, oy: int, ox: int, flip: bool) -> tuple[torch.Tensor, ...]:
    full = torch.full((n,), 0, dtype=torch.long)
    return full + oy, full + ox, torch.full((n,), flip)


@pytest.mark.parametrize("name", DATASETS.names())
def test_eval_batches_are_plain_and_ordered(name: str, bundles: dict[str, DataBundle]) -> None:
    """Eval batches are the normalised split in stored order, never augmented."""
    b = bundles[name]
    xs, ys = zip(*b.eval_batches("test", 7, device="cpu"), strict=True)
    assert torch.equal(torch.cat(ys), b.test.y)
    assert torch.allclose(torch.cat(xs), b.normalize(b.test.x))
    again = torch.cat([x for x, _ in b.eval_batches(b.test, 7, device="cpu")])
    assert torch.equal(again, torch.cat(xs))


@pytest.mark.parametrize("name", DATASETS.names())
def test_val_fraction_zero_gives_empty_val(name: str, roots: dict[str, Path]) -> None:
    """val_fraction=0 keeps all training data and an empty val split that yields no batches."""
    b = _load(name, roots, val_fraction=0.0)
    if b.sources["val"].startswith("none"):
        assert len(b.val) == 0 and list(b.eval_batches("val", 8, device="cpu")) == []
        assert tuple(b.val.x.shape[1:]) == b.shape


_CHILD = """
import hashlib, sys
from pruning.data import load
b = load("synthetic", split_seed=5)
x, y = next(b.train_batches(64, epoch_seed=11, device="cpu"))
h = hashlib.sha1(b.val.x.numpy().tobytes() + y.numpy().tobytes() + x.numpy().tobytes())
sys.stdout.write(h.hexdigest())
"""


def test_split_and_batches_identical_across_processes() -> None:
    """Another Python process sees the same val split and the same first training batch."""
    b = load("synthetic", split_seed=5)
    x, y = next(b.train_batches(64, epoch_seed=11, device="cpu"))
    here = hashlib.sha1(b.val.x.numpy().tobytes() + y.numpy().tobytes() + x.numpy().tobytes())
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == here.hexdigest()


@pytest.mark.parametrize("name", ["digits", "mnist1d", "mnist1d-hard", "synthetic"])
@pytest.mark.parametrize("batch_size", [1, 64, 128])
def test_nominal_steps_per_epoch_match_the_loaded_data(
    name: str, batch_size: int, bundles: dict[str, DataBundle]
) -> None:
    """`plan` and the spec checks count steps per epoch without data: for the data sets that
    are not on disk the count equals the loaded bundle's (the on-disk ones are checked by
    size: CIFAR's real files are not here, only small fakes)."""
    from pruning.data.info import nominal_steps_per_epoch

    spe = nominal_steps_per_epoch(name, None, 0.1, batch_size)
    assert spe == bundles[name].steps_per_epoch(batch_size)


def test_nominal_steps_per_epoch_of_an_imagefolder_counts_its_files(
    roots: dict[str, Path], bundles: dict[str, DataBundle]
) -> None:
    """An ImageFolder ships its val split, so all train/ files are training examples."""
    from pruning.data.info import nominal_steps_per_epoch

    spe = nominal_steps_per_epoch("imagefolder", roots["imagefolder"], 0.1, 4)
    assert spe == bundles["imagefolder"].steps_per_epoch(4)
    assert nominal_steps_per_epoch("imagefolder", None, 0.1, 4) is None
