"""SCNN for 28x28 frames (N-Omniglot): two spiking conv layers, a spiking fc layer, one head.

``Conv5x5(2 -> 15) -> LIF -> AP2 -> Conv5x5(15 -> 40) -> LIF -> AP2`` (28 -> 24 -> 12 -> 8 -> 4),
flatten 640, ``Linear(640, 300) -> LIF`` and ONE classifier ``Linear(300, K)`` that both branches
share (``head="static"`` and ``head="event"`` use the same layer). No BatchNorm. Features: the
post-reset membrane potential of the fc LIF, ``D = 300``. Convolutions and linear layers keep
their bias; convolutions are Kaiming-normal, linear weights uniform in [-0.1, 0.1].
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import layer
from torch import nn

from snn_transfer.models.backbone import SpikingBackbone
from snn_transfer.models.neurons import NeuronConfig, make_lif
from snn_transfer.models.norm import check_bn_mode
from snn_transfer.models.registry import register_model

INPUT_SIZE = 28


class SCNN(SpikingBackbone):
    """``[T, B, 2, 28, 28]`` -> logits ``[T, B, K]``, features ``[T, B, 300]``."""

    def __init__(self, num_classes: int, neuron: NeuronConfig) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            layer.Conv2d(self.in_channels, 15, 5, step_mode="m"),
            make_lif(neuron),
            layer.AvgPool2d(2, step_mode="m"),
            layer.Conv2d(15, 40, 5, step_mode="m"),
            make_lif(neuron),
            layer.AvgPool2d(2, step_mode="m"),
        )
        self.fc1 = nn.Linear(40 * 4 * 4, 300)
        self.fc1_lif = make_lif(neuron, store_v_seq=True)
        self.head = nn.Linear(300, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, nn.Linear):
                nn.init.uniform_(module.weight, -0.1, 0.1)
        self.collect_neurons()

    # one classifier for both branches
    @property
    def static_head(self) -> nn.Module:
        return self.head

    @property
    def event_head(self) -> nn.Module:
        return self.head

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"scnn expects 28x28 frames, got {x.shape[-2]}x{x.shape[-1]}")

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spikes = self.fc1_lif(self.fc1(self.features(x).flatten(2)))
        return spikes, self.fc1_lif.v_seq


@register_model("scnn")
def scnn(num_classes: int, *, neuron: NeuronConfig, bn_mode: str = "shared") -> SCNN:
    """SCNN of the N-Omniglot recipe (28x28). It has no BatchNorm: ``bn_mode`` is accepted so
    one config fits every model, checked, and has no effect."""
    check_bn_mode(bn_mode)
    return SCNN(num_classes, neuron)
