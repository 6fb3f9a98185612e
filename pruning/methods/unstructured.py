"""Unstructured (weight) pruning with masks.

- magnitude (Han et al. 2015): one global threshold over |w| of all conv weights (all linear
  weights too with ctx.include_fc).
- random_unstructured: the same number of weights, drawn uniformly at random (seeded).
- weight_change — SILO: removes the weights that moved least over the round's last epoch,
  |w_end − w_(end−1)|, one global percentile; not Sanh et al.'s movement pruning. It needs
  ctx.previous_weights (the weights one epoch before the end). SILO's `prune_by_percentile`
  (resnet_20_cifar_10.py) takes np.percentile over the alive entries of every parameter whose
  name contains 'weight' and zeroes |w − w_prev| <= that value; here the scope is the conv
  weights (linears with include_fc), as for magnitude, and exactly round(ratio · alive) weights
  go. SILO's version also masks BN γ, and an indentation slip counts every weight followed by a
  bias twice in its percentile; neither is reproduced. Its VGG-19 script ranks |Δw|·|w| per
  layer instead.

A round removes `ratio` of the weights still *alive* (mask True and nonzero), so k rounds of p
leave (1 − p)^k of them: the iterative schedule of Renda et al. 2020 and S-Cyc. Weights already
zero stay pruned. Masks are bool tensors keyed by `named_parameters()` name, ready for the
training loop to multiply in after every optimizer step; they are also applied here.
"""

from __future__ import annotations

import torch
from torch import nn

from pruning.budget import count_macs_params, sparsity
from pruning.methods.layers import CONV_TYPES, conv_widths
from pruning.methods.report import PruneContext, PruneReport, PruneTarget

CRITERIA = ("magnitude", "random_unstructured", "weight_change")
# Criteria that score a weight by how far it moved: they need ctx.previous_weights.
NEEDS_PREVIOUS_WEIGHTS = frozenset({"weight_change"})


def scope_weights(model: nn.Module, include_fc: bool = False) -> dict[str, nn.Parameter]:
    """The weights an unstructured method prunes, by `named_parameters()` name."""
    kinds = (*CONV_TYPES, nn.Linear) if include_fc else CONV_TYPES
    return {
        f"{name}.weight" if name else "weight": m.weight
        for name, m in model.named_modules()
        if isinstance(m, kinds)
    }


def alive_masks(
    weights: dict[str, nn.Parameter], masks: dict[str, torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """True where a weight is still in play: nonzero and not masked by an earlier round."""
    alive = {}
    for name, weight in weights.items():
        mask = weight.detach() != 0
        if masks is not None and name in masks:
            mask &= masks[name].to(mask.device).bool()
        alive[name] = mask
    return alive


def _scores(
    criterion: str,
    weights: dict[str, nn.Parameter],
    positions: torch.Tensor,
    seed: int,
    previous: dict[str, torch.Tensor] | None,
) -> torch.Tensor:
    """Scores of the alive weights at `positions` of the flattened scope; lowest go first."""
    flat = torch.cat([w.detach().flatten().cpu() for w in weights.values()])[positions]
    if criterion == "magnitude":
        return flat.abs()
    if criterion == "weight_change":
        assert previous is not None
        before = torch.cat([previous[n].detach().flatten().cpu() for n in weights])[positions]
        return (flat - before.to(flat.dtype)).abs()
    return torch.rand(flat.numel(), generator=torch.Generator().manual_seed(seed))


def select_weights(
    weights: dict[str, nn.Parameter],
    alive: dict[str, torch.Tensor],
    ratio: float,
    criterion: str,
    seed: int,
    previous: dict[str, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], int, int]:
    """New masks removing round(ratio · n_alive) alive weights (the lowest scores, one global
    ranking); returns (masks, n_alive, n_removed). `previous`: weight_change's earlier weights."""
    flat_alive = torch.cat([alive[n].flatten().cpu() for n in weights])
    positions = flat_alive.nonzero().squeeze(1)
    n_remove = round(ratio * positions.numel())
    scores = _scores(criterion, weights, positions, seed, previous)
    order = torch.argsort(scores, stable=True)
    flat_alive[positions[order[:n_remove]]] = False
    masks, start = {}, 0
    for name, weight in weights.items():
        chunk = flat_alive[start : start + weight.numel()]
        masks[name] = chunk.reshape(weight.shape).to(weight.device)
        start += weight.numel()
    return masks, int(positions.numel()), n_remove


def check_previous_weights(
    criterion: str, weights: dict[str, nn.Parameter], previous: dict[str, torch.Tensor] | None
) -> None:
    """weight_change needs the earlier value of every weight it may prune, in the same shape."""
    if previous is None:
        raise ValueError(
            f"{criterion} needs ctx.previous_weights: the weights one epoch before the end of "
            "the round, by named_parameters() name (e.g. a state_dict snapshot)"
        )
    missing = [n for n in weights if n not in previous]
    if missing:
        raise ValueError(
            f"ctx.previous_weights lacks {', '.join(missing[:3])}"
            + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            + f"; {criterion} needs every weight it may prune"
        )
    for name, weight in weights.items():
        if tuple(previous[name].shape) != tuple(weight.shape):
            raise ValueError(
                f"ctx.previous_weights[{name!r}] has shape {tuple(previous[name].shape)}, "
                f"the weight is {tuple(weight.shape)}"
            )


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero every masked-out weight (what the training loop repeats after each step)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(device=params[name].device, dtype=params[name].dtype))


def prune_unstructured(
    model: nn.Module, target: PruneTarget, ctx: PruneContext, *, criterion: str
) -> tuple[nn.Module, PruneReport]:
    """One round of unstructured pruning in place; the report carries the cumulative masks."""
    if target.ratio is None:
        raise ValueError(
            f"{criterion} takes a uniform ratio (one global ranking), not stage_ratios or config"
        )
    weights = scope_weights(model, ctx.include_fc)
    unknown = sorted(set(ctx.masks or {}) - set(dict(model.named_parameters())))
    if unknown:
        raise ValueError(f"ctx.masks names parameters this model lacks: {', '.join(unknown[:3])}")
    if criterion in NEEDS_PREVIOUS_WEIGHTS:
        check_previous_weights(criterion, weights, ctx.previous_weights)
    before_masks = dict(ctx.masks) if ctx.masks else None
    macs_before, params_before = count_macs_params(model, ctx.example_inputs, before_masks)
    sparsity_before = sparsity(model, before_masks)
    alive = alive_masks(weights, ctx.masks)
    new_masks, n_alive, n_removed = select_weights(
        weights, alive, target.ratio, criterion, ctx.seed, ctx.previous_weights
    )
    masks = {k: v.bool() for k, v in (ctx.masks or {}).items()}
    masks.update(new_masks)
    apply_masks(model, masks)
    macs_after, params_after = count_macs_params(model, ctx.example_inputs, masks)
    return model, PruneReport(
        method=criterion,
        kind="unstructured",
        requested_ratio=target.ratio,
        achieved_ratio=n_removed / n_alive if n_alive else 0.0,
        macs_before=macs_before,
        macs_after=macs_after,
        params_before=params_before,
        params_after=params_after,
        sparsity_before=sparsity_before,
        sparsity_after=sparsity(model, masks),
        widths=conv_widths(model),
        masks=masks,
    )
