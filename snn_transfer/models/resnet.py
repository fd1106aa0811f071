"""Pre-activation spiking ResNet18 with a static and an event head.

Stem ``conv3x3(2 -> 64, stride 1)``; four layers of two BasicBlocks, widths 64/128/256/512,
strides 1/2/2/2 (48 -> 48 -> 24 -> 12 -> 6). A BasicBlock computes
``conv3x3(LIF(BN(conv3x3(LIF(BN(x)))))) + shortcut(x)`` with the identity as shortcut, or
``conv1x1(LIF(BN(x)))`` with the block's stride when the shape changes. After the last layer a
BatchNorm and a global average pool give the 512-d per-step feature (real-valued, not a membrane
potential), which both heads ``Linear(512, K)`` read. Convolutions have no bias and a
Kaiming-normal (fan-out) initialisation; BatchNorm starts at weight 1, bias 0.
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import layer
from torch import nn

from snn_transfer.models.backbone import SpikingBackbone
from snn_transfer.models.neurons import NeuronConfig, make_lif
from snn_transfer.models.norm import SeqBatchNorm2d
from snn_transfer.models.registry import register_model

WIDTHS = (64, 128, 256, 512)
STRIDES = (1, 2, 2, 2)
BLOCKS = (2, 2, 2, 2)


def _conv(cin: int, cout: int, kernel: int, stride: int) -> nn.Module:
    return layer.Conv2d(
        cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False, step_mode="m"
    )


class PreActBlock(nn.Module):
    """Pre-activation BasicBlock on ``[T, B, C_in, H, W]`` -> ``[T, B, C_out, H/s, W/s]``."""

    def __init__(
        self, cin: int, cout: int, stride: int, neuron: NeuronConfig, bn_mode: str
    ) -> None:
        super().__init__()
        self.bn1 = SeqBatchNorm2d(cin, bn_mode)
        self.lif1 = make_lif(neuron)
        self.conv1 = _conv(cin, cout, 3, stride)
        self.bn2 = SeqBatchNorm2d(cout, bn_mode)
        self.lif2 = make_lif(neuron)
        self.conv2 = _conv(cout, cout, 3, 1)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                SeqBatchNorm2d(cin, bn_mode), make_lif(neuron), _conv(cin, cout, 1, stride)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.lif1(self.bn1(x)))
        out = self.conv2(self.lif2(self.bn2(out)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return out + shortcut


class SpikingResNet18(SpikingBackbone):
    """``[T, B, 2, H, W]`` (48x48 in the recipe; any size >= 8) -> ``[T, B, K]``, ``[T, B, 512]``."""

    def __init__(self, num_classes: int, neuron: NeuronConfig, bn_mode: str = "shared") -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stem = _conv(self.in_channels, WIDTHS[0], 3, 1)
        layers: list[nn.Module] = []
        channels = WIDTHS[0]
        for width, stride, count in zip(WIDTHS, STRIDES, BLOCKS, strict=True):
            blocks = [PreActBlock(channels, width, stride, neuron, bn_mode)]
            blocks += [PreActBlock(width, width, 1, neuron, bn_mode) for _ in range(count - 1)]
            layers.append(nn.Sequential(*blocks))
            channels = width
        self.layers = nn.Sequential(*layers)
        self.bn = SeqBatchNorm2d(channels, bn_mode)
        self.static_head = nn.Linear(channels, num_classes)
        self.event_head = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        self.collect_neurons()

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if min(x.shape[-2:]) < 8:
            raise ValueError(f"resnet18 needs frames of at least 8x8, got {list(x.shape[-2:])}")

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.bn(self.layers(self.stem(x))).mean(dim=(-2, -1))
        return pooled, pooled


@register_model("resnet18")
def resnet18(num_classes: int, *, neuron: NeuronConfig, bn_mode: str = "shared") -> SpikingResNet18:
    """Pre-activation spiking ResNet18 of the CEP-DVS recipe; ``bn_mode`` 'shared'/'per_step'."""
    return SpikingResNet18(num_classes, neuron, bn_mode)
