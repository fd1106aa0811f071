"""Argument checks shared by the data layer and the config: sizes, positive ints, fractions.

Each raises ``ConfigError`` naming what it checks (``what``: ``"ToFrame: n_time_bins"``,
``"size"``) and the value it got. The fractions of the dataset options have one table,
:data:`FRACTIONS`, used by the dataset loaders and by the run config alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError

#: dataset options that are shares of samples, with their allowed interval
FRACTIONS: dict[str, str] = {
    "event_fraction": "(0, 1]",
    "static_fraction": "(0, 1]",
    "val_fraction": "[0, 1)",
    "test_fraction": "(0, 1)",
    "static_share": "(0, 1)",
}
_HINTS = {
    "event_fraction": "; e.g. 0.1 for 10 %",
    "static_fraction": "; e.g. 0.1 for 10 %",
    "val_fraction": "; 0 means no validation split",
    "static_share": (
        "; the share of each class's images kept as static images (the rest become events)"
    ),
}


def is_int(value: Any) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number (Python or numpy), not a bool."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def positive_int(what: str, value: Any) -> int:
    """``value`` as an int >= 1, else ``"<what> must be a positive int, got <value>"``."""
    if not is_int(value) or value < 1:
        raise ConfigError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def positive_option(key: str, value: Any) -> int:
    """A dataset option that counts (``time_steps``): ``"<key> = <value> must be a positive
    integer"`` unless it is one."""
    if not is_int(value) or value < 1:
        raise ConfigError(f"{key} = {value!r} must be a positive integer")
    return int(value)


def number(what: str, value: Any) -> Any:
    """``value`` if it is a real number, else ``"<what> must be a number, got <value>"``."""
    if not is_number(value):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    return value


def size_pair(what: str, value: Any) -> tuple[int, int]:
    """A frame size ``(H, W)`` from a positive int (square) or a pair of positive ints."""
    pair = (value, value) if is_int(value) else value
    if (
        not isinstance(pair, Sequence)
        or isinstance(pair, str)
        or len(pair) != 2
        or not all(is_int(v) and v > 0 for v in pair)
    ):
        raise ConfigError(f"{what} must be a positive int or (H, W), got {value!r}")
    return (int(pair[0]), int(pair[1]))


def in_interval(value: float, interval: str) -> bool:
    """Whether ``value`` lies in ``interval``, written ``"(0, 1]"``, ``"[0, 1)"`` etc."""
    low, high = (float(v) for v in interval[1:-1].split(","))
    above = value >= low if interval[0] == "[" else value > low
    below = value <= high if interval[-1] == "]" else value < high
    return above and below


def fraction(key: str, value: Any, *, prefix: str = "", interval: str | None = None) -> float:
    """The dataset option ``key`` as a float in its interval (of :data:`FRACTIONS`, or
    ``interval``); else ``"<prefix><key> = <value> must be a number in <interval>"``
    (``prefix``: where the option sits in a config, ``"data.options."``)."""
    interval = interval or FRACTIONS[key]
    if not is_number(value) or not in_interval(float(value), interval):
        raise ConfigError(
            f"{prefix}{key} = {value!r} must be a number in {interval}{_HINTS.get(key, '')}"
        )
    return float(value)
