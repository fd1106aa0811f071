"""Model registry: ``create_model(name, num_classes, **options)``, no class names in callers.

A builder is registered with ``@register_model("name")`` and has the signature
``builder(num_classes, *, neuron: NeuronConfig, **model_options)``. ``create_model`` collects
the neuron options (``tau``, ``v_threshold``, ``v_reset``, ``detach_reset``, ``surrogate``,
``surrogate_alpha``, ``neuron_backend``) into a ``NeuronConfig`` and passes the rest to the
builder; an unknown name or option raises ConfigError listing the allowed ones.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from snn_transfer.errors import ConfigError
from snn_transfer.models._checks import check_positive_int
from snn_transfer.models.backbone import SpikingBackbone
from snn_transfer.models.neurons import NEURON_KEYS, NeuronConfig

Builder = TypeVar("Builder", bound=Callable[..., SpikingBackbone])

_REGISTRY: dict[str, Callable[..., SpikingBackbone]] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder`` under ``name`` (names are unique)."""

    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = builder
        return builder

    return decorate


def _load_builtin_models() -> None:
    # importing the package imports every model file, which registers its builders
    importlib.import_module("snn_transfer.models")


def list_models() -> list[str]:
    """Names accepted by ``create_model``, sorted."""
    _load_builtin_models()
    return sorted(_REGISTRY)


def model_options(name: str) -> dict[str, Any]:
    """Options ``create_model(name, ...)`` accepts besides the neuron keys, with defaults."""
    builder = _builder(name)
    params = inspect.signature(builder).parameters
    return {
        key: p.default
        for key, p in params.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and key != "neuron"
    }


def _builder(name: str) -> Callable[..., SpikingBackbone]:
    _load_builtin_models()
    builder = _REGISTRY.get(name)
    if builder is None:
        raise ConfigError(
            f"model={name!r} is unknown; choose one of {', '.join(sorted(_REGISTRY))}"
        )
    return builder


def create_model(name: str, num_classes: int, **options: Any) -> SpikingBackbone:
    """Build the registered model ``name`` with ``num_classes`` outputs per head.

    ``options`` are the model's own options (see ``model_options``) plus the neuron keys, or a
    ready ``neuron=NeuronConfig(...)`` instead of the neuron keys.
    """
    builder = _builder(name)
    check_positive_int("num_classes", num_classes)
    neuron_options = {key: options.pop(key) for key in NEURON_KEYS if key in options}
    neuron = options.pop("neuron", None)
    if neuron is None:
        neuron = NeuronConfig(**neuron_options)
    elif not isinstance(neuron, NeuronConfig) or neuron_options:
        raise ConfigError(
            "neuron= must be a NeuronConfig and excludes the separate neuron keys "
            f"({', '.join(NEURON_KEYS)})"
        )
    check_model_options(name, options)
    return builder(num_classes, neuron=neuron, **options)


def check_model_options(name: str, options: dict[str, Any]) -> None:
    """Refuse an unknown model or option (the trainer calls this before loading data)."""
    allowed = [*model_options(name), *NEURON_KEYS, "neuron"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"option {unknown[0]!r} is not accepted by model {name!r}; allowed options: "
            f"{', '.join(sorted(allowed))}"
        )


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters of ``model``; a parameter shared by two layers counts once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
