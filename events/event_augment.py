"""Random augmentation of event streams, before framing: drops and spatial jitter.

Each transform is a frozen value holding its parameters (printable, comparable, usable as a
cache key) and is called as ``transform(events, rng)`` on a structured event array with
Tonic's fields ``x, y, t, p``; ``rng`` is a ``np.random.Generator`` (the datasets seed it
with ``(seed, epoch, index)``) or None (a generator seeded from NumPy's global one, see
``checks.random_generator``, so they also run inside ``tonic.transforms.Compose``). The
input array is never modified. Tonic has transforms of the same names (``DropEvent``,
``DropEventByTime``, ``DropEventByArea``, ``SpatialJitter``); these are ours, vectorised,
and keep every stream inside its sensor:

* :class:`DropEvent`: each event dropped independently with probability ``p``;
* :class:`DropByTime`: the events of one random window of ``ratio`` of the recording's span;
* :class:`DropByArea`: the events of one random box covering ``ratio`` of the sensor;
* :class:`SpatialJitter`: ``x`` and ``y`` moved by rounded Gaussian noise of ``sigma``
  pixels; events pushed off the sensor are dropped (Tonic keeps them as floats outside it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snn_transfer.errors import ConfigError

from .checks import random_generator
from .spec import Spec


def _ratio(owner: str, name: str, value: float, *, closed: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and (0 <= value <= 1 if closed else 0 < value < 1)
    if not ok:
        raise ConfigError(f"{owner}: {name} must be in {'[0, 1]' if closed else '(0, 1)'}")


@dataclass(frozen=True)
class DropEvent(Spec):
    """Drop each event independently with probability ``p``."""

    p: float = 0.1

    def __post_init__(self) -> None:
        _ratio("DropEvent", "p", self.p, closed=True)

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        keep = random_generator("DropEvent", rng).random(len(events)) >= self.p
        return events[keep]


@dataclass(frozen=True)
class DropByTime(Spec):
    """Drop the events of one window of ``ratio`` of the stream's time span, placed uniformly."""

    ratio: float = 0.1

    def __post_init__(self) -> None:
        _ratio("DropByTime", "ratio", self.ratio)

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = random_generator("DropByTime", rng)
        if len(events) < 2:
            return events
        first, last = int(events["t"][0]), int(events["t"][-1])
        width = (last - first) * self.ratio
        start = first + rng.random() * (last - first - width)
        t = events["t"]
        return events[(t < start) | (t >= start + width)]


@dataclass(frozen=True)
class DropByArea(Spec):
    """Drop the events inside one box of ``ratio`` of the sensor's area (sides scaled by
    ``sqrt(ratio)``), placed uniformly on a sensor of ``sensor_size`` ``(W, H[, P])``."""

    sensor_size: tuple[int, ...]
    ratio: float = 0.1

    def __post_init__(self) -> None:
        _ratio("DropByArea", "ratio", self.ratio)
        object.__setattr__(self, "sensor_size", tuple(int(s) for s in self.sensor_size))

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = random_generator("DropByArea", rng)
        width, height = self.sensor_size[:2]
        side = math.sqrt(self.ratio)
        box_w, box_h = max(1, round(width * side)), max(1, round(height * side))
        left = int(rng.integers(0, width - box_w + 1))
        top = int(rng.integers(0, height - box_h + 1))
        x, y = events["x"], events["y"]
        inside = (x >= left) & (x < left + box_w) & (y >= top) & (y < top + box_h)
        return events[~inside]


@dataclass(frozen=True)
class SpatialJitter(Spec):
    """Move every event by rounded Gaussian noise (``sigma`` pixels, x and y independent);
    events that leave the sensor ``sensor_size`` ``(W, H[, P])`` are dropped."""

    sensor_size: tuple[int, ...]
    sigma: float = 1.0

    def __post_init__(self) -> None:
        ok = isinstance(self.sigma, int | float) and not isinstance(self.sigma, bool)
        if not ok or not 0 <= self.sigma < 1e3:
            raise ConfigError(
                f"SpatialJitter: sigma must be a number of pixels >= 0, got {self.sigma!r}"
            )
        object.__setattr__(self, "sensor_size", tuple(int(s) for s in self.sensor_size))

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = random_generator("SpatialJitter", rng)
        width, height = self.sensor_size[:2]
        x = events["x"].astype(np.int64) + np.rint(rng.normal(0, self.sigma, len(events)))
        y = events["y"].astype(np.int64) + np.rint(rng.normal(0, self.sigma, len(events)))
        keep = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        out = events[keep].copy()
        out["x"] = x[keep]
        out["y"] = y[keep]
        return out
