"""What the trainer optimises: the ``TransferModel`` a config describes and, for ``dann``, the
domain classifier, in one module with one forward (as DistributedDataParallel requires).

The backbone comes from the model registry, or is a model instance of the caller's
(``Trainer(config, model=...)``, ``load_run(path, model=...)``): :func:`instance_config`
records such a run's model as ``model.name = "instance"``, and :func:`model_source` says
which module and class a new process needs to rebuild the model.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from snn_transfer.errors import ConfigNote
from snn_transfer.losses import domain_adversarial_loss
from snn_transfer.run_config import ModelConfig, TransferConfig

INSTANCE = "instance"  # as snn_transfer.models.registry.INSTANCE, without importing the models


def instance_config(config: TransferConfig, model: nn.Module) -> TransferConfig:
    """``config`` as a run trained on the instance ``model`` records it: ``model.name`` is
    ``instance`` and ``model.options`` empty (a note says so when they named something)."""
    named = config.model.name not in (ModelConfig.name, INSTANCE) or config.model.options
    if named:
        warnings.warn(
            f"model.name = {config.model.name!r} and model.options are not used: the model "
            f"instance passed ({type(model).__qualname__}) is trained, and the run records "
            f"model.name = {INSTANCE!r}",
            ConfigNote,
            stacklevel=3,
        )
    model_section = dataclasses.replace(config.model, name=INSTANCE, options={})
    return dataclasses.replace(config, model=model_section)


def model_source(config: TransferConfig, backbone: nn.Module) -> dict[str, Any]:
    """The model's name, the module a new process must import to rebuild it, and its class."""
    from snn_transfer.models import model_module

    cls = type(backbone)
    module = cls.__module__ if config.model.name == INSTANCE else model_module(config.model.name)
    return {
        "name": config.model.name,
        "module": module,
        "class": f"{cls.__module__}.{cls.__qualname__}",
    }


def build_model(
    config: TransferConfig, num_classes: int, backbone: nn.Module | None = None
) -> nn.Module:
    """The ``TransferModel`` a config describes: its backbone from the model registry, or
    ``backbone`` (an instance following ``SpikingModel``) when given."""
    from snn_transfer.models import TransferModel, create_model

    if backbone is None:
        backbone = create_model(config.model.name, num_classes, **config.model.options)
    transfer = config.mode == "transfer"
    return TransferModel(
        backbone,
        config.time_steps,
        static_branch=transfer,
        use_str=config.learns_str,
        bn_running_stats=config.model.bn_running_stats,
        head=config.model.head,
    )


def build_domain_classifier(
    config: TransferConfig, model: nn.Module, frames: np.ndarray, device: torch.device
) -> nn.Module | None:
    """The ``dann`` domain classifier, sized by the features of one sample ``frames``
    ``[T, P, H, W]``; None for every other configuration."""
    if config.mode != "transfer" or config.loss.alignment != "dann":
        return None
    from snn_transfer.losses import DomainClassifier

    with torch.no_grad():
        _, features = model.backbone(
            torch.from_numpy(frames)[:, None].to(device), return_features=True
        )
    return DomainClassifier(features.shape[-1]).to(device)


class TrainingModule(nn.Module):
    """What the optimizer (and DistributedDataParallel) sees: the transfer model plus, for
    ``dann``, the domain classifier, in one forward."""

    def __init__(self, model: nn.Module, domain: nn.Module | None) -> None:
        super().__init__()
        self.model = model
        self.domain = domain

    def forward(self, static, event):
        out = self.model(static, event)
        domain = None
        if self.domain is not None and out.static_features is not None:
            domain = domain_adversarial_loss(
                self.domain(out.static_features), self.domain(out.event_features)
            )
        return out, domain
