"""Argument checks shared by the data layer and the config: sizes, positive ints, fractions,
random generators, frames of any dtype and objects that must pickle.

Each raises ``ConfigError`` naming what it checks (``what``: ``"ToFrame: n_time_bins"``,
``"size"``) and the value it got. The fractions of the dataset options have one table,
:data:`FRACTIONS`, used by the dataset loaders and by the run config alike.
"""

from __future__ import annotations

import pickle
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


def random_generator(owner: str, rng: Any) -> np.random.Generator:
    """The generator a random transform draws from: ``rng`` itself, or, when it is None, a
    generator seeded with one draw from NumPy's global generator (``np.random``).

    Tonic's own random transforms draw from ``np.random`` and are called without an rng
    (``tonic.transforms.Compose`` calls ``t(events)``), so ``np.random.seed(s)`` makes a
    Tonic pipeline holding ours reproducible, and two calls still draw different values
    (a seed taken from the input would apply the same "random" crop to a sample in every
    epoch). The datasets always pass a generator seeded with ``(seed, epoch, index)``.
    """
    if rng is None:
        return np.random.default_rng(int(np.random.randint(0, 2**63 - 1, dtype=np.int64)))
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            f"{owner}: rng must be a np.random.Generator or None (then drawn from np.random), "
            f"got {type(rng).__name__}"
        )
    return rng


def float_frames(frames: Any, what: str = "frames") -> Any:
    """Frames of any real dtype as float32 (Tonic's ``ToFrame`` gives int16): a numpy array
    (bool, int, uint or float) as a float32 array (no copy when it is one), a torch tensor
    as a float32 tensor. Events (a structured array), strings, objects and complex numbers
    are refused with a ``ConfigError`` naming ``what``."""
    if type(frames).__module__.split(".")[0] == "torch":  # a tensor; torch is not imported here
        if frames.dtype.is_complex:
            raise ConfigError(f"{what}: complex frames ({frames.dtype}) cannot be counted")
        return frames.float()
    array = np.asarray(frames)
    if array.dtype.names:
        raise ConfigError(
            f"{what}: got events (fields {', '.join(array.dtype.names)}), not frames; frame them "
            "first (a framing such as ToFrame) or return events where events are expected"
        )
    if array.dtype.kind not in "biuf":
        raise ConfigError(
            f"{what}: frames must hold numbers (bool, int or float), got dtype {array.dtype}"
        )
    return array.astype(np.float32, copy=False)


def describe_object(value: Any) -> str:
    """A short name of a function or object for messages: ``module.qualname`` of a function
    or class, else the repr cut to 80 characters."""
    name = getattr(value, "__qualname__", None)
    if name is not None:
        return f"{getattr(value, '__module__', '?')}.{name}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_picklable(what: str, value: Any) -> Any:
    """``value`` if it pickles, else a ``ConfigError`` naming ``what`` and the object.

    Checkpoints store a dataset's framing (to frame new recordings with a trained model),
    and DataLoader workers and cache-building processes receive framings and transforms by
    pickle. A lambda or a function defined inside another function cannot be pickled and
    would fail there, after training has started; callers check here, when the dataset is
    built and again before the trainer starts.
    """
    try:
        pickle.dumps(value)
    except Exception as error:  # pickling raises PicklingError, AttributeError, TypeError, ...
        raise ConfigError(
            f"{what} {describe_object(value)} cannot be pickled ({type(error).__name__}: "
            f"{error}); checkpoints store the framing and worker processes receive it and the "
            "transforms, so it would fail once training has started. Define it as a top-level "
            "function (a def at module level, importable by name) or as a frozen dataclass "
            "with a __call__ method, not as a lambda or a nested function"
        ) from None
    return value
