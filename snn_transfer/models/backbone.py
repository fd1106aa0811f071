"""The forward contract every model follows: :class:`SpikingModel`, and a base class for it.

``model(x, head="event")`` takes ``x`` ``[T, B, C, H, W]`` (SpikingJelly's multi-step layout)
and returns per-step logits ``[T, B, K]``; with ``return_features=True`` it returns
``(logits, features)`` with per-step features ``[T, B, D]`` taken before the classifier (the
post-reset membrane potential of a designated LIF layer, or a pooled real-valued vector).

Every forward starts from membrane potential 0 and leaves no state behind: the model resets all
its neuron layers before and after the pass, so a caller cannot forget ``reset_net`` and two
branches run through the same model never see each other's state.

The registry's models subclass :class:`SpikingBackbone`; a model of your own only has to
follow :class:`SpikingModel` (``wrap_spikingjelly`` makes one of a SpikingJelly network).
"""

from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from snn_transfer.errors import ConfigError
from snn_transfer.models.compact import compact_applies, plan_features, run_compact
from snn_transfer.models.neurons import neuron_types

HEADS: tuple[str, ...] = ("static", "event")


@runtime_checkable
class SpikingModel(Protocol):
    """What ``Trainer(config, model=...)``, ``load_run(path, model=...)`` and every registered
    builder's result are: an ``nn.Module`` with

    * ``forward(x, head="event", return_features=False)``: ``x`` ``[T, B, 2, H, W]`` ->
      logits ``[T, B, K]``, or ``(logits, features [T, B, D])`` with ``return_features``;
      ``head`` is ``"static"`` or ``"event"`` and selects the classifier;
    * ``static_head`` and ``event_head``: the two classifiers ``[T, B, F]`` -> ``[T, B, K]``
      (modules; the trainer makes ``event_head`` the static one for ``model.head=shared``,
      and freezes the static one for the event-only baseline), used by ``forward`` through
      these attributes;
    * neuron state reset before and after every forward (``functional.reset_net``).
    """

    static_head: nn.Module
    event_head: nn.Module

    def __call__(
        self, x: torch.Tensor, head: str = "event", return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def check_spiking_model(model: object) -> nn.Module:
    """``model`` if it follows :class:`SpikingModel`; ConfigError saying what is missing."""
    name = type(model).__qualname__
    problems = []
    if not isinstance(model, nn.Module):
        problems.append("it is not a torch.nn.Module")
    else:
        for head in HEADS:
            if not isinstance(getattr(model, f"{head}_head", None), nn.Module):
                problems.append(f"it has no module {head}_head")
        params = inspect.signature(model.forward).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        missing = [k for k in ("head", "return_features") if k not in params and not takes_any]
        if missing:
            problems.append(f"its forward takes no {' and no '.join(missing)}")
    if problems:
        raise ConfigError(
            f"the model {name} does not follow the SpikingModel contract: "
            f"{'; '.join(problems)}. See snn_transfer.models.SpikingModel, or turn a "
            "SpikingJelly network into one with snn_transfer.models.wrap_spikingjelly"
        )
    return model


def head_layer(model: nn.Module, head: str) -> nn.Module:
    """The classifier ``model`` uses for ``head`` (``static`` or ``event``)."""
    if head not in HEADS:
        raise ConfigError(f"head={head!r} is not allowed; choose one of {', '.join(HEADS)}")
    return getattr(model, f"{head}_head")


class SpikingBackbone(nn.Module):
    """Base class: subclasses build their layers and implement ``forward_features``.

    Subclasses set ``num_classes`` and the classifiers ``static_head`` and ``event_head`` (two
    ``nn.Linear``, or the same layer twice), then call ``self.collect_neurons()`` at the end of
    ``__init__``.
    """

    num_classes: int
    in_channels: int = 2
    #: train ``features`` through ``models.compact`` (same results, less memory) where it applies
    compact: bool = False

    def collect_neurons(self) -> None:
        """Collect the stateful neuron layers once the model is built."""
        kinds = neuron_types()
        self._neurons = tuple(m for m in self.modules() if isinstance(m, kinds))

    def head_layer(self, head: str) -> nn.Module:
        """The classifier used by ``head``: ``[T, B, F]`` -> ``[T, B, K]``."""
        return head_layer(self, head)

    def reset_state(self) -> None:
        """Reset every neuron layer to membrane potential 0 and drop stored ``v_seq``."""
        for layer in self._neurons:
            layer.reset()

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is ``[T, B, in_channels, H, W]`` of a usable size."""
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects input [T, B, {self.in_channels}, H, W], "
                f"got {list(x.shape)}"
            )

    def run_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``self.features`` (a stack ending with the tap LIF) over ``x`` ``[T, B, C, H, W]``:
        ``(spikes [T, B, ...], v_seq [T, B, ...] of its last layer)``. With ``compact`` and
        where ``models.compact`` applies (training), its compact path; the modules otherwise."""
        features = self.features
        if self.compact:
            blocks = plan_features(features)
            if compact_applies(features, blocks, x):
                return run_compact(blocks, x)
        spikes = features(x)
        return spikes, features[-1].v_seq

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``[T, B, C, H, W]`` -> (head input ``[T, B, F]``, features ``[T, B, D]``)."""
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, head: str = "event", return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Per-step logits ``[T, B, K]``, or ``(logits, features [T, B, D])`` when asked."""
        classifier = self.head_layer(head)
        self.check_input(x)
        self.reset_state()
        hidden, features = self.forward_features(x)
        # reset again: the stored states hold the autograd graph and would pin its memory
        self.reset_state()
        logits = classifier(hidden)
        return (logits, features) if return_features else logits
