"""Structured (filter) pruning with torch-pruning: filters are physically removed, together with
their BatchNorm channels and the matching input channels of the layers that consume them.

Every criterion first decides which filters each prunable conv keeps — all decisions are taken on
the unpruned model, as PFEC does — and only then does the surgery.

- l1 / l2 (PFEC, Li et al. 2017): rank a conv's filters by the L1 / L2 norm of their own weights
  and keep the top k = int(C·(1 − p)).
- random (Le & Hua 2021): exactly l1's per-layer keep counts, the kept filters drawn at random
  from a generator seeded by ctx.seed; surviving weights are inherited.
- taylor (Molchanov et al. 2019): first-order Taylor estimate of the loss change when a channel
  is removed, (Σ w·∂L/∂w)² over the filter's conv and BN parameters, summed over ctx.loss_batches;
  same keep counts as l1.
- slimming (Liu et al. 2017): one global threshold over |γ| of all prunable BNs; `ratio` is the
  fraction of prunable channels removed; a layer always keeps at least its largest-|γ| channel.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from pruning.budget import count_macs_params, prunable_weight_count, sparsity, sparsity_vs
from pruning.methods.configs import configs_for, resolve_config
from pruning.methods.layers import (
    PrunableConv,
    conv_ids,
    conv_widths,
    family,
    model_name,
    prunable_convs,
)
from pruning.methods.report import PruneContext, PruneReport, PruneTarget
from pruning.models.vgg_cifar import CONFIGS as VGG_WIDTHS

CRITERIA = ("l1", "l2", "random", "taylor", "slimming")
# One threshold over every layer: the per-layer widths follow the trained weights, and the
# criterion takes a uniform ratio only (no per-stage ratios, no named config).
GLOBAL_THRESHOLD = frozenset({"slimming"})


def keep_count(channels: int, ratio: float) -> int:
    """PFEC's keep count int(C·(1 − p)), at least 1; the epsilon stops 0.7·10 = 6.999… → 6."""
    return max(1, int(channels * (1.0 - ratio) + 1e-9))


def _config_keep(model: nn.Module, layers: list[PrunableConv], name: str) -> dict[str, int]:
    arch = model_name(model)
    config = resolve_config(name, arch)
    n_convs = len(conv_ids(model))
    kind = "vgg" if config.widths else "cifar_resnet"
    if family(model) != kind or n_convs != config.num_convs:
        valid = ", ".join(configs_for(arch)) if arch else "none"
        raise ValueError(f"config {name!r} does not fit this model; valid configs for it: {valid}")
    if not config.widths:
        return {
            lay.name: keep_count(lay.channels, config.conv_ratio(lay.conv_id)) for lay in layers
        }
    _check_unpruned(model, layers, config.name)
    keep = {}
    for layer, width in zip(layers, config.conv_widths(), strict=True):
        if width > layer.channels:
            raise ValueError(
                f"config {config.name!r} wants {width} filters in {layer.name}, "
                f"which has only {layer.channels}"
            )
        keep[layer.name] = width
    return keep


def _check_unpruned(model: nn.Module, layers: list[PrunableConv], config: str) -> None:
    """Absolute widths cannot be applied per round: refuse a model already narrower than built."""
    built = built_conv_widths(model)
    if built is None or len(built) != len(layers):
        return
    for layer, width in zip(layers, built, strict=True):
        if layer.channels < width:
            raise ValueError(
                f"config {config!r} lists absolute widths and applies once, to the unpruned "
                f"model; {layer.name} already has {layer.channels} of its {width} filters: "
                "prune later rounds by ratio, stage_ratios or a ratio config"
            )


def keep_counts(
    model: nn.Module, layers: list[PrunableConv], target: PruneTarget
) -> dict[str, int]:
    """Filters each prunable conv keeps under a uniform, per-stage or named-config target."""
    if target.config is not None:
        return _config_keep(model, layers, target.config)
    if target.stage_ratios is not None:
        n_stages = max(lay.stage for lay in layers) + 1
        if len(target.stage_ratios) != n_stages:
            raise ValueError(
                f"stage_ratios has {len(target.stage_ratios)} entries; this model has "
                f"{n_stages} stages (one ratio per stage)"
            )
        return {
            lay.name: keep_count(lay.channels, target.stage_ratios[lay.stage]) for lay in layers
        }
    assert target.ratio is not None
    return {lay.name: keep_count(lay.channels, target.ratio) for lay in layers}


def built_conv_widths(model: nn.Module) -> list[int] | None:
    """A CIFAR VGG's conv widths as built (its build widths, else the depth's standard list),
    before any pruning; None for other families."""
    if family(model) != "vgg":
        return None
    kwargs = getattr(model, "build_kwargs", None) or {}
    widths = kwargs.get("widths")
    if widths is None:
        name = model_name(model) or ""
        depth = int(name[3:]) if name[3:].isdigit() else None
        widths = VGG_WIDTHS.get(depth) if depth is not None else None
    return None if widths is None else [int(w) for w in widths if w != "M"]


def _norm_scores(layers: list[PrunableConv], p: int) -> dict[str, torch.Tensor]:
    return {lay.name: lay.conv.weight.detach().flatten(1).norm(p=p, dim=1) for lay in layers}


def _random_scores(layers: list[PrunableConv], seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {lay.name: torch.rand(lay.channels, generator=generator) for lay in layers}


def _channel_saliency(layer: PrunableConv) -> torch.Tensor:
    """Σ w·∂L/∂w per output channel over the conv's and its BN's parameters."""
    owners = [layer.conv] + ([layer.bn] if layer.bn is not None else [])
    total = torch.zeros(layer.channels)
    for module in owners:
        for param in (module.weight, module.bias):
            if param is not None and param.grad is not None:
                total += (param.detach() * param.grad).reshape(layer.channels, -1).sum(1).cpu()
    return total


def _taylor_scores(
    model: nn.Module, layers: list[PrunableConv], ctx: PruneContext
) -> dict[str, torch.Tensor]:
    if ctx.loss_batches is None:
        raise ValueError("taylor needs ctx.loss_batches (a callable yielding (x, y) batches)")
    # Train-mode BN as in training, but the running statistics must not drift.
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    was_training = model.training
    model.train()
    scores = {lay.name: torch.zeros(lay.channels) for lay in layers}
    device = next(model.parameters()).device
    for x, y in itertools.islice(ctx.loss_batches(), ctx.taylor_batches):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x.to(device)), y.to(device)).backward()
        for lay in layers:
            scores[lay.name] += _channel_saliency(lay) ** 2
    model.zero_grad(set_to_none=True)
    model.load_state_dict(buffers, strict=False)
    model.train(was_training)
    return scores


def _top_keep(scores: dict[str, torch.Tensor], counts: dict[str, int]) -> dict[str, torch.Tensor]:
    keep = {}
    for name, score in scores.items():
        order = torch.argsort(score, descending=True, stable=True)
        keep[name] = torch.sort(order[: counts[name]]).values
    return keep


def _slimming_keep(layers: list[PrunableConv], target: PruneTarget) -> dict[str, torch.Tensor]:
    if target.ratio is None:
        raise ValueError(
            "slimming takes a uniform ratio (one global |γ| threshold), not stage_ratios or config"
        )
    missing = [lay.name for lay in layers if lay.bn is None]
    if missing:
        raise ValueError(
            f"slimming needs a BatchNorm after every prunable conv; none after "
            f"{', '.join(missing)}"
        )
    gammas = torch.cat([lay.bn.weight.detach().abs().cpu() for lay in layers])
    removed = torch.zeros(len(gammas), dtype=torch.bool)
    removed[torch.argsort(gammas, stable=True)[: int(len(gammas) * target.ratio)]] = True
    keep, start = {}, 0
    for lay in layers:
        gone = removed[start : start + lay.channels].clone()
        if gone.all():
            gone[int(torch.argmax(gammas[start : start + lay.channels]))] = False
        keep[lay.name] = (~gone).nonzero().squeeze(1)
        start += lay.channels
    return keep


def select_filters(
    model: nn.Module,
    layers: list[PrunableConv],
    criterion: str,
    target: PruneTarget,
    ctx: PruneContext,
) -> dict[str, torch.Tensor]:
    """Indices of the filters each prunable conv keeps, sorted ascending."""
    if criterion == "slimming":
        return _slimming_keep(layers, target)
    counts = keep_counts(model, layers, target)
    scorers: dict[str, Callable[[], dict[str, torch.Tensor]]] = {
        "l1": lambda: _norm_scores(layers, 1),
        "l2": lambda: _norm_scores(layers, 2),
        "random": lambda: _random_scores(layers, ctx.seed),
        "taylor": lambda: _taylor_scores(model, layers, ctx),
    }
    return _top_keep(scorers[criterion](), counts)


def remove_filters(
    model: nn.Module,
    layers: list[PrunableConv],
    keep: dict[str, torch.Tensor],
    example_inputs: torch.Tensor,
) -> None:
    """Physically remove every filter not in `keep`, with the dependent BN channels and the
    consumers' input channels (torch-pruning's dependency graph finds them)."""
    was_training = model.training
    model.eval()  # tracing runs a forward pass: BN running statistics must not move
    graph = tp.DependencyGraph().build_dependency(model, example_inputs, verbose=False)
    for layer in layers:
        kept = set(keep[layer.name].tolist())
        drop = [i for i in range(layer.channels) if i not in kept]
        if drop:
            graph.get_pruning_group(layer.conv, tp.prune_conv_out_channels, drop).prune()
    model.train(was_training)


def prune_structured(
    model: nn.Module, target: PruneTarget, ctx: PruneContext, *, criterion: str
) -> tuple[nn.Module, PruneReport]:
    """Prune filters in place by `criterion`; returns the model and its report."""
    if ctx.masks:
        raise ValueError(
            f"ctx.masks: structured method {criterion!r} cannot prune a model that "
            "carries unstructured masks"
        )
    layers = prunable_convs(model)
    if not layers:
        raise ValueError(f"model: structured method {criterion!r} found no prunable conv")
    keep = select_filters(model, layers, criterion, target, ctx)
    total = sum(lay.channels for lay in layers)
    requested = requested_ratio(model, layers, target)
    # Before the surgery: afterwards lay.channels reads the pruned width.
    achieved = sum(lay.channels - len(keep[lay.name]) for lay in layers) / total
    macs_before, params_before = count_macs_params(model, ctx.example_inputs)
    weights_before, sparsity_before = prunable_weight_count(model), sparsity(model)
    remove_filters(model, layers, keep, ctx.example_inputs)
    macs_after, params_after = count_macs_params(model, ctx.example_inputs)
    return model, PruneReport(
        method=criterion,
        kind="structured",
        requested_ratio=requested,
        achieved_ratio=achieved,
        macs_before=macs_before,
        macs_after=macs_after,
        params_before=params_before,
        params_after=params_after,
        sparsity_before=sparsity_before,
        sparsity_after=sparsity_vs(weights_before, model),
        widths=conv_widths(model),
        config=resolve_config(target.config, model_name(model)).name if target.config else None,
        stage_ratios=list(target.stage_ratios) if target.stage_ratios else None,
        kept={lay.name: keep[lay.name].tolist() for lay in layers},
    )


def requested_ratio(model: nn.Module, layers: list[PrunableConv], target: PruneTarget) -> float:
    """Fraction of prunable filters the target asks for, before int() rounding of keep counts."""
    total = sum(lay.channels for lay in layers)
    if target.stage_ratios is not None:
        return sum(lay.channels * target.stage_ratios[lay.stage] for lay in layers) / total
    if target.config is None:
        return float(target.ratio or 0.0)
    config = resolve_config(target.config, model_name(model))
    if config.widths:
        widths = config.conv_widths()
        return sum(lay.channels - w for lay, w in zip(layers, widths, strict=True)) / total
    return sum(lay.channels * config.conv_ratio(lay.conv_id) for lay in layers) / total
