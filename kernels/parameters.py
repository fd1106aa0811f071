"""Parameters of the LIF neuron and of its surrogate gradients (no torch, no CuPy).

The surrogate gradients, their meaning of ``alpha`` and their defaults are the one table of
``kernels.surrogates``; a layer's default alpha (:data:`DEFAULT_ALPHA`) is SpikingJelly's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from snn_transfer.kernels._source import DECAY_INPUT, DETACH_RESET, HARD_RESET
from snn_transfer.kernels.surrogates import SPIKINGJELLY_ALPHA, SURROGATES

DEFAULT_ALPHA: dict[str, float] = SPIKINGJELLY_ALPHA
"""The default alpha of a fused LIF layer: SpikingJelly's class's (``kernels.surrogates``)."""


class LIFParameters(NamedTuple):
    """Constants of a LIF layer; defaults are SpikingJelly ``LIFNode``'s.

    ``tau`` (steps, > 1), ``v_threshold`` and ``v_reset`` in the units of the input current;
    ``v_reset=None`` is a soft reset (subtract the threshold). ``detach_reset`` cuts the
    gradient through the reset. ``surrogate`` is one of ``SURROGATES`` with its ``alpha``.
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True
    detach_reset: bool = False
    surrogate: str = "sigmoid"
    alpha: float = 4.0


def checked(params: LIFParameters) -> LIFParameters:
    """``params`` with numbers as floats; ValueError naming the field if one is out of range."""
    if params.surrogate not in SURROGATES:
        raise ValueError(
            f"surrogate={params.surrogate!r} is not supported; choose one of "
            f"{', '.join(SURROGATES)}"
        )
    numbers = {"tau": params.tau, "v_threshold": params.v_threshold, "alpha": params.alpha}
    if params.v_reset is not None:
        numbers["v_reset"] = params.v_reset
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name}={value!r} must be a number")
        if not math.isfinite(value):
            raise ValueError(f"{name}={value!r} must be finite")
    if params.tau <= 1:
        raise ValueError(f"tau={params.tau!r} must be greater than 1 (time steps)")
    if params.alpha <= 0:
        raise ValueError(f"alpha={params.alpha!r} must be greater than 0")
    for name in ("decay_input", "detach_reset"):
        if not isinstance(getattr(params, name), bool):
            raise ValueError(f"{name}={getattr(params, name)!r} must be True or False")
    return params._replace(
        tau=float(params.tau),
        v_threshold=float(params.v_threshold),
        v_reset=None if params.v_reset is None else float(params.v_reset),
        alpha=float(params.alpha),
    )


def surrogate_constants(surrogate: str, alpha: float) -> tuple[float, float]:
    """The constants ``(a, b)`` of a surrogate in ``lif.cu`` (computed in double, once)."""
    if surrogate == "triangle":
        return alpha, alpha * alpha
    if surrogate == "rectangle":
        return alpha, 0.5 / alpha
    if surrogate == "atan":
        return alpha / 2.0, math.pi / 2.0 * alpha
    if surrogate == "sigmoid":
        return alpha, alpha
    raise ValueError(f"surrogate={surrogate!r} is not supported; choose one of {SURROGATES}")


def kernel_flags(params: LIFParameters) -> int:
    """The ``flags`` argument of the kernels."""
    flags = DECAY_INPUT if params.decay_input else 0
    flags |= HARD_RESET if params.v_reset is not None else 0
    return flags | (DETACH_RESET if params.detach_reset else 0)
