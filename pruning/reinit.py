"""Fresh random weights for a pruned architecture (Liu et al. 2019's Scratch-E/B; the ``reinit``
retraining start point): the weights a model built directly at the pruned widths would get.

Two schemes:
- "zoo" (default): the model zoo's own initialisers, drawn at the pruned shapes.
- "xavier": SILO's `weight_init` (github Martin1937/SILO, resnet_20_cifar_10.py), which its
  default `prune_type = reinit` applies to the whole model every round before multiplying the
  masks back in: `init.xavier_normal_` for Conv2d/Conv3d and Linear weights, `init.normal_`
  (N(0, 1)) for their biases, BatchNorm γ ~ N(1, 0.02) and β = 0, applied with `model.apply`.
  Two choices differ from that code: Conv1d weights get Xavier-normal too (SILO's branch for
  Conv1d draws N(0, 1), a path its 2-D models never take; Xavier keeps the scheme meaningful for
  the 1-D zoo), and BN running statistics restart at 0/1 like the zoo scheme's (SILO's
  `apply` leaves the trained ones, which the first few dozen training batches overwrite).
  Biases are N(0, 1) as in SILO's code, not zero.

Unstructured masks are weights, not architecture: pass `masks` (or call `mask_weights`) so the
pruned weights stay zero after the redraw, as SILO multiplies its masks back in.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pruning.models import build
from pruning.models.arch import architecture, rebuild
from pruning.train import prepare_masks

SCHEMES = ("zoo", "xavier")

# CIFAR VGG draws its Linear weights from N(0, 0.01) whatever their shape; every other zoo
# Linear keeps PyTorch's default U(±1/√fan_in).
_FIXED_SIGMA_LINEAR = ("vgg",)
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def random_init(
    pruned: nn.Module,
    seed: int,
    scheme: str = "zoo",
    masks: dict[str, Tensor] | None = None,
) -> nn.Module:
    """A new model with ``pruned``'s architecture and random weights drawn by `scheme` ("zoo" or
    "xavier", see the module docstring) at the pruned shapes, seeded by `seed`; with `masks`
    (unstructured, keyed by parameter name) the masked weights are zeroed afterwards.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}; got {scheme!r}")
    model = _zoo_init(pruned, seed) if scheme == "zoo" else _xavier_init(pruned, seed)
    return mask_weights(model, masks) if masks else model


def mask_weights(model: nn.Module, masks: dict[str, Tensor]) -> nn.Module:
    """Zero `model`'s masked-out weights in place (zeros stay zeros after a re-init) and return
    it; a mask naming no parameter, or of the wrong shape, is a ValueError."""
    with torch.no_grad():
        for param, mask in prepare_masks(model, masks, "cpu").items():
            param.mul_(mask.to(param.device))
    return model


def _xavier_init(pruned: nn.Module, seed: int) -> nn.Module:
    arch = architecture(pruned)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = rebuild(arch, {k: v.detach().cpu() for k, v in pruned.state_dict().items()})
        model.apply(_silo_weight_init)
    return model


def _silo_weight_init(m: nn.Module) -> None:
    if isinstance(m, (*_CONV, nn.Linear)):
        nn.init.xavier_normal_(m.weight)
        if m.bias is not None:
            nn.init.normal_(m.bias)
    elif isinstance(m, _BN):
        if m.affine:
            nn.init.normal_(m.weight, mean=1.0, std=0.02)
            nn.init.zeros_(m.bias)
        m.reset_running_stats()
    elif any(True for _ in m.parameters(recurse=False)):
        raise ValueError(
            f"scheme 'xavier' does not know how to draw a {type(m).__name__}'s parameters"
        )


def _zoo_init(pruned: nn.Module, seed: int) -> nn.Module:
    """The model zoo's initialisers at the pruned shapes (Liu et al. build the pruned
    configuration and train it).

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


__all__ = ["SCHEMES", "mask_weights", "random_init"]
