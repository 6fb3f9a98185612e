"""Fresh random weights for a pruned architecture (Liu et al. 2019's Scratch-E/B; the ``reinit``
retraining start point): the weights a model built directly at the pruned widths would get.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pruning.models import build
from pruning.models.arch import architecture, rebuild

# CIFAR VGG draws its Linear weights from N(0, 0.01) whatever their shape; every other zoo
# Linear keeps PyTorch's default U(±1/√fan_in).
_FIXED_SIGMA_LINEAR = ("vgg",)
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def random_init(pruned: nn.Module, seed: int) -> nn.Module:
    """A new model with ``pruned``'s architecture and random weights drawn as the model zoo draws
    them *at the pruned shapes* (Liu et al. build the pruned configuration and train it).

    Every zoo initialiser draws i.i.d. entries whose scale depends at most on a layer's fan, so a
    slice of a freshly built dense model, rescaled for the fan that pruning changed, has exactly
    the distribution of a model built at the pruned widths: He-normal fan-out convs scale by
    √(out_dense/out_pruned), default Linears by √(in_dense/in_pruned); BN γ/β and running stats
    are constants and fixed-σ Linears (CIFAR VGG) need no rescaling.
    """
    arch = architecture(pruned)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = build(**arch["build_kwargs"]).state_dict()
        # Only for the shapes (every value is overwritten); inside fork_rng, as building draws.
        model = rebuild(arch, {k: v.detach().cpu() for k, v in pruned.state_dict().items()})
    modules = dict(model.named_modules())
    fixed_sigma = arch["name"].startswith(_FIXED_SIGMA_LINEAR)
    weights = {}
    for key, like in model.state_dict().items():
        prefix = key.rpartition(".")[0]
        dense = fresh[key][tuple(slice(0, n) for n in like.shape)].clone()
        weights[key] = (
            dense * _fan_scale(modules[prefix], fresh[f"{prefix}.weight"], fixed_sigma)
            if isinstance(modules[prefix], (*_CONV, nn.Linear))
            else dense
        )
    model.load_state_dict(weights, strict=True)
    return model


def _fan_scale(module: nn.Module, dense_weight: Tensor, fixed_sigma: bool) -> float:
    if isinstance(module, _CONV):  # He-normal with fan-out = out_channels · kernel size
        return math.sqrt(dense_weight.shape[0] / module.out_channels)
    if isinstance(module, nn.Linear) and not fixed_sigma:  # U(±1/√fan_in), weight and bias
        return math.sqrt(dense_weight.shape[1] / module.in_features)
    return 1.0


__all__ = ["random_init"]
