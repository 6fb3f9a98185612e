"""The CPU benchmark: MNIST-1D generation options, `mnist1d-hard`, and the 0.5× 1-D ResNet-20."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
import torch

from pruning.data import load
from pruning.data.embedded import MNIST1D_HARD, load_mnist1d
from pruning.data.info import describe
from pruning.methods import PruneContext, PruneTarget, prune
from pruning.models import build
from pruning.models.arch import architecture, rebuild

HALF_WIDTHS = [8, 16, 32]


def test_default_options_are_mnist1d_own_generation() -> None:
    """With no option the arrays are exactly mnist1d's make_dataset(get_dataset_args())."""
    from mnist1d.data import get_dataset_args, make_dataset

    raw = load_mnist1d(None, download=False, image_size=None)
    ref = make_dataset(get_dataset_args())
    assert np.array_equal(raw.train_x.squeeze(1).numpy(), ref["x"].astype(np.float32))
    assert np.array_equal(raw.test_y.numpy(), ref["y_test"])
    assert raw.sources["train"] == "mnist1d.data.make_dataset(seed=42) first 4000"


def test_hard_variant_differs_is_deterministic_and_cached() -> None:
    """mnist1d-hard: other samples than mnist1d, same on every load, generated once per process."""
    assert MNIST1D_HARD, "MNIST1D_HARD names no generation option"
    a = load("mnist1d-hard")
    started = time.perf_counter()
    b = load("mnist1d-hard")
    assert time.perf_counter() - started < 2.0  # the ~4.5 s generation is not repeated
    plain = load("mnist1d")
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.test.x, plain.test.x)
    assert len(a.train) + len(a.val) == 4000 and len(a.test) == 1000
    for key, value in MNIST1D_HARD.items():
        assert f"{key}={value}" in a.sources["train"]
    assert describe("mnist1d-hard").shape == a.shape == (1, 40)


def test_generation_leaves_global_rng_alone() -> None:
    """Generating a new setting does not move the caller's random / numpy generators."""
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    load("mnist1d", num_samples=200)
    assert (random.random(), np.random.rand()) == expected


def test_options_reach_the_generator() -> None:
    """num_samples/train_split size the splits; more i.i.d. noise changes the signals."""
    b = load("mnist1d", num_samples=300, train_split=0.6, val_fraction=0.1)
    assert len(b.train) + len(b.val) == 180 and len(b.test) == 120
    noisy = load("mnist1d", num_samples=300, train_split=0.6, iid_noise_scale=0.5)
    assert not torch.equal(noisy.test.x, b.test.x)
    assert torch.equal(noisy.test.y, b.test.y)  # labels depend on the seed only


def test_n_train_keeps_a_fixed_stratified_subset() -> None:
    """n_train keeps that many training samples, 10 % per class, same for any split_seed."""
    full = load_mnist1d(None, download=False, image_size=None)
    sub = load_mnist1d(None, download=False, image_size=None, n_train=1000)
    assert len(sub.train_y) == 1000 and torch.equal(sub.test_x, full.test_x)
    counts = torch.bincount(sub.train_y, minlength=10).float()
    expected = torch.bincount(full.train_y, minlength=10).float() / 4
    assert (counts - expected).abs().max() <= 1
    assert _rows(sub.train_x) <= _rows(full.train_x)
    a, b = load("mnist1d", n_train=1000, split_seed=0), load("mnist1d", n_train=1000, split_seed=3)
    assert len(a.train) + len(a.val) == 1000
    assert _rows(a.train.x, a.val.x) == _rows(b.train.x, b.val.x)


def _rows(*xs: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for x in xs for r in x}


def test_hard_variant_options_can_be_overridden() -> None:
    """An option given to mnist1d-hard replaces its preset value, the others stay."""
    b = load("mnist1d-hard", n_train=500)
    assert len(b.train) + len(b.val) == 500
    assert all(f"{k}={v}" in b.sources["train"] for k, v in MNIST1D_HARD.items())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"iid_noise_scale": -0.1}, "iid_noise_scale for dataset mnist1d must be in"),
        ({"max_translation": 0}, r"max_translation for dataset mnist1d must be in \[1, 72\]"),
        ({"num_samples": 10}, "num_samples for dataset mnist1d must be >= 20"),
        ({"train_split": 1.0}, "train_split for dataset mnist1d must leave"),
        ({"n_train": 5}, r"n_train for dataset mnist1d must be 0 \(all\) or in \[10, 4000\]"),
        ({"n_train": 4001}, "n_train"),
        ({"noise": 0.1}, "unknown option 'noise' for dataset mnist1d; valid options: iid_noise"),
        ({"image_size": 32}, "image_size for dataset mnist1d must be 40"),
    ],
)
def test_bad_options_raise_one_line_errors(options: dict[str, object], match: str) -> None:
    """Invalid generation options are one-line ValueErrors naming the option and valid values."""
    with pytest.raises(ValueError, match=match) as info:
        load("mnist1d", **options)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def _half_resnet20() -> torch.nn.Module:
    torch.manual_seed(0)
    return build("resnet20", 10, in_channels=1, image_size=40, dims=1, widths=HALF_WIDTHS)


def test_half_width_resnet20_1d_builds_and_rebuilds() -> None:
    """widths [8, 16, 32] give a 1-D ResNet-20 with those stage widths and ~1/4 of the params."""
    model = _half_resnet20()
    full = build("resnet20", 10, in_channels=1, image_size=40, dims=1)
    n_half = sum(p.numel() for p in model.parameters())
    n_full = sum(p.numel() for p in full.parameters())
    assert 0.2 < n_half / n_full < 0.3
    widths = architecture(model)["widths"]
    assert widths["conv1"] == 8 and widths["layer3.2.conv2"] == 32
    assert model(torch.randn(4, 1, 40)).shape == (4, 10)


def test_half_width_resnet20_1d_prunes_structured_l1() -> None:
    """l1 filter pruning (0.7) runs on the 0.5× 1-D ResNet-20, and the result rebuilds."""
    model = _half_resnet20()
    ctx = PruneContext.for_model(model, shape=(1, 40), seed=0)
    model, report = prune(model, "l1", PruneTarget(ratio=0.7), ctx)
    widths = architecture(model)["widths"]
    assert widths["layer1.0.conv1"] < 8 and widths["layer3.0.conv1"] < 32
    assert widths["layer1.0.conv2"] == 8  # the residual stream is untouched
    assert report.macs_after < report.macs_before and report.params_after < report.params_before
    again = rebuild(architecture(model), model.state_dict())  # how checkpoints restore it
    x = torch.randn(3, 1, 40)
    model.eval()
    again.eval()
    assert torch.allclose(model(x), again(x)) and torch.isfinite(model(x)).all()


def test_half_width_resnet20_1d_prunes_global_magnitude() -> None:
    """Global magnitude pruning to 95 % of conv weights, iteratively, on the 0.5× 1-D ResNet-20."""
    model = _half_resnet20()
    masks = None
    for _ in range(14):  # 20 % of the remaining per round: 1 − 0.8^14 = 95.6 %
        ctx = PruneContext.for_model(model, shape=(1, 40), seed=0, masks=masks)
        model, report = prune(model, "magnitude", PruneTarget(ratio=0.2), ctx)
        masks = report.masks
    assert masks is not None
    kept = sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
    assert kept == pytest.approx(0.8**14, abs=1e-3)
    params = dict(model.named_parameters())
    assert all(bool((params[k][~m] == 0).all()) for k, m in masks.items())
    assert torch.isfinite(model(torch.randn(2, 1, 40))).all()
