"""Dense weights at chosen epochs (0 = init): captured around train(), saved in one file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pruning.data import load
from pruning.models import build
from pruning.schedules import build_schedule
from pruning.snapshots import EpochSnapshots, load_snapshots, save_snapshots, state_snapshot
from pruning.train import TrainConfig, train

CFG = TrainConfig(batch_size=32, seed=1, eval_splits=("val",))


def bundle():
    return load("synthetic", dims=1, n_train=128, n_test=64, num_classes=4, image_size=16)


def model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build("smallcnn", num_classes=4, in_channels=3, image_size=16, dims=1)


def schedule(data, epochs: int = 3):
    return build_schedule("step", epochs=epochs, steps_per_epoch=data.steps_per_epoch(32))


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_snapshots_are_the_weights_at_epochs_0_1_and_3() -> None:
    """Epoch 0 is the init, epoch 1 equals a run stopped after one epoch, epoch 3 the end; the
    capture changes nothing train() computes."""
    data = bundle()
    net = model()
    init = state_snapshot(net)
    snaps = EpochSnapshots(net, epochs=[3, 0, 1])
    seen: list[int] = []
    assert snaps.start()
    then = lambda m: seen.append(m.epoch)  # noqa: E731
    result = train(net, data, schedule(data), CFG, callback=snaps.callback(then))
    assert seen == [0, 1, 2] and snaps.missing == []
    assert same(snaps.states[0], init)
    assert same(snaps.states[3], state_snapshot(net))
    stopped = model()
    train(stopped, data, schedule(data), CFG, callback=lambda m: True)
    assert same(snaps.states[1], state_snapshot(stopped))
    assert not same(snaps.states[1], snaps.states[0])
    plain = model()
    plain_result = train(plain, data, schedule(data), CFG)
    assert same(state_snapshot(plain), state_snapshot(net))
    assert [m.val_acc for m in plain_result.metrics] == [m.val_acc for m in result.metrics]


def test_callback_passes_the_stop_answer_through() -> None:
    """The wrapped callback's True still stops the run, after the capture."""
    data = bundle()
    net = model()
    snaps = EpochSnapshots(net, epochs=[1, 2])
    result = train(net, data, schedule(data), CFG, callback=snaps.callback(lambda m: True))
    assert result.stopped_early and result.epochs_completed == 1
    assert list(snaps.states) == [1] and snaps.missing == [2]


def test_unwanted_epochs_are_not_kept_and_bad_epochs_refused() -> None:
    """Only the requested epochs are stored; epochs must be integers >= 0."""
    snaps = EpochSnapshots(model(), epochs=[2])
    assert not snaps.start() and not snaps.capture(1) and snaps.capture(2)
    assert list(snaps.states) == [2]
    with pytest.raises(ValueError, match="epochs must be integers >= 0"):
        EpochSnapshots(model(), epochs=[-1])


def test_several_epochs_in_one_weights_only_file(tmp_path: Path) -> None:
    """save_snapshots/load_snapshots round-trip every epoch; model_at rebuilds the model."""
    net = model()
    states = {0: state_snapshot(net)}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    states[5] = state_snapshot(net)
    path = tmp_path / "dense_snapshots.pt"
    save_snapshots(path, model=net, states=states, extra={"seed": 1})
    payload = torch.load(path, weights_only=True)
    assert sorted(payload["states"]) == [0, 5] and "optimizer" not in payload
    loaded = load_snapshots(path)
    assert loaded.extra == {"seed": 1}
    for epoch in (0, 5):
        assert same(loaded.states[epoch], states[epoch])
        assert same(state_snapshot(loaded.model_at(epoch)), states[epoch])
    with pytest.raises(ValueError, match="epoch 3 was not saved; saved epochs: 0, 5"):
        loaded.model_at(3)


def test_snapshot_of_a_pruned_width_model_and_foreign_files(tmp_path: Path) -> None:
    """A narrower zoo model rebuilds at its widths; a non-snapshot file is refused."""
    net = build("vgg11", 10, widths=[8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16])
    save_snapshots(tmp_path / "s.pt", model=net, states={0: state_snapshot(net)})
    rebuilt = load_snapshots(tmp_path / "s.pt").model_at(0)
    assert same(state_snapshot(rebuilt), state_snapshot(net))
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a prunetune snapshot file"):
        load_snapshots(tmp_path / "x.pt")
