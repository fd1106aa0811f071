"""The module the trainer optimises: both branches through one backbone in ONE forward.

DistributedDataParallel allows one forward per backward, so the static and the event branch
cannot be two calls of a DDP-wrapped backbone. ``TransferModel.forward(static, event)`` runs the
static batch with the static head, then the event batch with the event head (the order of the
reference, so BatchNorm's running statistics see the event batch last), each from neuron state
0, and returns logits and features of both. It owns the STR coefficients eta (one per time step,
initialised to 1.0); the loss weights alignment at step t with ``sigmoid(eta_t)``.

``head="shared"`` makes the event branch use the static head (one classifier for both, as the
reference's SCNN has): everything the static images teach the classifier then holds for the
events from the first iteration. ``"separate"`` (two heads) is the reference's VGG and ResNet.

The baseline (event branch only) is the same module with ``static_branch=False``: the static
head of a two-head backbone is frozen (``requires_grad=False``, kept in the state dict) and no
STR coefficients exist, so every trainable parameter gets a gradient and DDP needs no
``find_unused_parameters``.

BatchNorm is shared by both branches (weights and per-branch batch statistics), but by default
its running statistics follow the event branch only (``bn_running_stats="event"``):
evaluation runs the event branch alone, and running statistics that average static images
and event frames normalise neither. ``"both"`` reproduces the reference, where the static
branch updates them too.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import torch
from torch import nn

from snn_transfer.errors import ConfigError
from snn_transfer.models._checks import check_bool, check_number, check_positive_int
from snn_transfer.models.backbone import SpikingModel, check_spiking_model, head_layer

BN_RUNNING_STATS = ("event", "both")
HEAD_MODES = ("separate", "shared")


class TransferOutput(NamedTuple):
    """Per-step outputs of both branches; the static ones are None when the branch did not run.

    ``*_logits`` ``[T, B, K]``, ``*_features`` ``[T, B, D]``, ``str_coefficients`` ``[T]`` (the
    raw eta; None without STR, and when the static branch did not run).
    """

    event_logits: torch.Tensor
    event_features: torch.Tensor
    static_logits: torch.Tensor | None
    static_features: torch.Tensor | None
    str_coefficients: torch.Tensor | None


class TransferModel(nn.Module):
    """Shared backbone with a static and an event branch, plus the STR coefficients.

    ``backbone`` is any model following ``SpikingModel`` (a registered model's, or your own).
    ``static_branch=False`` gives the event-only baseline; ``use_str=False`` leaves out the
    coefficients (recipes without STR, so no parameter goes unused); ``head`` is
    ``separate`` or ``shared`` (the event branch classifies with the static head).
    """

    def __init__(
        self,
        backbone: SpikingModel,
        num_steps: int,
        *,
        static_branch: bool = True,
        use_str: bool = True,
        str_init: float = 1.0,
        bn_running_stats: str = "event",
        head: str = "separate",
    ) -> None:
        super().__init__()
        if bn_running_stats not in BN_RUNNING_STATS:
            raise ConfigError(
                f"bn_running_stats = {bn_running_stats!r}; choose one of {BN_RUNNING_STATS}"
            )
        if head not in HEAD_MODES:
            raise ConfigError(f"head = {head!r}; choose one of {', '.join(HEAD_MODES)}")
        check_spiking_model(backbone)
        if head == "shared":
            backbone.event_head = backbone.static_head
        self.bn_running_stats = bn_running_stats
        self.backbone = backbone
        self.num_steps = check_positive_int("num_steps", num_steps)
        self.static_branch = check_bool("static_branch", static_branch)
        check_bool("use_str", use_str)
        init = check_number("str_init", str_init)
        self.str_coefficients = nn.Parameter(torch.full((num_steps,), init)) if use_str else None
        static_head = head_layer(backbone, "static")
        if not static_branch and static_head is not head_layer(backbone, "event"):
            static_head.requires_grad_(False)

    def _check_steps(self, name: str, x: torch.Tensor) -> None:
        if x.dim() != 5 or x.shape[0] != self.num_steps:
            raise ValueError(
                f"{name} batch must be [T={self.num_steps}, B, C, H, W], got {list(x.shape)}"
            )

    def forward(self, static: torch.Tensor | None, event: torch.Tensor) -> TransferOutput:
        """``static`` and ``event`` ``[T, B, C, H, W]`` -> ``TransferOutput``.

        ``static=None`` runs the event branch only (evaluation, or the baseline, which accepts
        nothing else).
        """
        self._check_steps("event", event)
        static_logits = static_features = None
        if static is not None:
            if not self.static_branch:
                raise ValueError("this TransferModel has no static branch: pass static=None")
            self._check_steps("static", static)
            with self._frozen_running_stats():
                static_logits, static_features = self.backbone(
                    static, head="static", return_features=True
                )
        event_logits, event_features = self.backbone(event, head="event", return_features=True)
        return TransferOutput(
            event_logits, event_features, static_logits, static_features, self._eta(static)
        )

    def _eta(self, static: torch.Tensor | None) -> torch.Tensor | None:
        """The STR coefficients as an output of this forward (a product, not the parameter
        itself): DistributedDataParallel then sees them used by the forward that used them,
        and unused in a forward without the static branch (static pretraining)."""
        if static is None or self.str_coefficients is None:
            return None
        return self.str_coefficients * 1.0

    @contextlib.contextmanager
    def _frozen_running_stats(self):
        """Batch statistics as usual, but running statistics left unchanged (momentum 0)."""
        if self.bn_running_stats == "both" or not self.training:
            yield
            return
        norms = [
            m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        saved = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 0.0
        try:
            yield
        finally:
            for m, momentum in zip(norms, saved, strict=True):
                m.momentum = momentum

    def copy_event_head_to_static(self) -> None:
        """Start the static head where the event head is (after static pretraining through
        the event head, so both branches begin the transfer with what it learned)."""
        static, event = head_layer(self.backbone, "static"), head_layer(self.backbone, "event")
        if static is not event:
            static.load_state_dict(event.state_dict())

    def classify(self, event: torch.Tensor) -> torch.Tensor:
        """Event-branch logits ``[T, B, K]`` (evaluation averages them over T)."""
        self._check_steps("event", event)
        return self.backbone(event, head="event")
