"""VGGSNN for 48x48 two-polarity frames, with a static and an event head.

Blocks Conv3x3 (no bias) -> BN -> LIF with widths
``64, 128, AP2, 256, 256, AP2, 512, 512, AP2, 512, 512, AP2``; 48 -> 24 -> 12 -> 6 -> 3, then
flatten ``512 * 3 * 3 = 4608`` and two heads ``Linear(4608, K)`` giving per-step logits (the
last layer does not spike). Features: the post-reset membrane potential of the eighth LIF, at
6x6 before the last pooling, ``D = 512 * 6 * 6 = 18432``. PyTorch's default initialisation.

Parameter count with K = 101: 10,153,674 (convolutions 9,217,152, BatchNorm 5,504, heads
931,018). The reference reports 10,153,700; the 26 more are its 10 STR coefficients, 8 LIF
thresholds and 8 surrogate alphas, which it stores as parameters. Here the thresholds and
alphas are fixed constants of the neurons (the reference never trains them either) and the
T STR coefficients belong to ``TransferModel``, so
``TransferModel(create_model("vggsnn", 101), num_steps=10)`` has 10,153,684 trainable
parameters: the reference's count minus its 16 neuron constants.
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import layer
from torch import nn

from snn_transfer.models._checks import check_bool
from snn_transfer.models.backbone import SpikingBackbone
from snn_transfer.models.neurons import NeuronConfig, make_lif
from snn_transfer.models.norm import SeqBatchNorm2d, check_bn_mode
from snn_transfer.models.registry import register_model

# "A" is a 2x2 average pooling
VGGSNN_LAYOUT: tuple[int | str, ...] = (64, 128, "A", 256, 256, "A", 512, 512, "A", 512, 512, "A")
INPUT_SIZE = 48


class VGGSNN(SpikingBackbone):
    """VGGSNN: ``[T, B, 2, 48, 48]`` -> logits ``[T, B, K]``, features ``[T, B, 18432]``."""

    def __init__(
        self,
        num_classes: int,
        neuron: NeuronConfig,
        bn_mode: str = "shared",
        compact: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.compact = compact
        body = VGGSNN_LAYOUT[:-1]  # the final pooling follows the feature tap
        tap = max(i for i, width in enumerate(body) if width != "A")
        blocks: list[nn.Module] = []
        channels = self.in_channels
        for i, width in enumerate(body):
            if width == "A":
                blocks.append(layer.AvgPool2d(2, step_mode="m"))
                continue
            blocks += [
                layer.Conv2d(channels, width, 3, padding=1, bias=False, step_mode="m"),
                SeqBatchNorm2d(width, bn_mode),
                make_lif(neuron, store_v_seq=i == tap),
            ]
            channels = width
        # ends with the tap LIF, so features[-1].v_seq is the feature
        self.features = nn.Sequential(*blocks)
        self.pool = layer.AvgPool2d(2, step_mode="m")
        flat = channels * (INPUT_SIZE // 16) ** 2
        self.static_head = nn.Linear(flat, num_classes)
        self.event_head = nn.Linear(flat, num_classes)
        self.collect_neurons()

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"vggsnn expects 48x48 frames, got {x.shape[-2]}x{x.shape[-1]}")

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spikes, features = self.run_features(x)
        return self.pool(spikes).flatten(2), features.flatten(2)


@register_model("vggsnn")
def vggsnn(
    num_classes: int, *, neuron: NeuronConfig, bn_mode: str = "shared", compact: bool = True
) -> VGGSNN:
    """VGGSNN of the N-Caltech101 recipe (48x48 input); ``bn_mode`` 'shared' or 'per_step';
    ``compact`` trains through ``models.compact`` (same results, less memory; False: the
    SpikingJelly layers' own forward)."""
    check_bn_mode(bn_mode)
    return VGGSNN(num_classes, neuron, bn_mode, check_bool("compact", compact))
