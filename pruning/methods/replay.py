"""Replay recorded pruning on another model with the dense architecture.

Weight rewinding (Renda et al. 2020) and the lottery-ticket `init` start a retrained pruned
network from the *dense run's* weights at epoch k, cut the way pruning cut the trained model.
For unstructured pruning that is dense_k ⊙ mask. For structured pruning the pruned model has
fewer channels, so each structured PruneReport records the filters every prunable conv kept
(`report.kept`, indices into the model as it was just before that call); `replay_pruning` feeds
the same indices, round after round, through the same surgery (`remove_filters`, i.e.
torch-pruning's dependency graph: BN channels and consumers' input channels follow). The result
has exactly the pruned architecture and the other model's weights (and BN statistics) at the
kept positions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from pruning.methods.layers import conv_widths, prunable_convs
from pruning.methods.report import PruneReport
from pruning.methods.structured import remove_filters
from pruning.methods.unstructured import apply_masks

ReportLike = PruneReport | Mapping[str, Any]


def replay_pruning(
    model: nn.Module,
    reports: Sequence[ReportLike],
    *,
    masks: Mapping[str, torch.Tensor] | None = None,
    example_inputs: torch.Tensor | None = None,
) -> nn.Module:
    """Cut `model` (dense architecture, e.g. the dense run's weights at epoch k) in place as the
    pruning described by `reports` (PruneReports or their `to_dict()`, in round order) cut the
    original, and return it.

    Structured reports are replayed from their `kept` indices. Unstructured rounds are applied
    as masks: `masks` (the cumulative masks, e.g. from a checkpoint) or else the last
    unstructured PruneReport's own masks. `example_inputs` (one batch, for torch-pruning's
    tracer) defaults to a zero batch of the shape in `model.build_kwargs`.
    """
    unstructured: list[ReportLike] = []
    for index, report in enumerate(reports):
        data = report.to_dict() if isinstance(report, PruneReport) else report
        if data.get("kind") == "unstructured":
            unstructured.append(report)
            continue
        if data.get("kind") != "structured":
            raise ValueError(
                f"reports[{index}]: kind must be structured or unstructured, "
                f"got {data.get('kind')!r}"
            )
        if example_inputs is None:
            example_inputs = _example_inputs(model)
        _replay_structured(model, data, index, example_inputs)
    if unstructured:
        apply_masks(model, dict(_unstructured_masks(unstructured, masks)))
    return model


def _replay_structured(
    model: nn.Module, data: Mapping[str, Any], index: int, example_inputs: torch.Tensor
) -> None:
    kept = data.get("kept")
    if not isinstance(kept, Mapping):
        raise ValueError(
            f"reports[{index}]: a structured report needs 'kept' (the filters each conv kept), "
            "which reports made before it was recorded lack"
        )
    layers = prunable_convs(model)
    names = [lay.name for lay in layers]
    if sorted(kept) != sorted(names):
        extra = sorted(set(kept) - set(names)) or sorted(set(names) - set(kept))
        raise ValueError(
            f"reports[{index}]: its prunable convs do not match this model's (e.g. {extra[0]!r}); "
            "replay onto a model with the architecture the report was made on"
        )
    keep = {}
    for lay in layers:
        indices = [int(i) for i in kept[lay.name]]
        if not indices or indices != sorted(set(indices)) or not 0 <= indices[-1] < lay.channels:
            raise ValueError(
                f"reports[{index}].kept[{lay.name!r}]: indices must be sorted, distinct and in "
                f"[0, {lay.channels}), got {indices[:5]}{'…' if len(indices) > 5 else ''}"
            )
        keep[lay.name] = torch.tensor(indices, dtype=torch.long)
    device = next(model.parameters()).device
    remove_filters(model, layers, keep, example_inputs.to(device))
    widths = data.get("widths")
    if widths is not None and conv_widths(model) != {k: int(v) for k, v in widths.items()}:
        raise ValueError(
            f"reports[{index}]: after replaying, the conv widths differ from the report's; "
            "the model did not have the architecture the report was made on"
        )


def _unstructured_masks(
    reports: list[ReportLike], masks: Mapping[str, torch.Tensor] | None
) -> Mapping[str, torch.Tensor]:
    if masks is not None:
        return masks
    last = reports[-1]
    if isinstance(last, PruneReport) and last.masks is not None:
        return last.masks  # cumulative: a round's masks include every earlier round's
    raise ValueError(
        "unstructured reports as dicts carry no masks: pass masks= (the cumulative masks of the "
        "last round) to replay them"
    )


def _example_inputs(model: nn.Module) -> torch.Tensor:
    kwargs = getattr(model, "build_kwargs", None)
    if not isinstance(kwargs, Mapping):
        raise ValueError(
            "example_inputs: give one input batch; this model has no build_kwargs to infer it"
        )
    size = kwargs.get("image_size", 32)
    spatial = (size,) * int(kwargs.get("dims", 2))
    device = next(model.parameters()).device
    return torch.zeros((1, kwargs.get("in_channels", 3), *spatial), device=device)


__all__ = ["replay_pruning"]
