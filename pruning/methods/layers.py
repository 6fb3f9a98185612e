"""Which convolutions a structured method may prune, their BatchNorm, stage and PFEC conv id.

The rule follows PFEC (Li et al. 2017): in a residual network only the convs *inside* a block
are pruned (the first conv of a CIFAR BasicBlock; conv1/conv2 of a Bottleneck), so the
residual additions and shortcuts keep their widths; in a plain network (VGG, the small CNN)
every conv is pruned and the next layer's inputs follow. The classifier is never pruned as an
output.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

CONV_TYPES = (nn.Conv1d, nn.Conv2d)
BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)
POOL_TYPES = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)


@dataclass
class PrunableConv:
    """One conv whose output filters may be removed, with the BN that normalises them."""

    name: str
    conv: nn.Module
    bn: nn.Module | None
    conv_id: int
    stage: int

    @property
    def channels(self) -> int:
        return int(self.conv.out_channels)


def classifier_of(model: nn.Module) -> nn.Module | None:
    """The final Linear: via the model zoo's accessor where present, else the last Linear."""
    if hasattr(model, "classifier_module"):
        return model.classifier_module()
    name = getattr(model, "classifier_name", None)
    if isinstance(name, str):
        return model.get_submodule(name)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def conv_ids(model: nn.Module) -> dict[nn.Module, int]:
    """PFEC numbering: every conv in `model.modules()` order, from 1 = the stem."""
    convs = [m for m in model.modules() if isinstance(m, CONV_TYPES)]
    return {m: i + 1 for i, m in enumerate(convs)}


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Blocks with a main path (conv1, conv2, ...) and a shortcut/downsample branch."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(getattr(m, "conv1", None), CONV_TYPES)
        and (hasattr(m, "shortcut") or hasattr(m, "downsample"))
    ]


def family(model: nn.Module) -> str:
    """ "cifar_resnet" (3 stages, layer1..3), "resnet" (torchvision, layer1..4), "vgg" (a
    `features` stack) or "plain"."""
    if residual_blocks(model):
        return "resnet" if hasattr(model, "layer4") else "cifar_resnet"
    return "vgg" if isinstance(getattr(model, "features", None), nn.Sequential) else "plain"


def model_name(model: nn.Module) -> str | None:
    """Architecture name as the paper configs spell it ("resnet56", "vgg16"), inferred from
    the structure: a CIFAR ResNet of depth 6n + 2 has 6n + 1 convs (option-A shortcuts have
    none), a CIFAR VGG-d has d − 3 convs."""
    for attr in ("model_name", "arch_name"):
        value = getattr(model, attr, None)
        if isinstance(value, str):
            return value
    kind, n_convs = family(model), len(conv_ids(model))
    if kind == "cifar_resnet":
        return f"resnet{n_convs + 1}"
    if kind == "vgg":
        return f"vgg{n_convs + 3}"
    return None


def _bn_after(modules: list[tuple[str, nn.Module]], index: int) -> nn.Module | None:
    """The first BN after modules[index] and before the next conv, if its width matches."""
    conv = modules[index][1]
    for _, m in modules[index + 1 :]:
        if isinstance(m, CONV_TYPES):
            return None
        if isinstance(m, BN_TYPES):
            return m if m.num_features == conv.out_channels else None
    return None


def _block_inner_convs(block: nn.Module) -> list[nn.Module]:
    """Main-path convs of a block except the last (whose output meets the shortcut)."""
    convs = []
    i = 1
    while isinstance(getattr(block, f"conv{i}", None), CONV_TYPES):
        convs.append(getattr(block, f"conv{i}"))
        i += 1
    return convs[:-1]


def prunable_convs(model: nn.Module) -> list[PrunableConv]:
    """The convs a structured method prunes, in module order, with BN, conv id and stage."""
    modules = list(model.named_modules())
    ids = conv_ids(model)
    blocks = residual_blocks(model)
    stage_of: dict[nn.Module, int] = {}
    if blocks:
        stage_names: list[str] = []
        for block_name, block in blocks:
            top = block_name.split(".")[0]
            if top not in stage_names:
                stage_names.append(top)
            for conv in _block_inner_convs(block):
                stage_of[conv] = stage_names.index(top)
    else:
        pools = 0
        for _, m in modules:
            if isinstance(m, POOL_TYPES):
                pools += 1
            elif isinstance(m, CONV_TYPES):
                stage_of[m] = pools
    layers = []
    for index, (name, m) in enumerate(modules):
        if m in stage_of:
            layers.append(PrunableConv(name, m, _bn_after(modules, index), ids[m], stage_of[m]))
    if layers and not blocks:
        # Stages count pools *between* convs: a pool before the first conv opens no stage.
        first = layers[0].stage
        for layer in layers:
            layer.stage -= first
    return layers


def conv_widths(model: nn.Module) -> dict[str, int]:
    """Output channels of every conv, by module name, in module order."""
    return {n: int(m.out_channels) for n, m in model.named_modules() if isinstance(m, CONV_TYPES)}
