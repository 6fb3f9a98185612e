"""Compute budgets: MACs, parameters, weight sparsity, and the Scratch-B epoch count.

MACs and parameters come from `torch_pruning.utils.count_ops_and_params` (multiply-accumulates,
not FLOPs; it also counts BN and pooling work, so dense ResNet-56 reads 126.6 M against the
125.5 M of the papers, which count conv + FC only). Unstructured masks give no speed-up, but
the papers report the MACs of the nonzero weights: with masks, each conv/linear layer's MACs
are scaled by its weight density and masked weights drop out of the parameter count.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch_pruning as tp
from torch import Tensor, nn

Masks = Mapping[str, Tensor]

_PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def example_inputs(
    in_channels: int, image_size: int, dims: int = 2, batch_size: int = 1
) -> Tensor:
    """A fixed random input of shape (N, C, S, S) for dims=2 or (N, C, L) for dims=1."""
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 or 2, got {dims!r}")
    shape = (batch_size, in_channels, *([image_size] * dims))
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def prunable_weights(model: nn.Module) -> dict[str, Tensor]:
    """`{param name: weight}` of every conv and linear layer (what sparsity is measured over)."""
    return {
        f"{name}.weight" if name else "weight": m.weight
        for name, m in model.named_modules()
        if isinstance(m, _PRUNABLE)
    }


def prunable_weight_count(model: nn.Module) -> int:
    """Number of conv + linear weights (biases and BN excluded)."""
    return sum(w.numel() for w in prunable_weights(model).values())


def _check_masks(model: nn.Module, masks: Masks) -> None:
    names = dict(model.named_parameters())
    for key, mask in masks.items():
        if key not in names:
            raise ValueError(f"masks: {key!r} is not a parameter of the model")
        if mask.shape != names[key].shape:
            raise ValueError(
                f"masks[{key!r}] has shape {tuple(mask.shape)}, parameter has "
                f"{tuple(names[key].shape)}"
            )


def count_macs_params(
    model: nn.Module, example_inputs: Tensor, masks: Masks | None = None
) -> tuple[int, int]:
    """(MACs, parameters) for one sample; with masks, only the unmasked weights count."""
    if not masks:
        macs, params = tp.utils.count_ops_and_params(model, example_inputs)
        return int(macs), int(params)
    _check_masks(model, masks)
    macs, params, layer_macs, _ = tp.utils.count_ops_and_params(
        model, example_inputs, layer_wise=True
    )
    # Layer counts are summed over the batch, the total is per sample.
    per_sample = macs / layer_macs[model] if layer_macs.get(model) else 0.0
    modules = dict(model.named_modules())
    for key, mask in masks.items():
        removed = mask.numel() - int(mask.count_nonzero())
        params -= removed
        module = modules[key.rpartition(".")[0]]
        if key.endswith("weight") and isinstance(module, _PRUNABLE) and layer_macs.get(module):
            macs -= layer_macs[module] * per_sample * removed / mask.numel()
    return round(macs), int(params)


def _nonzero_prunable(model: nn.Module, masks: Masks | None) -> tuple[int, int]:
    """(nonzero, total) conv + linear weights, a weight counting as zero if masked or zero."""
    if masks:
        _check_masks(model, masks)
    nonzero = total = 0
    with torch.no_grad():
        for key, weight in prunable_weights(model).items():
            alive = weight != 0
            if masks and key in masks:
                alive &= masks[key].to(weight.device) != 0
            nonzero += int(alive.sum())
            total += weight.numel()
    return nonzero, total


def sparsity(model: nn.Module, masks: Masks | None = None) -> float:
    """Fraction of the model's conv + linear weights that are zero or masked."""
    nonzero, total = _nonzero_prunable(model, masks)
    return 1.0 - nonzero / total


def sparsity_vs(dense: int | nn.Module, model: nn.Module, masks: Masks | None = None) -> float:
    """Fraction of the dense model's conv + linear weights that are gone (removed or zero).

    `dense` is the dense model or its `prunable_weight_count()` (not its total parameter count,
    which includes BN and biases). Use this for structured pruning, where removed channels are
    no longer in `model` and `sparsity(model)` would not see them.
    """
    dense_count = prunable_weight_count(dense) if isinstance(dense, nn.Module) else int(dense)
    if dense_count <= 0:
        raise ValueError(f"dense must have a positive weight count, got {dense_count}")
    nonzero, _ = _nonzero_prunable(model, masks)
    return 1.0 - nonzero / dense_count


def scratch_b_epochs(
    epochs: int, macs_dense: float, macs_pruned: float, cap: int | None = None
) -> int:
    """Scratch-B budget: int(epochs · MACs_dense / MACs_pruned), optionally capped (ImageNet: 180).

    Rethinking the Value of Network Pruning gives the pruned model the dense model's compute.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if macs_dense <= 0 or macs_pruned <= 0:
        raise ValueError(
            f"macs_dense and macs_pruned must be > 0, got {macs_dense} and {macs_pruned}"
        )
    n = int(epochs * macs_dense / macs_pruned)
    return min(n, cap) if cap is not None else n
