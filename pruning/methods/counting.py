"""PFEC-style budgets: MACs and parameters of the conv and linear layers only.

`pruning.budget.count_macs_params` counts everything torch-pruning's counter sees (BN, pooling),
which is what the reports carry; the papers' tables (docs/science.md §3) count conv + FC, so checking a
paper config against them needs this narrower count.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from pruning.methods.layers import CONV_TYPES

WEIGHTED_TYPES = (*CONV_TYPES, nn.Linear)


def conv_fc_macs_params(model: nn.Module, inputs: torch.Tensor) -> tuple[float, float]:
    """(MACs, parameters) of the conv and linear layers, for one pass over `inputs`."""
    _, _, layer_macs, layer_params = tp.utils.count_ops_and_params(model, inputs, layer_wise=True)
    layers = [m for m in model.modules() if isinstance(m, WEIGHTED_TYPES)]
    macs = sum(float(layer_macs.get(m) or 0) for m in layers)
    params = sum(float(layer_params.get(m) or 0) for m in layers)
    return macs, params
