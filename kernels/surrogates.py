"""The surrogate gradients of the package: one table, with the default alpha of each source.

Surrogate gradients ``g'(u)`` of the spike ``s = (u >= 0)``, ``u = H - v_threshold``; ``alpha``
has the meaning of the SpikingJelly class of the same shape, so its objects map one to one.
Each integrates to 1. The rectangle's width is ``1 / alpha`` and its height ``alpha``: the
N-Omniglot neuron (gradient 1 on ``|u| < 0.5``) is ``rectangle`` with ``alpha = 1``, the same as
SpikingJelly's ``PiecewiseLeakyReLU(w=0.5, c=0)``.

Two defaults, on purpose, and named for where they apply:

* ``spikingjelly_alpha``: the default of SpikingJelly's class, so ``FusedLIFNode`` (a drop-in
  for SpikingJelly's ``LIFNode``) behaves as SpikingJelly does when no alpha is given;
* ``model_alpha``: the default of the models' neurons (``NeuronConfig``), the paper's neuron:
  its triangle is ``alpha = 2`` (gradient 2 at ``u = 0``, zero beyond ``|u| = 0.5``), where
  SpikingJelly's ``PiecewiseQuadratic`` defaults to 1.

The order of :data:`SURROGATES` is the order of the surrogate ids in ``lif.cu``. Nothing here
imports torch, SpikingJelly or CuPy.
"""

from __future__ import annotations

from typing import NamedTuple


class Surrogate(NamedTuple):
    """One surrogate gradient: its name, ``g'(u)``, the SpikingJelly class of the same shape
    and the default alpha of each source (see the module docstring)."""

    name: str
    gradient: str
    spikingjelly: str
    spikingjelly_alpha: float
    model_alpha: float


TABLE: tuple[Surrogate, ...] = (
    Surrogate("triangle", "max(0, alpha - alpha^2 |u|)", "PiecewiseQuadratic", 1.0, 2.0),
    Surrogate("rectangle", "alpha on |u| < 0.5 / alpha, else 0", "Rect", 1.0, 1.0),
    Surrogate("atan", "alpha / (2 (1 + (pi alpha u / 2)^2))", "ATan", 2.0, 2.0),
    Surrogate("sigmoid", "alpha sig(alpha u) (1 - sig(alpha u))", "Sigmoid", 4.0, 4.0),
)

SURROGATES: tuple[str, ...] = tuple(s.name for s in TABLE)
"""Surrogate names, in the order of their ids in ``lif.cu``."""

SPIKINGJELLY_ALPHA: dict[str, float] = {s.name: s.spikingjelly_alpha for s in TABLE}
"""The default alpha of SpikingJelly's class of each surrogate (``FusedLIFNode``'s default)."""

MODEL_ALPHA: dict[str, float] = {s.name: s.model_alpha for s in TABLE}
"""The default alpha of the models' neurons (``NeuronConfig``): the paper's neuron."""

SPIKINGJELLY_CLASS: dict[str, str] = {s.name: s.spikingjelly for s in TABLE}
"""The name of the class in ``spikingjelly.activation_based.surrogate`` of each surrogate."""
