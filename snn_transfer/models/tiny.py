"""A small conv SNN for 32x32 to 34x34 frames (N-MNIST size): fast on a CPU, for demos and tests.

Three blocks ``Conv3x3 -> BN -> LIF`` of widths 16, 32, 64 with a 2x2 average pool after the
first two (34 -> 17 -> 8, 32 -> 16 -> 8), an adaptive average pool to 4x4, flatten 1024 and two
heads ``Linear(1024, K)``. Features: the post-reset membrane potential of the last LIF, before
pooling (``64 * 8 * 8 = 4096`` for 32..35 pixel inputs). With ``bn=False`` the BatchNorm layers
are left out and the convolutions get a bias: the variant whose distributed run matches a
single-process run exactly on CPU (no SyncBatchNorm there). Without BatchNorm, PyTorch's default
(or a Kaiming) initialisation leaves the third LIF silent on sparse binary frames, so those
convolutions start from ``N(0, 9 / fan_in)`` and zero bias: every layer then fires on about
a fifth to a third of its inputs. About 44k parameters at K = 10.
"""

from __future__ import annotations

import math

import torch
from spikingjelly.activation_based import layer
from torch import nn

from snn_transfer.models._checks import check_bool
from snn_transfer.models.backbone import SpikingBackbone
from snn_transfer.models.neurons import NeuronConfig, make_lif
from snn_transfer.models.norm import SeqBatchNorm2d, check_bn_mode
from snn_transfer.models.registry import register_model

WIDTHS = (16, 32, 64)
POOLED = 4
NO_BN_GAIN = 3.0


class TinySNN(SpikingBackbone):
    """``[T, B, 2, H, W]`` (H, W >= 16) -> logits ``[T, B, K]``, features ``[T, B, D]``."""

    def __init__(
        self,
        num_classes: int,
        neuron: NeuronConfig,
        bn_mode: str = "shared",
        bn: bool = True,
        compact: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.compact = compact
        blocks: list[nn.Module] = []
        channels = self.in_channels
        for i, width in enumerate(WIDTHS):
            last = i == len(WIDTHS) - 1
            blocks.append(layer.Conv2d(channels, width, 3, padding=1, bias=not bn, step_mode="m"))
            if bn:
                blocks.append(SeqBatchNorm2d(width, bn_mode))
            blocks.append(make_lif(neuron, store_v_seq=last))
            if not last:
                blocks.append(layer.AvgPool2d(2, step_mode="m"))
            channels = width
        # ends with the tap LIF, so features[-1].v_seq is the feature
        self.features = nn.Sequential(*blocks)
        self.pool = layer.AdaptiveAvgPool2d(POOLED, step_mode="m")
        self.static_head = nn.Linear(channels * POOLED**2, num_classes)
        self.event_head = nn.Linear(channels * POOLED**2, num_classes)
        if not bn:
            for module in self.features:
                if isinstance(module, nn.Conv2d):
                    fan_in = module.weight[0].numel()
                    nn.init.normal_(module.weight, 0.0, NO_BN_GAIN / math.sqrt(fan_in))
                    nn.init.zeros_(module.bias)
        self.collect_neurons()

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if min(x.shape[-2:]) < 16:
            raise ValueError(f"tiny needs frames of at least 16x16, got {list(x.shape[-2:])}")

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spikes, features = self.run_features(x)
        return self.pool(spikes).flatten(2), features.flatten(2)


@register_model("tiny")
def tiny(
    num_classes: int,
    *,
    neuron: NeuronConfig,
    bn_mode: str = "shared",
    bn: bool = True,
    compact: bool = True,
) -> TinySNN:
    """Small conv SNN for 32..34 pixel frames; ``bn=False`` drops BatchNorm; ``compact`` as
    ``vggsnn``'s."""
    check_bn_mode(bn_mode)
    compact = check_bool("compact", compact)
    return TinySNN(num_classes, neuron, bn_mode, check_bool("bn", bn), compact)
