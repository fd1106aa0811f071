"""Spiking models on SpikingJelly 2.0: a registry, the backbones, and the transfer wrapper.

Usage::

    backbone = create_model("vggsnn", 101, bn_mode="per_step")
    model = TransferModel(backbone, num_steps=10)
    out = model(static_frames, event_frames)  # both [T, B, 2, 48, 48]
    out.event_logits  # [T, B, 101]
    out.event_features  # [T, B, 18432]
"""

from __future__ import annotations

# model files register their builders on import
from snn_transfer.models import resnet, scnn, tiny, vgg  # noqa: F401
from snn_transfer.models.backbone import HEADS, SpikingBackbone
from snn_transfer.models.neurons import (
    NEURON_BACKENDS,
    NEURON_KEYS,
    SURROGATES,
    NeuronConfig,
    make_lif,
    make_surrogate,
    resolve_neuron_backend,
)
from snn_transfer.models.norm import BN_MODES, SeqBatchNorm2d
from snn_transfer.models.registry import (
    count_parameters,
    create_model,
    list_models,
    model_options,
    register_model,
)
from snn_transfer.models.transfer import TransferModel, TransferOutput

__all__ = [
    "BN_MODES",
    "HEADS",
    "NEURON_BACKENDS",
    "NEURON_KEYS",
    "SURROGATES",
    "NeuronConfig",
    "SeqBatchNorm2d",
    "SpikingBackbone",
    "TransferModel",
    "TransferOutput",
    "count_parameters",
    "create_model",
    "list_models",
    "make_lif",
    "make_surrogate",
    "model_options",
    "register_model",
    "resolve_neuron_backend",
]
