"""Model registry: ``create_model(name, num_classes, **options)``, no class names in callers.

A builder is registered with ``@register_model("name")`` and has the signature
``builder(num_classes, *, neuron: NeuronConfig, **model_options)`` (a builder without a
``neuron`` parameter takes no neuron options). ``create_model`` collects the neuron options
(``tau``, ``v_threshold``, ``v_reset``, ``detach_reset``, ``surrogate``, ``surrogate_alpha``,
``neuron_backend``) into a ``NeuronConfig`` and passes the rest to the builder; an unknown
name or option raises ConfigError listing the allowed ones. A builder returns a model that
follows the contract of ``backbone.SpikingModel``.

Models from outside the package register the same way, in a module the user imports
(``snn-transfer ... --import my_package.models``), or through the entry-point group
``snn_transfer.models`` of an installed distribution (``name = "my_package.models:builder"``),
which is loaded when a name is not found. A name in a config never makes the package import
a module: a run folder someone shared chooses no code to run.
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
#: the entry-point group through which installed distributions add models
ENTRY_POINT_GROUP = "snn_transfer.models"
#: what a run trained on a model instance (``Trainer(config, model=...)``) records as its name
INSTANCE = "instance"


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder`` under ``name`` (names are unique; registering the same
    function again, as re-importing its module does, replaces it)."""
    if name == INSTANCE:
        raise ValueError(f"{INSTANCE!r} is reserved for runs trained on a model instance")

    def decorate(builder: Builder) -> Builder:
        old = _REGISTRY.get(name)
        if old is not None and _origin(old) != _origin(builder):
            raise ValueError(
                f"model {name!r} is registered twice: by {_origin(old)} and {_origin(builder)}"
            )
        _REGISTRY[name] = builder
        return builder

    return decorate


def _origin(builder: Callable[..., Any]) -> str:
    return f"{builder.__module__}.{getattr(builder, '__qualname__', builder)}"


def _load_builtin_models() -> None:
    # importing the package imports every model file, which registers its builders
    importlib.import_module("snn_transfer.models")


def _entry_points(name: str | None = None) -> list[Any]:
    from importlib.metadata import entry_points

    found = entry_points(group=ENTRY_POINT_GROUP)
    return [ep for ep in found if name is None or ep.name == name]


def _load_entry_points(name: str | None = None) -> None:
    """Register the models installed distributions declare (all, or the one ``name``)."""
    for ep in _entry_points(name):
        if ep.name in _REGISTRY:
            continue
        try:
            loaded = ep.load()  # importing the module may register it with the decorator
        except Exception as error:
            raise ConfigError(
                f"model {ep.name!r} of the entry-point group {ENTRY_POINT_GROUP!r} "
                f"({ep.value}) cannot be loaded: {type(error).__name__}: {error}"
            ) from error
        if ep.name not in _REGISTRY and callable(loaded):
            register_model(ep.name)(loaded)


def list_models() -> list[str]:
    """Names accepted by ``create_model``, sorted (entry points included)."""
    _load_builtin_models()
    _load_entry_points()
    return sorted(_REGISTRY)


def model_module(name: str) -> str | None:
    """The module that defines the builder of ``name`` (None if it is not registered): what
    a new process must import to rebuild the model."""
    builder = _REGISTRY.get(name)
    return None if builder is None else builder.__module__


def _takes_neuron(builder: Callable[..., Any]) -> bool:
    return "neuron" in inspect.signature(builder).parameters


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
    if name not in _REGISTRY:
        _load_entry_points(name)
    builder = _REGISTRY.get(name)
    if builder is None:
        if name == INSTANCE:
            raise ConfigError(
                f"model={INSTANCE!r}: this run was trained on a model instance, which no "
                "name rebuilds; pass an instance of the same network (load_run(path, "
                "model=...)), or register a builder with @register_model and train with "
                "model.name=<its name>"
            )
        raise ConfigError(
            f"model={name!r} is unknown; choose one of {', '.join(sorted(_REGISTRY))}, or "
            f"import the module that registers it (snn-transfer ... --import MODULE) or "
            f"install a distribution that declares it in the entry-point group "
            f"{ENTRY_POINT_GROUP!r}"
        )
    return builder


def create_model(name: str, num_classes: int, **options: Any) -> SpikingBackbone:
    """Build the registered model ``name`` with ``num_classes`` outputs per head.

    ``options`` are the model's own options (see ``model_options``) plus the neuron keys, or a
    ready ``neuron=NeuronConfig(...)`` instead of the neuron keys.
    """
    builder = _builder(name)
    check_positive_int("num_classes", num_classes)
    check_model_options(name, options)
    if not _takes_neuron(builder):
        return builder(num_classes, **options)
    neuron_options = {key: options.pop(key) for key in NEURON_KEYS if key in options}
    neuron = options.pop("neuron", None)
    if neuron is None:
        neuron = NeuronConfig(**neuron_options)
    elif not isinstance(neuron, NeuronConfig) or neuron_options:
        raise ConfigError(
            "neuron= must be a NeuronConfig and excludes the separate neuron keys "
            f"({', '.join(NEURON_KEYS)})"
        )
    return builder(num_classes, neuron=neuron, **options)


def check_model_options(name: str, options: dict[str, Any]) -> None:
    """Refuse an unknown model or option (the trainer calls this before loading data)."""
    neuron = [*NEURON_KEYS, "neuron"] if _takes_neuron(_builder(name)) else []
    allowed = [*model_options(name), *neuron]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"option {unknown[0]!r} is not accepted by model {name!r}; allowed options: "
            f"{', '.join(sorted(allowed))}"
        )


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters of ``model``; a parameter shared by two layers counts once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
