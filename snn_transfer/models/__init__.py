"""Spiking models on SpikingJelly 2.0: a registry, the backbones, and the transfer wrapper.

Usage::

    backbone = create_model("vggsnn", 101, bn_mode="per_step")
    model = TransferModel(backbone, num_steps=10)
    out = model(static_frames, event_frames)  # both [T, B, 2, 48, 48]
    out.event_logits  # [T, B, 101]
    out.event_features  # [T, B, 18432]

A network of your own follows ``SpikingModel`` (``wrap_spikingjelly`` makes one of a
SpikingJelly network) and is registered with ``@register_model("name")`` or passed as an
instance (``Trainer(config, model=...)``).
"""

from __future__ import annotations

# model files register their builders on import
from snn_transfer.models import resnet, scnn, tiny, vgg  # noqa: F401
from snn_transfer.models.backbone import (
    HEADS,
    SpikingBackbone,
    SpikingModel,
    check_spiking_model,
)
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
    ENTRY_POINT_GROUP,
    count_parameters,
    create_model,
    list_models,
    model_module,
    model_options,
    register_model,
)
from snn_transfer.models.transfer import TransferModel, TransferOutput
from snn_transfer.models.wrap import SpikingJellyModel, wrap_spikingjelly

__all__ = [
    "BN_MODES",
    "ENTRY_POINT_GROUP",
    "HEADS",
    "NEURON_BACKENDS",
    "NEURON_KEYS",
    "SURROGATES",
    "NeuronConfig",
    "SeqBatchNorm2d",
    "SpikingBackbone",
    "SpikingJellyModel",
    "SpikingModel",
    "TransferModel",
    "TransferOutput",
    "check_spiking_model",
    "count_parameters",
    "create_model",
    "list_models",
    "make_lif",
    "make_surrogate",
    "model_module",
    "model_options",
    "register_model",
    "resolve_neuron_backend",
    "wrap_spikingjelly",
]
