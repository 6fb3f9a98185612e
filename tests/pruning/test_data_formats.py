"""On-disk formats, errors and the pieces under the data contract (split, crop/flip, stats)."""

from __future__ import annotations

import pickle
import random
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pruning.data import load
from pruning.data.augment import CIFAR10_MEAN, IMAGENET_MEAN, crop_flip
from pruning.data.bundle import stratified_split
from pruning.data.fakes import write_fake_cifar, write_fake_imagefolder
from pruning.registry import UnknownNameError


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_missing_cifar_raises_one_line_error_without_network(
    name: str, tmp_path: Path, no_network: None
) -> None:
    """An empty root names root, the expected folder and download=True, offline, in one line."""
    with pytest.raises(ValueError) as err:
        load(name, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path) in msg and "download=True" in msg
    assert ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python") in msg
    assert "dataset.download=true" in msg


def test_cifar10_reads_pickles_pixel_exact(tmp_path: Path) -> None:
    """Rows of b"data" become CHW images in file order, with their b"labels" and class names."""
    base = write_fake_cifar(tmp_path, "cifar10", n_train=23, n_test=7)
    with open(base / "data_batch_1", "rb") as f:
        first = pickle.load(f, encoding="bytes")
    with open(base / "test_batch", "rb") as f:
        test = pickle.load(f, encoding="bytes")
    b = load("cifar10", tmp_path, val_fraction=0.0)
    assert len(b.train) == 23 and len(b.test) == 7 and b.classes[3] == "class3"
    assert torch.equal(b.train.x[0, :, 0, :3].flatten(), _chw_first_pixels(first[b"data"][0]))
    assert b.train.y[: len(first[b"labels"])].tolist() == first[b"labels"]
    assert torch.equal(b.test.x.reshape(7, -1), torch.from_numpy(test[b"data"]))
    assert b.mean == CIFAR10_MEAN and b.augment is not None and b.augment.pad == 4


def _chw_first_pixels(row: np.ndarray) -> torch.Tensor:
    # CIFAR rows are 1024 red, then 1024 green, then 1024 blue values, each row-major.
    return torch.from_numpy(np.stack([row[0:3], row[1024:1027], row[2048:2051]]).flatten())


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    """CIFAR-100 reads train/test/meta with its 100 fine labels and its own statistics."""
    base = write_fake_cifar(tmp_path, "cifar100", n_train=30, n_test=10)
    with open(base / "test", "rb") as f:
        test = pickle.load(f, encoding="bytes")
    b = load("cifar100", tmp_path)
    assert b.num_classes == 100 and b.classes[-1] == "fine99"
    assert b.test.y.tolist() == test[b"fine_labels"]
    assert b.mean != CIFAR10_MEAN


def test_cifar_rejects_other_image_size(tmp_path: Path) -> None:
    """CIFAR is stored at 32 px; another image_size is refused by name."""
    with pytest.raises(ValueError, match="image_size"):
        load("cifar10", tmp_path, image_size=64)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_imagefolder_decodes_and_resizes(fmt: str, tmp_path: Path) -> None:
    """Real PNG/JPEG files decode to uint8 at image_size; no test/ → val/ is the test split."""
    write_fake_imagefolder(tmp_path, fmt=fmt, size=(40, 30))
    b = load("imagefolder", tmp_path, image_size=16, val_fraction=0.25)
    assert b.shape == (3, 16, 16) and b.train.x.dtype == torch.uint8
    assert len(b.train) + len(b.val) == 24 and len(b.val) == 6 and len(b.test) == 9
    assert b.classes == ("n01", "n02", "n03") and b.mean == IMAGENET_MEAN
    assert "val" in b.sources["test"] and "of train" in b.sources["val"]


def test_imagefolder_pixels_match_png(tmp_path: Path) -> None:
    """A PNG already at image_size is stored unchanged, channels first."""
    write_fake_imagefolder(tmp_path, size=(12, 12), per_class={"train": 2, "val": 1})
    b = load("imagefolder", tmp_path, image_size=12, val_fraction=0.0)
    img = np.array(Image.open(tmp_path / "train" / "n02" / "n02_1.png"))
    assert torch.equal(b.train.x[3], torch.from_numpy(img).permute(2, 0, 1))
    assert b.train.y.tolist() == [0, 0, 1, 1, 2, 2]


def test_imagefolder_with_labelled_test_uses_val_as_validation(tmp_path: Path) -> None:
    """With root/test/<class>/ the splits are train/, val/ and test/ as given."""
    write_fake_imagefolder(tmp_path, per_class={"train": 4, "val": 2, "test": 3}, size=(8, 8))
    b = load("imagefolder", tmp_path, image_size=8)
    assert (len(b.train), len(b.val), len(b.test)) == (12, 6, 9)
    assert b.sources["val"].endswith("val") and b.sources["test"].endswith("test")


def test_imagefolder_reads_tiny_imagenet_val_layout(tmp_path: Path) -> None:
    """Tiny-ImageNet's val/images + val_annotations.txt gives labelled test images."""
    write_fake_imagefolder(tmp_path, tiny_imagenet_val=True, fmt="JPEG", size=(8, 8))
    b = load("imagefolder", tmp_path, image_size=8)
    assert len(b.test) == 9 and b.test.y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_imagefolder_errors_name_the_problem(tmp_path: Path) -> None:
    """No root, or a root without train/, raise one-line ValueErrors."""
    with pytest.raises(ValueError, match="root"):
        load("imagefolder")
    with pytest.raises(ValueError, match="train/"):
        load("imagefolder", tmp_path)


def test_mnist1d_is_offline_sized_and_leaves_global_rng_alone(
    monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    """MNIST-1D: 4000 train (incl. val) + 1000 test, length 40; global RNGs untouched."""
    import mnist1d.data

    monkeypatch.setattr(mnist1d.data, "get_dataset", None)  # calling it would fail loudly
    random.seed(123)
    np.random.seed(123)
    expected = (random.random(), np.random.rand())
    random.seed(123)
    np.random.seed(123)
    b = load("mnist1d")
    assert (random.random(), np.random.rand()) == expected
    assert len(b.train) + len(b.val) == 4000 and len(b.test) == 1000
    assert b.shape == (1, 40) and b.dims == 1 and b.augment is None
    x = torch.cat([x for x, _ in b.eval_batches("train", 4096, device="cpu")])
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3


def test_digits_test_split_is_fixed() -> None:
    """digits: the 20 % test split is the same whatever split_seed; train stats standardise."""
    a, b = load("digits", split_seed=0), load("digits", split_seed=9)
    assert torch.equal(a.test.x, b.test.x) and len(a.test) == 359
    assert not torch.equal(a.val.y, b.val.y) or not torch.equal(a.val.x, b.val.x)
    x = torch.cat([x for x, _ in a.eval_batches("train", 4096, device="cpu")])
    assert abs(float(x.mean())) < 1e-4


@pytest.mark.parametrize("dims", [1, 2])
def test_synthetic_is_learnable(dims: int) -> None:
    """Nearest class centroid on the training split classifies the test split well."""
    b = load("synthetic", dims=dims)
    x_train, x_test = b.normalize(b.train.x).flatten(1), b.normalize(b.test.x).flatten(1)
    centroids = torch.stack([x_train[b.train.y == c].mean(0) for c in range(b.num_classes)])
    pred = torch.cdist(x_test, centroids).argmin(1)
    assert (pred == b.test.y).float().mean() > 0.9
    assert b.dims == dims and b.shape == ((3, 16, 16) if dims == 2 else (3, 64))


def test_bad_arguments_raise_one_line_errors() -> None:
    """Unknown data set, unknown option and bad val_fraction / batch size name themselves."""
    with pytest.raises(UnknownNameError, match="digits"):
        load("mnist")
    with pytest.raises(ValueError, match=r"unknown option .colour.*dims"):
        load("synthetic", colour=True)
    with pytest.raises(ValueError, match="val_fraction"):
        load("synthetic", val_fraction=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        next(load("synthetic").train_batches(0, epoch_seed=0))


def test_stratified_split_partitions_each_class() -> None:
    """Held-out indices are disjoint from kept ones, cover all, and follow class proportions."""
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 3 + [3] * 17)
    keep, held = stratified_split(y, 0.2, seed=4)
    assert len(held) == 20 and len(set(keep.tolist()) | set(held.tolist())) == 100
    assert not set(keep.tolist()) & set(held.tolist())
    counts = torch.bincount(y[held], minlength=4).tolist()
    assert counts[0] == 10 and counts[1] == 6 and sum(counts[2:]) == 4
    assert torch.equal(stratified_split(y, 0.2, seed=4)[1], held)
    assert not torch.equal(stratified_split(y, 0.2, seed=5)[1], held)


@pytest.mark.parametrize("shape", [(6, 3, 10, 12), (6, 2, 20)])
def test_crop_flip_matches_per_sample_reference(shape: tuple[int, ...]) -> None:
    """The batched gather equals pad → slice → flip done one sample at a time."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
    oy, ox = torch.randint(0, 7, (6,), generator=gen), torch.randint(0, 7, (6,), generator=gen)
    flip = torch.tensor([True, False, True, False, False, True])
    out = crop_flip(x, oy, ox, flip, 3)
    for i in range(6):
        padded = F.pad(x[i], (3, 3) * (x.dim() - 2))
        ref = padded[..., ox[i] : ox[i] + shape[-1]]
        if x.dim() == 4:
            ref = ref[:, oy[i] : oy[i] + shape[2]]
        assert torch.equal(out[i], ref.flip(-1) if flip[i] else ref)
    identity = crop_flip(x, oy * 0 + 3, ox * 0 + 3, flip & False, 3)
    assert torch.equal(identity, x)
