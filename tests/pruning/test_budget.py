"""MACs/params counting with and without masks, sparsity, Scratch-B epochs."""

from __future__ import annotations

import pytest
import torch
import torch_pruning as tp

from pruning.budget import (
    count_macs_params,
    example_inputs,
    prunable_weight_count,
    scratch_b_epochs,
    sparsity,
    sparsity_vs,
)
from pruning.models import build


def smallcnn_1d() -> torch.nn.Module:
    torch.manual_seed(0)
    return build("smallcnn", 10, in_channels=1, image_size=40, dims=1)


def test_example_inputs_shapes() -> None:
    """example_inputs is (N, C, S, S) in 2-D, (N, C, L) in 1-D, and deterministic."""
    assert example_inputs(3, 32).shape == (1, 3, 32, 32)
    assert example_inputs(1, 40, dims=1, batch_size=2).shape == (2, 1, 40)
    assert torch.equal(example_inputs(3, 8), example_inputs(3, 8))
    with pytest.raises(ValueError, match="dims"):
        example_inputs(3, 32, dims=3)


def test_dense_count_is_torch_pruning_count() -> None:
    """Without masks the counts are torch-pruning's, per sample whatever the batch size."""
    model = smallcnn_1d()
    x = example_inputs(1, 40, dims=1)
    assert count_macs_params(model, x) == tuple(tp.utils.count_ops_and_params(model, x))
    # torch-pruning adds Linear bias ops once per batch, not per sample: a few MACs of noise.
    macs4, params4 = count_macs_params(model, example_inputs(1, 40, dims=1, batch_size=4))
    assert params4 == count_macs_params(model, x)[1]
    assert macs4 == pytest.approx(count_macs_params(model, x)[0], rel=1e-3)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_masks_scale_layer_macs_and_drop_params(batch_size: int) -> None:
    """Masking half of a conv removes half its MACs and exactly the masked parameters."""
    model = smallcnn_1d()
    x = example_inputs(1, 40, dims=1, batch_size=batch_size)
    macs, params = count_macs_params(model, x)
    weight = model.features[3].weight  # 16→32, k=3, stride 2: output length 20
    mask = torch.ones_like(weight)
    mask.view(-1)[: weight.numel() // 2] = 0
    masked_macs, masked_params = count_macs_params(model, x, {"features.3.weight": mask})
    assert params - masked_params == weight.numel() // 2
    assert macs - masked_macs == 16 * 32 * 3 * 20 // 2
    ones = {"features.3.weight": torch.ones_like(weight)}
    assert count_macs_params(model, x, ones) == (macs, params)


def test_bad_masks_are_rejected() -> None:
    """A mask for an unknown parameter or of the wrong shape is a one-line ValueError."""
    model = smallcnn_1d()
    x = example_inputs(1, 40, dims=1)
    with pytest.raises(ValueError, match="not a parameter"):
        count_macs_params(model, x, {"nope.weight": torch.ones(1)})
    with pytest.raises(ValueError, match="shape"):
        sparsity(model, {"fc.weight": torch.ones(3)})


def test_sparsity_counts_masked_and_zero_weights() -> None:
    """sparsity is the masked-or-zero fraction of conv + linear weights."""
    model = smallcnn_1d()
    total = prunable_weight_count(model)
    assert sparsity(model) == 0.0
    mask = torch.zeros_like(model.fc.weight)
    assert sparsity(model, {"fc.weight": mask}) == pytest.approx(mask.numel() / total)
    with torch.no_grad():
        model.features[0].weight.zero_()
    zeroed = model.features[0].weight.numel()
    assert sparsity(model) == pytest.approx(zeroed / total)


def test_sparsity_vs_dense_after_structured_pruning() -> None:
    """sparsity_vs measures removed channels against the dense model (module or count)."""
    dense = smallcnn_1d()
    model = smallcnn_1d()
    x = example_inputs(1, 40, dims=1)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=x)
    conv = model.features[0]
    graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(range(8))).prune()
    removed = 8 * 1 * 3 + 8 * 32 * 3  # half of conv 1's filters and conv 2's inputs
    expected = removed / prunable_weight_count(dense)
    assert sparsity(model) == 0.0
    assert sparsity_vs(dense, model) == pytest.approx(expected)
    assert sparsity_vs(prunable_weight_count(dense), model) == pytest.approx(expected)


def test_scratch_b_epochs() -> None:
    """Scratch-B gets int(E · MACs_dense / MACs_pruned) epochs, optionally capped."""
    assert scratch_b_epochs(160, 125.5e6, 90.9e6) == int(160 * 125.5 / 90.9)
    assert scratch_b_epochs(160, 1.0, 1.0) == 160
    assert scratch_b_epochs(90, 4.0, 1.0, cap=180) == 180
    with pytest.raises(ValueError, match="macs_pruned"):
        scratch_b_epochs(160, 1.0, 0.0)
    with pytest.raises(ValueError, match="epochs"):
        scratch_b_epochs(0, 1.0, 1.0)
