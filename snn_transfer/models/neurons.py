"""LIF neurons for the models: options, surrogate gradients, and the choice of implementation.

Defaults are the paper's neuron: LIF with tau 2 (decay-input form
``H[t] = V[t-1] + (X[t] - V[t-1]) / tau``), threshold 0.5, hard reset to 0 with the spike
detached from the reset path, triangle surrogate gradient. Every neuron runs in SpikingJelly's
multi-step mode: input ``[T, B, ...]`` -> spikes ``[T, B, ...]``.

Surrogate gradients ``g'(x)`` with ``x = H - V_threshold`` (all fire on ``x >= 0``): the table
of ``kernels.surrogates`` (triangle, rectangle, atan, sigmoid, each with its SpikingJelly class);
a model's default alpha is the table's ``model_alpha`` (2, 1, 2, 4). With the default alphas the triangle peaks at 2 on ``|x| < 0.5`` (the reference's N-Caltech101
and CEP-DVS neuron) and the rectangle is 1 on ``|x| < 0.5`` (its N-Omniglot neuron, same as
``PiecewiseLeakyReLU(w=0.5, c=0)`` on SpikingJelly's torch path). The reference fires on
``x > 0`` instead of ``x >= 0``; the two differ only where ``H`` equals the threshold exactly.

SpikingJelly 2.0's fused GPU paths cover seven built-in surrogates, not ``Rect``: with the
rectangle it runs its Python reference loop over T, on a GPU too. On a CPU every surrogate runs
such a loop, which ``torch.compile`` fuses.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

import torch
from spikingjelly.activation_based import neuron, surrogate
from torch import nn

from snn_transfer.errors import ConfigError
from snn_transfer.kernels.surrogates import MODEL_ALPHA, SPIKINGJELLY_CLASS, SURROGATES
from snn_transfer.models._checks import check_bool, check_choice, check_number

NEURON_BACKENDS: tuple[str, ...] = ("auto", "spikingjelly", "cupy")

_SJ_SURROGATE = {name: getattr(surrogate, cls) for name, cls in SPIKINGJELLY_CLASS.items()}
# The fused neuron the kernels package is expected to provide (see ``resolve_neuron_backend``).
_FUSED_LIF_NAME = "FusedLIFNode"


@dataclass(frozen=True)
class NeuronConfig:
    """Options of every LIF layer of a model; validated on construction (ConfigError).

    ``v_reset=None`` selects a soft reset (subtract the threshold). ``surrogate_alpha=None``
    takes the surrogate's default alpha from the module table.
    """

    tau: float = 2.0
    v_threshold: float = 0.5
    v_reset: float | None = 0.0
    detach_reset: bool = True
    surrogate: str = "triangle"
    surrogate_alpha: float | None = None
    neuron_backend: str = "auto"

    def __post_init__(self) -> None:
        # SpikingJelly asserts floats without a message; convert here, fail here with one.
        object.__setattr__(self, "tau", check_number("tau", self.tau, above=1.0))
        object.__setattr__(self, "v_threshold", check_number("v_threshold", self.v_threshold))
        if self.v_reset is not None:
            object.__setattr__(self, "v_reset", check_number("v_reset", self.v_reset))
        check_bool("detach_reset", self.detach_reset)
        check_choice("surrogate", self.surrogate, SURROGATES)
        if self.surrogate_alpha is not None:
            alpha = check_number("surrogate_alpha", self.surrogate_alpha, above=0.0)
            object.__setattr__(self, "surrogate_alpha", alpha)
        check_choice("neuron_backend", self.neuron_backend, NEURON_BACKENDS)

    @property
    def alpha(self) -> float:
        """The surrogate's alpha: the configured one or the surrogate's default."""
        if self.surrogate_alpha is not None:
            return self.surrogate_alpha
        return MODEL_ALPHA[self.surrogate]


NEURON_KEYS: tuple[str, ...] = tuple(NeuronConfig.__dataclass_fields__)


def make_surrogate(name: str, alpha: float | None = None) -> nn.Module:
    """A SpikingJelly surrogate spike function: Heaviside forward, ``g'(x)`` backward."""
    check_choice("surrogate", name, SURROGATES)
    value = MODEL_ALPHA[name] if alpha is None else check_number("surrogate_alpha", alpha)
    return _SJ_SURROGATE[name](alpha=value)


def _fused_lif_class() -> type[nn.Module] | None:
    try:
        kernels = importlib.import_module("snn_transfer.kernels")
    except ImportError:
        return None
    return getattr(kernels, _FUSED_LIF_NAME, None)


def _cupy_installed() -> bool:
    return importlib.util.find_spec("cupy") is not None


def resolve_neuron_backend(name: str) -> str:
    """``'spikingjelly'`` or ``'cupy'`` for a configured backend name.

    ``auto`` picks ``cupy`` when CUDA is available, CuPy is installed and
    ``snn_transfer.kernels`` provides its fused LIF; ``spikingjelly`` otherwise (always on a
    CPU-only machine). ``cupy`` raises ConfigError when any of those is missing.
    """
    check_choice("neuron_backend", name, NEURON_BACKENDS)
    if name == "spikingjelly":
        return name
    fused = _fused_lif_class()
    if name == "auto":
        usable = fused is not None and _cupy_installed() and torch.cuda.is_available()
        return "cupy" if usable else "spikingjelly"
    if fused is None:
        raise ConfigError(
            "neuron_backend='cupy' needs the fused LIF of snn_transfer.kernels, which is not "
            "built yet; use neuron_backend='spikingjelly' (or 'auto')"
        )
    if not _cupy_installed():
        raise ConfigError(
            "neuron_backend='cupy' needs CuPy: install the extra matching your CUDA major "
            "version (snn-transfer[cuda12] or snn-transfer[cuda13]), or use "
            "neuron_backend='spikingjelly'"
        )
    return name


def make_lif(config: NeuronConfig, *, store_v_seq: bool = False) -> nn.Module:
    """One multi-step LIF layer: ``[T, B, ...]`` input -> ``[T, B, ...]`` spikes.

    With ``store_v_seq=True`` the layer keeps ``v_seq`` ``[T, B, ...]`` after a forward: the
    membrane potential after the reset of each step, with gradients (the feature tap).
    """
    kwargs: dict[str, Any] = {
        "tau": config.tau,
        "v_threshold": config.v_threshold,
        "v_reset": config.v_reset,
        "detach_reset": config.detach_reset,
        "store_v_seq": store_v_seq,
    }
    if resolve_neuron_backend(config.neuron_backend) == "cupy":
        fused = _fused_lif_class()
        assert fused is not None  # resolve_neuron_backend checked it
        return fused(surrogate=config.surrogate, alpha=config.alpha, **kwargs)
    return neuron.LIFNode(
        decay_input=True,
        surrogate_function=make_surrogate(config.surrogate, config.alpha),
        step_mode="m",
        **kwargs,
    )


def neuron_types() -> tuple[type, ...]:
    """Classes of stateful layers a model may contain (for resetting their state): every
    SpikingJelly ``MemoryModule``, the fused ``FusedLIFNode`` (a ``LIFNode``) included."""
    from spikingjelly.activation_based.base import MemoryModule

    return (MemoryModule,)
