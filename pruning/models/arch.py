"""Describe a (possibly pruned) zoo model as plain data, and recreate it from that + a state_dict.

torch-pruning removes channels by replacing the weights of Conv/BN/Linear modules in place; the
module objects then no longer match what `build()` makes, and pickling whole modules would need
`torch.load(weights_only=False)`. Instead a checkpoint stores `architecture(model)` (the build
arguments, plus per-conv widths for humans and reports) and the state_dict; `rebuild()` builds
the dense model, shrinks every Conv/BN/Linear to the state_dict's shapes and loads it. This works
for any model whose forward has no hard-coded channel counts (all zoo models: the option-A
shortcut pads by the channel counts it sees at run time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from pruning.models import build

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def architecture(model: nn.Module) -> dict[str, Any]:
    """`{"name", "build_kwargs", "widths": {conv module name: out_channels}}` of a zoo model."""
    kwargs = getattr(model, "build_kwargs", None)
    if kwargs is None:
        raise ValueError(
            f"model {type(model).__name__} has no build_kwargs; build it with "
            "pruning.models.build()"
        )
    widths = {name: m.out_channels for name, m in model.named_modules() if isinstance(m, _CONV)}
    return {"name": kwargs["name"], "build_kwargs": dict(kwargs), "widths": widths}


def rebuild(arch: Mapping[str, Any], state_dict: Mapping[str, Tensor]) -> nn.Module:
    """The model `arch` describes, resized to `state_dict`'s shapes and loaded from it (strict)."""
    if "build_kwargs" not in arch:
        raise ValueError("arch must have 'build_kwargs' (from pruning.models.arch.architecture)")
    model = build(**arch["build_kwargs"])
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, _CONV):
            _resize_conv(module, prefix, state_dict)
        elif isinstance(module, _BN):
            _resize_bn(module, prefix, state_dict)
        elif isinstance(module, nn.Linear):
            _resize_linear(module, prefix, state_dict)
    model.load_state_dict(state_dict, strict=True)
    return model


def _entry(state_dict: Mapping[str, Tensor], key: str) -> Tensor:
    if key not in state_dict:
        raise ValueError(f"state_dict lacks {key!r}, which the architecture needs")
    return state_dict[key]


def _param_like(shape: torch.Size, old: Tensor) -> nn.Parameter:
    return nn.Parameter(torch.empty(shape, dtype=old.dtype, device=old.device))


def _resize_conv(m: nn.Conv1d | nn.Conv2d | nn.Conv3d, prefix: str, sd: Mapping) -> None:
    weight = _entry(sd, prefix + "weight")
    depthwise = m.groups > 1 and m.groups == m.in_channels == m.out_channels
    m.out_channels = weight.shape[0]
    if depthwise:
        # torch-pruning keeps depthwise convs depthwise: groups follow the channel count.
        m.groups = weight.shape[0]
    m.in_channels = weight.shape[1] * m.groups
    m.weight = _param_like(weight.shape, m.weight)
    if m.bias is not None:
        m.bias = _param_like(_entry(sd, prefix + "bias").shape, m.bias)


def _resize_bn(
    m: nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d, prefix: str, sd: Mapping
) -> None:
    key = prefix + ("weight" if m.affine else "running_mean")
    n = _entry(sd, key).shape[0]
    m.num_features = n
    if m.affine:
        m.weight = _param_like(torch.Size([n]), m.weight)
        m.bias = _param_like(torch.Size([n]), m.bias)
    if m.track_running_stats:
        assert m.running_mean is not None and m.running_var is not None
        m.running_mean = torch.zeros(n, dtype=m.running_mean.dtype, device=m.running_mean.device)
        m.running_var = torch.ones(n, dtype=m.running_var.dtype, device=m.running_var.device)


def _resize_linear(m: nn.Linear, prefix: str, sd: Mapping) -> None:
    weight = _entry(sd, prefix + "weight")
    m.out_features, m.in_features = weight.shape
    m.weight = _param_like(weight.shape, m.weight)
    if m.bias is not None:
        m.bias = _param_like(_entry(sd, prefix + "bias").shape, m.bias)
