"""What the trainer optimises: the ``TransferModel`` a config describes and, for ``dann``, the
domain classifier, in one module with one forward (as DistributedDataParallel requires)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from snn_transfer.losses import domain_adversarial_loss
from snn_transfer.run_config import TransferConfig


def build_model(config: TransferConfig, num_classes: int) -> nn.Module:
    """The ``TransferModel`` a config describes (backbone from the model registry)."""
    from snn_transfer.models import TransferModel, create_model

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
