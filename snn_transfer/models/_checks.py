"""Validation of user-supplied model options; every failure is a ConfigError naming the key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from snn_transfer.errors import ConfigError


def check_choice(key: str, value: Any, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; raise ConfigError naming ``key`` otherwise."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of {', '.join(allowed)}")
    return value


def check_number(key: str, value: Any, *, above: float | None = None) -> float:
    """Return ``value`` as a float; it must be a real number, strictly greater than ``above``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}={value!r} must be a number")
    if above is not None and not value > above:
        raise ConfigError(f"{key}={value!r} must be greater than {above}")
    return float(value)


def check_bool(key: str, value: Any) -> bool:
    """Return ``value`` if it is a bool; raise ConfigError naming ``key`` otherwise."""
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} must be true or false")
    return value


def check_positive_int(key: str, value: Any) -> int:
    """Return ``value`` if it is an int >= 1; raise ConfigError naming ``key`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}={value!r} must be a positive integer")
    return value
