"""``wrap_spikingjelly``: an existing SpikingJelly network as a model of this package.

The method needs two classifiers on one trunk (static and event branch) and per-step features
before them; a network from SpikingJelly's model zoo, a paper or your own code has one
classifier and no feature tap. ``wrap_spikingjelly(net, num_classes, classifier="fc")``
turns it into a :class:`~snn_transfer.models.backbone.SpikingModel`:

* the module at the path ``classifier`` (an ``nn.Linear``, e.g. ``"fc"`` or
  ``"classifier.2"``) is taken out of ``net``: its input, kept over the time steps
  ``[T, B, F]``, goes to the two heads ``static_head`` (the original layer, or a new one when
  it has another number of outputs than ``num_classes``) and ``event_head`` (a copy), and
  whatever the network does after its classifier (a spiking output layer, a mean over T) is
  skipped;
* features ``[T, B, D]`` are the output of the module at the path ``feature_layer``,
  flattened, or for a SpikingJelly neuron its post-reset membrane potential ``v_seq`` (what
  the package's own models align); without ``feature_layer`` they are the classifier's input;
* the network runs in multi-step mode (``functional.set_step_mode(net, "m")``) on
  ``[T, B, 2, H, W]``, from neuron state 0, and is reset after every forward.

Module paths are those of ``net.named_modules()``. The network must keep the time dimension
up to its classifier (``[T, B, ...]``, or ``[T * B, ...]`` inside a ``SeqToANNContainer``).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from spikingjelly.activation_based import functional, layer
from spikingjelly.activation_based.neuron import BaseNode
from torch import nn

from snn_transfer.errors import ConfigError
from snn_transfer.models._checks import check_positive_int
from snn_transfer.models.backbone import SpikingBackbone

FEATURES = ("auto", "output", "v_seq")


class ClassifierReached(Exception):
    """Raised by :class:`ClassifierTap` to stop the network at its classifier."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__("the classifier's input")
        self.value = value


class ClassifierTap(nn.Module):
    """Stands where the network's classifier was: ends the forward with the classifier's
    input (nothing after the classifier runs)."""

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        raise ClassifierReached(x)


def _module(net: nn.Module, path: str, what: str) -> nn.Module:
    try:
        return net.get_submodule(path)
    except AttributeError:
        names = [n for n, _ in net.named_modules() if n]
        shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
        raise ConfigError(
            f"{what}={path!r}: {type(net).__name__} has no module at that path; its modules: "
            f"{shown}"
        ) from None


def _per_step(value: torch.Tensor, steps: int, batch: int, what: str) -> torch.Tensor:
    """``value`` ``[T, B, ...]`` or ``[T * B, ...]`` as ``[T, B, D]``."""
    if value.dim() < 2 or value.shape[0] not in (steps, steps * batch):
        raise ConfigError(
            f"{what} has shape {list(value.shape)}; the network must keep the time steps up "
            f"to there ([T={steps}, B={batch}, ...] or [T*B, ...])"
        )
    return value.reshape(steps, batch, -1)


class SpikingJellyModel(SpikingBackbone):
    """A SpikingJelly network with two heads and a feature tap (see :func:`wrap_spikingjelly`).

    ``net`` is the network with its classifier replaced by a :class:`ClassifierTap`;
    ``classifier`` and ``feature_layer`` are the module paths inside it.
    """

    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        *,
        classifier: str,
        feature_layer: str | None = None,
        features: str = "auto",
        in_channels: int = 2,
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.in_channels = check_positive_int("in_channels", in_channels)
        if features not in FEATURES:
            raise ConfigError(f"features={features!r}; choose one of {', '.join(FEATURES)}")
        original = _module(net, classifier, "classifier")
        if not isinstance(original, nn.Linear):
            raise ConfigError(
                f"classifier={classifier!r} is a {type(original).__name__}; name the "
                "nn.Linear that maps the features to the classes"
            )
        if original.out_features != num_classes:
            original = layer.Linear(
                original.in_features, num_classes, bias=original.bias is not None
            )
        parent, _, leaf = classifier.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, leaf, ClassifierTap())
        self.classifier_path = classifier
        self.feature_layer = feature_layer
        tap = None if feature_layer is None else _module(net, feature_layer, "feature_layer")
        if features == "v_seq" and not isinstance(tap, BaseNode):
            raise ConfigError("features='v_seq' needs a feature_layer that is a neuron layer")
        self.use_v_seq = isinstance(tap, BaseNode) and features != "output"
        if self.use_v_seq:
            tap.store_v_seq = True
        functional.set_step_mode(net, "m")
        self.net = net
        self.static_head = original
        self.event_head = copy.deepcopy(original)
        self.collect_neurons()

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps, batch = x.shape[:2]
        seen: list[torch.Tensor] = []
        handle = None
        if self.feature_layer is not None:
            module = self.net.get_submodule(self.feature_layer)

            def record(m: nn.Module, args: Any, out: torch.Tensor) -> None:
                seen.append(m.v_seq if self.use_v_seq else out)

            handle = module.register_forward_hook(record)
        try:
            self.net(x)
        except ClassifierReached as reached:
            hidden = _per_step(reached.value, steps, batch, "the classifier's input")
        else:
            raise ConfigError(
                f"{type(self.net).__name__} never called its classifier "
                f"{self.classifier_path!r}; name the layer its forward ends with"
            )
        finally:
            if handle is not None:
                handle.remove()
        if self.feature_layer is None:
            return hidden, hidden
        if not seen:
            raise ConfigError(
                f"feature_layer={self.feature_layer!r} did not run before the classifier "
                f"{self.classifier_path!r}"
            )
        return hidden, _per_step(seen[-1], steps, batch, f"feature_layer {self.feature_layer!r}")


def wrap_spikingjelly(
    net: nn.Module,
    num_classes: int,
    *,
    classifier: str,
    feature_layer: str | None = None,
    features: str = "auto",
    in_channels: int = 2,
) -> SpikingJellyModel:
    """``net`` (a SpikingJelly network; changed in place: its classifier is taken out) as a
    model with a static and an event head and per-step features (see the module docstring).

    Args:
        net: the network; input ``[T, B, in_channels, H, W]`` in multi-step mode.
        num_classes: outputs of each head; a classifier with another number of outputs is
            replaced by a new ``nn.Linear`` with as many inputs.
        classifier: module path of the ``nn.Linear`` that maps features to classes.
        feature_layer: module path whose output (or, for a neuron layer, its post-reset
            membrane potential) gives the features; default: the classifier's input.
        features: ``auto`` (``v_seq`` for a neuron layer, the output otherwise), ``output``
            or ``v_seq``.
        in_channels: input channels (2: the event polarities).
    """
    return SpikingJellyModel(
        net,
        num_classes,
        classifier=classifier,
        feature_layer=feature_layer,
        features=features,
        in_channels=in_channels,
    )
