"""Pruning methods: one registry, one entry point.

`prune(model, method, target, ctx) -> (model, PruneReport)` prunes in place and returns the same
model object. Structured methods (l1, l2, random, taylor, slimming) remove filters physically, so
build optimizers *after* pruning; unstructured methods (magnitude, random_unstructured,
weight_change) return masks in `report.masks` for the training loop to keep applied.
weight_change (SILO) also needs `ctx.previous_weights`: ask `needs_previous_weights(method)`.
`replay_pruning(model, reports)` cuts another dense-architecture model (weight rewinding) as the
reports' pruning cut the original.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial

from torch import nn

from pruning.methods.configs import (
    PAPER_CONFIGS,
    PAPER_REDUCTIONS,
    config_is_iterable,
    configs_for,
    resolve_config,
)
from pruning.methods.replay import replay_pruning
from pruning.methods.report import PruneContext, PruneReport, PruneTarget, removed_fractions
from pruning.methods.structured import CRITERIA as STRUCTURED_CRITERIA
from pruning.methods.structured import GLOBAL_THRESHOLD, prune_structured
from pruning.methods.unstructured import CRITERIA as UNSTRUCTURED_CRITERIA
from pruning.methods.unstructured import (
    NEEDS_PREVIOUS_WEIGHTS,
    apply_masks,
    prune_unstructured,
)
from pruning.registry import Registry

PruneFn = Callable[[nn.Module, PruneTarget, PruneContext], tuple[nn.Module, PruneReport]]

METHODS: Registry[PruneFn] = Registry("pruning method")
STRUCTURED = STRUCTURED_CRITERIA
UNSTRUCTURED = UNSTRUCTURED_CRITERIA
for _name in STRUCTURED:
    METHODS.add(_name, partial(prune_structured, criterion=_name))
for _name in UNSTRUCTURED:
    METHODS.add(_name, partial(prune_unstructured, criterion=_name))


def prune(
    model: nn.Module, method: str, target: PruneTarget, ctx: PruneContext
) -> tuple[nn.Module, PruneReport]:
    """Prune `model` in place with a registered method; see PruneTarget for what ratios mean.

    ctx.example_inputs is moved to the model's device first (callers often prune on the CPU a
    model whose context was made on the GPU)."""
    fn = METHODS.get(method)
    device = next(model.parameters()).device
    if ctx.example_inputs.device != device:
        ctx = dataclasses.replace(ctx, example_inputs=ctx.example_inputs.to(device))
    return fn(model, target, ctx)


def needs_previous_weights(method: str) -> bool:
    """True for methods that rank weights by how far they moved over the round's last epoch
    (weight_change): the caller must snapshot the weights one epoch before the round ends and
    pass them as ctx.previous_weights."""
    METHODS.get(method)
    return method in NEEDS_PREVIOUS_WEIGHTS


def ranks_globally(method: str) -> bool:
    """True for methods with one threshold over all layers (slimming, every unstructured
    method): they take one uniform ratio, and where they cut follows the trained weights."""
    METHODS.get(method)
    return method in GLOBAL_THRESHOLD or method in UNSTRUCTURED


def is_structured(method: str) -> bool:
    """True for methods that remove channels (the model's shapes change)."""
    METHODS.get(method)
    return method in STRUCTURED


__all__ = [
    "METHODS",
    "PAPER_CONFIGS",
    "PAPER_REDUCTIONS",
    "STRUCTURED",
    "UNSTRUCTURED",
    "PruneContext",
    "PruneReport",
    "PruneTarget",
    "apply_masks",
    "config_is_iterable",
    "configs_for",
    "is_structured",
    "needs_previous_weights",
    "prune",
    "ranks_globally",
    "removed_fractions",
    "replay_pruning",
    "resolve_config",
]
