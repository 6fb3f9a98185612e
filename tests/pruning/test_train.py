"""The training loop: schedule plumbing, masks, resume exactness, determinism and divergence."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from pruning.schedules import build_schedule
from pruning.train import (
    EpochMetrics,
    TrainConfig,
    epoch_seed,
    evaluate,
    make_optimizer,
    train,
)


class FakeBundle:
    """A tiny learnable 2-D data set with DataBundle's batching methods (seeded like it)."""

    def __init__(self, n_train: int = 72, n_val: int = 24, n_test: int = 24) -> None:
        gen = torch.Generator().manual_seed(0)
        self.splits = {}
        for name, n in (("train", n_train), ("val", n_val), ("test", n_test)):
            x = torch.randn(n, 3, 6, 6, generator=gen)
            self.splits[name] = (x, x.mean(dim=(2, 3)).argmax(dim=1))
        self.num_classes = 3

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self.splits["train"][1]) / batch_size)

    def train_batches(
        self, batch_size: int, *, epoch_seed: int, device: torch.device | str = "cpu"
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.splits["train"]
        gen = torch.Generator().manual_seed(epoch_seed % 2**63)
        order = torch.randperm(len(y), generator=gen)
        flips = torch.rand(len(y), generator=gen) < 0.5
        x = torch.where(flips[:, None, None, None], x.flip(3), x)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            yield x[idx].to(device), y[idx].to(device)

    def eval_batches(
        self, split: str, batch_size: int, *, device: torch.device | str = "cpu"
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.splits[split]
        for start in range(0, len(y), batch_size):
            yield (
                x[start : start + batch_size].to(device),
                y[start : start + batch_size].to(device),
            )


def tiny_model(seed: int = 0) -> nn.Sequential:
    """Conv + BN + dropout + linear: exercises BN statistics, the global RNG and masks."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )


def random_masks(model: nn.Module, density: float = 0.5) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {
        name: torch.rand(p.shape, generator=gen) < density
        for name, p in model.named_parameters()
        if name in ("0.weight", "6.weight")
    }


CFG = TrainConfig(batch_size=16, weight_decay=5e-3, nesterov=True, label_smoothing=0.1)


def _schedule(name: str = "clr", epochs: int = 4, bundle: FakeBundle | None = None, **kw: object):
    spe = (bundle or FakeBundle()).steps_per_epoch(CFG.batch_size)
    return build_schedule(name, epochs=epochs, steps_per_epoch=spe, **kw)


def _without_time(metrics: list[EpochMetrics]) -> list[dict]:
    return [{k: v for k, v in m.to_dict().items() if k != "wall_time"} for m in metrics]


def test_training_reduces_the_loss_and_reports_every_epoch() -> None:
    """Six epochs of clr lower the training loss; one EpochMetrics per epoch, fields filled."""
    bundle, model = FakeBundle(), tiny_model()
    schedule = _schedule(epochs=6, max_lr=0.2)
    seen: list[EpochMetrics] = []
    result = train(model, bundle, schedule, CFG, callback=seen.append)
    assert seen == result.metrics and [m.epoch for m in seen] == list(range(6))
    assert result.epochs_completed == 6 and not result.diverged and not result.stopped_early
    assert seen[-1].train_loss < seen[0].train_loss
    for m in seen:
        assert m.step == (m.epoch + 1) * schedule.steps_per_epoch
        assert m.lr == schedule.lr_at_epoch(m.epoch) and m.wall_time > 0
        assert 0 <= m.val_acc <= 1 and 0 <= m.test_acc <= 1 and math.isfinite(m.val_loss)


def test_lr_and_momentum_come_from_the_schedule_before_every_step() -> None:
    """Each optimizer step runs with schedule.lr(t) and schedule.momentum(t) of its global step."""
    bundle, model = FakeBundle(), tiny_model()
    schedule = _schedule(epochs=3)
    optimizer = make_optimizer(model, CFG)
    seen: list[tuple[float, float]] = []
    original_step = optimizer.step

    def recording_step(*args: object, **kwargs: object) -> object:
        group = optimizer.param_groups[0]
        seen.append((group["lr"], group["momentum"]))
        return original_step(*args, **kwargs)

    optimizer.step = recording_step  # type: ignore[method-assign]
    train(model, bundle, schedule, CFG, optimizer=optimizer)
    expected = [(schedule.lr(t), schedule.momentum(t)) for t in range(schedule.total_steps)]
    assert seen == expected


def test_masked_weights_stay_exactly_zero_under_momentum_and_weight_decay() -> None:
    """Pruned weights are exact zeros after every epoch; sparsity never drifts; others train."""
    bundle, model = FakeBundle(), tiny_model()
    masks = random_masks(model)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    params = dict(model.named_parameters())
    cfg = TrainConfig(batch_size=16, momentum=0.9, weight_decay=5e-2)

    def check(_: EpochMetrics) -> None:
        for name, mask in masks.items():
            assert torch.all(params[name][~mask] == 0)
            assert (params[name] == 0).sum() == (~mask).sum()

    train(model, bundle, _schedule("constant", epochs=3, lr=0.3), cfg, masks=masks, callback=check)
    for name, mask in masks.items():
        assert not torch.equal(params[name][mask], before[name][mask])


def test_resumed_run_reproduces_the_uninterrupted_run_exactly() -> None:
    """Resuming at epoch 2 from the state saved after epoch 1 gives identical metrics and weights."""
    bundle = FakeBundle()
    cfg = TrainConfig(batch_size=16, nesterov=True, label_smoothing=0.1, bn_l1=1e-3, seed=7)
    schedule = _schedule(epochs=4, max_lr=0.2)
    model = tiny_model()
    masks = random_masks(model)
    optimizer = make_optimizer(model, cfg)
    saved: dict[str, object] = {}

    def save_after_epoch_1(m: EpochMetrics) -> None:
        if m.epoch == 1:
            saved["model"] = copy.deepcopy(model.state_dict())
            saved["optimizer"] = copy.deepcopy(optimizer.state_dict())

    full = train(model, bundle, schedule, cfg, masks=masks, optimizer=optimizer,
                 callback=save_after_epoch_1)  # fmt: skip
    resumed_model = tiny_model(seed=99)
    resumed_model.load_state_dict(saved["model"])  # type: ignore[arg-type]
    torch.manual_seed(12345)  # the caller's RNG state must not matter
    resumed = train(resumed_model, bundle, schedule, cfg, masks=masks, start_epoch=2,
                    optimizer_state=saved["optimizer"])  # type: ignore[arg-type]  # fmt: skip
    assert [m.epoch for m in resumed.metrics] == [2, 3] and resumed.epochs_completed == 4
    assert _without_time(resumed.metrics) == _without_time(full.metrics[2:])
    for key, value in model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key


def test_same_seed_gives_identical_metrics_and_another_seed_does_not() -> None:
    """Two CPU runs with the same seed agree exactly; changing cfg.seed changes the data order."""
    bundle = FakeBundle()

    def run(seed: int) -> list[dict]:
        cfg = TrainConfig(batch_size=16, seed=seed)
        return _without_time(train(tiny_model(), bundle, _schedule(epochs=2), cfg).metrics)

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_training_leaves_the_callers_global_rng_alone() -> None:
    """train() draws its randomness in a forked RNG scope."""
    torch.manual_seed(5)
    expected = torch.rand(3)
    model = tiny_model()
    torch.manual_seed(5)
    train(model, FakeBundle(), _schedule(epochs=2), CFG)
    assert torch.equal(torch.rand(3), expected)


class PoisonAfter(nn.Module):
    """Turns activations into NaN from the n-th training forward pass on."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.calls = n, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        return x * math.nan if self.training and self.calls >= self.n else x


@pytest.mark.parametrize("stop", [True, False])
def test_non_finite_loss_marks_the_run_diverged(stop: bool) -> None:
    """A NaN loss in epoch 2 → diverged; it stops there (keeping epochs 0–1) unless told not to."""
    bundle = FakeBundle()
    spe = bundle.steps_per_epoch(16)
    model = nn.Sequential(tiny_model(), PoisonAfter(2 * spe + 2))
    seen: list[EpochMetrics] = []
    result = train(model, bundle, _schedule(epochs=4), CFG, callback=seen.append,
                   stop_on_divergence=stop)  # fmt: skip
    assert result.diverged
    if stop:
        assert [m.epoch for m in result.metrics] == [0, 1] == [m.epoch for m in seen]
        assert result.epochs_completed == 2
    else:
        assert len(result.metrics) == 4 and math.isnan(result.metrics[2].train_loss)
    assert all(math.isfinite(m.train_loss) for m in result.metrics[:2])


def test_callback_returning_true_stops_the_run() -> None:
    """A callback that returns True after epoch 1 ends training there."""
    result = train(tiny_model(), FakeBundle(), _schedule(epochs=5), CFG,
                   callback=lambda m: m.epoch == 1)  # fmt: skip
    assert result.stopped_early and result.epochs_completed == 2 and len(result.metrics) == 2


def test_bn_l1_adds_lambda_sign_gamma_to_the_bn_weight_gradient() -> None:
    """One plain-SGD step with bn_l1=λ moves each BN γ by an extra −lr·λ·sign(γ)."""
    bundle = FakeBundle(n_train=16)
    lam, lr = 0.5, 0.1

    def gamma_after_one_step(bn_l1: float) -> torch.Tensor:
        model = tiny_model()
        model[3] = nn.Identity()  # no dropout, so both runs see the same activations
        with torch.no_grad():
            model[1].weight.copy_(torch.linspace(-1, 1, 8))
        cfg = TrainConfig(batch_size=16, momentum=0.0, weight_decay=0.0, bn_l1=bn_l1)
        train(model, bundle, _schedule("constant", epochs=1, bundle=bundle, lr=lr), cfg)
        return model[1].weight.detach().clone()

    sign = torch.sign(torch.linspace(-1, 1, 8))
    diff = gamma_after_one_step(lam) - gamma_after_one_step(0.0)
    assert torch.allclose(diff, -lr * lam * sign, atol=1e-6)


def test_label_smoothing_changes_the_training_loss_only() -> None:
    """label_smoothing raises the reported training loss; evaluation loss has no smoothing."""
    bundle = FakeBundle()
    losses = {}
    for ls in (0.0, 0.3):
        cfg = TrainConfig(batch_size=16, label_smoothing=ls)
        model = tiny_model()
        first = train(model, bundle, _schedule("constant", epochs=1, lr=1e-9), cfg).metrics[0]
        losses[ls] = first
    assert losses[0.3].train_loss > losses[0.0].train_loss
    assert losses[0.3].val_loss == pytest.approx(losses[0.0].val_loss, rel=1e-6)


def test_evaluate_matches_a_manual_count_and_empty_splits_are_nan() -> None:
    """evaluate() gives mean cross-entropy and accuracy; an empty split gives NaN, NaN."""
    bundle = FakeBundle(n_val=0)
    model = tiny_model().eval()
    x, y = bundle.splits["test"]
    with torch.no_grad():
        logits = model(x)
    loss, acc = evaluate(model.train(), bundle, "test", TrainConfig(eval_batch_size=7))
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
    assert acc == (logits.argmax(1) == y).sum().item() / len(y)
    assert model.training  # the caller's mode is restored
    assert all(math.isnan(v) for v in evaluate(model, bundle, "val", TrainConfig()))


def test_user_errors_are_one_line_value_errors() -> None:
    """Schedule/data step mismatch, unknown mask names and bad config fields raise ValueError."""
    bundle, model = FakeBundle(), tiny_model()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        train(model, bundle, build_schedule("ft", epochs=1, steps_per_epoch=99), CFG)
    with pytest.raises(ValueError, match="masks"):
        train(model, bundle, _schedule(epochs=2), CFG, masks={"nope": torch.ones(1)})
    with pytest.raises(ValueError, match="start_epoch"):
        train(model, bundle, _schedule(epochs=2), CFG, start_epoch=3)
    for bad in ({"batch_size": 0}, {"eval_splits": ("dev",)}, {"nesterov": True, "momentum": 0}):
        with pytest.raises(ValueError, match="TrainConfig"):
            TrainConfig(**bad)  # type: ignore[arg-type]


def test_start_epoch_at_the_end_trains_nothing() -> None:
    """start_epoch == schedule.epochs is a finished run: no steps, no metrics."""
    model = tiny_model()
    before = copy.deepcopy(model.state_dict())
    result = train(model, FakeBundle(), _schedule(epochs=2), CFG, start_epoch=2)
    assert result.metrics == [] and result.epochs_completed == 2
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_epoch_seed_is_stable_and_distinct() -> None:
    """epoch_seed is a fixed 63-bit function of (seed, epoch), different across both."""
    seeds = {epoch_seed(s, e) for s in range(5) for e in range(50)}
    assert len(seeds) == 250 and all(0 <= v < 2**63 for v in seeds)
    assert epoch_seed(0, 0) == epoch_seed(0, 0)


@pytest.mark.parametrize("dims", [2, 1])
def test_real_synthetic_bundle_learns_and_resumes_exactly(dims: int) -> None:
    """On pruning.data's synthetic set (augmented) clr learns, and a resumed run is identical."""
    from pruning.data import load

    bundle = load("synthetic", augment=True, dims=dims, n_train=256, n_test=128, num_classes=4)
    conv, bn = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv1d, nn.BatchNorm1d)
    features = 4 * math.prod(bundle.shape[1:])

    def model() -> nn.Sequential:
        torch.manual_seed(0)
        return nn.Sequential(conv(3, 4, 3, padding=1), bn(4), nn.ReLU(), nn.Flatten(),
                             nn.Linear(features, bundle.num_classes))  # fmt: skip

    cfg = TrainConfig(batch_size=32, seed=1)
    spe = bundle.steps_per_epoch(32)
    schedule = build_schedule("clr", epochs=4, steps_per_epoch=spe, max_lr=0.05)
    net, saved = model(), {}
    optimizer = make_optimizer(net, cfg)

    def save(m: EpochMetrics) -> None:
        if m.epoch == 1:
            saved.update(
                model=copy.deepcopy(net.state_dict()), opt=copy.deepcopy(optimizer.state_dict())
            )

    full = train(net, bundle, schedule, cfg, optimizer=optimizer, callback=save)
    assert full.final is not None and full.final.test_acc > 0.9
    again = model()
    again.load_state_dict(saved["model"])
    resumed = train(again, bundle, schedule, cfg, start_epoch=2, optimizer_state=saved["opt"])
    assert _without_time(resumed.metrics) == _without_time(full.metrics[2:])
