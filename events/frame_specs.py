"""Framing pipelines of the real datasets: what turns one recording into cached frames.

A :class:`FramePipeline` is the deterministic part of a sample: a framing spec followed by
deterministic frame transforms (a resize). It is a value, so its fingerprint keys the frame
cache. Random augmentations are not part of it: they run after the cache, per sample
(:func:`augmentation`).

Two framings the registry needs beyond ``ToFrame`` and ``PaperFrames``:

* :class:`ExtentFrames`: our time bins over the sample's own extent, for recordings without a
  fixed sensor size (CEP-DVS).
* :class:`FrequencyFrames`: the reference's N-Omniglot frames (event rates per bin,
  max-normalised, cropped and resized).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError
from snn_transfer.events.core import as_events
from snn_transfer.events.framing import ToFrame, _check_events
from snn_transfer.events.spec import Spec
from snn_transfer.events.transforms import (
    Compose,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    resize,
)


def _size_pair(owner: str, size: Any) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else size
    if (
        not isinstance(pair, list | tuple)
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)
    ):
        raise ConfigError(f"{owner}: size must be a positive int or (H, W), got {size!r}")
    return (int(pair[0]), int(pair[1]))


def _counts(events: np.ndarray, plane: tuple[int, int], starts, ends) -> np.ndarray:
    """Event counts per polarity and pixel of events ``[starts[i], ends[i])``: float32
    ``[len(starts), 2, H, W]`` for ``plane = (W, H)``."""
    width, height = plane
    size = 2 * height * width
    frames = np.zeros((len(starts), size), np.float32)
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        if b > a:
            index = np.multiply(events["p"][a:b], height * width, dtype=np.intp)
            index += np.multiply(events["y"][a:b], width, dtype=np.intp)
            index += events["x"][a:b]
            frames[i] = np.bincount(index, minlength=size)
    return frames.reshape(len(starts), 2, height, width)


@dataclass(frozen=True)
class ExtentFrames(Spec):
    """``n_time_bins`` frames over the sample's own extent, resized to ``size`` (H, W).

    For recordings whose sensor size varies or is unknown (CEP-DVS): the plane is
    ``(max x + 1, max y + 1)`` of the sample, binned like ``ToFrame(n_time_bins=T)`` (no
    event dropped), then bilinearly resized (antialiased by default, so counts are averaged
    rather than sampled). Output float32 ``[T, 2, size[0], size[1]]``; an empty stream gives
    zeros.
    """

    n_time_bins: int
    size: tuple[int, int] = (48, 48)
    antialias: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.n_time_bins, bool) or not isinstance(self.n_time_bins, int):
            raise ConfigError(f"ExtentFrames: n_time_bins must be an int, got {self.n_time_bins!r}")
        if self.n_time_bins < 1:
            raise ConfigError(f"ExtentFrames: n_time_bins must be >= 1, got {self.n_time_bins}")
        object.__setattr__(self, "size", _size_pair("ExtentFrames", self.size))

    def __call__(self, events: np.ndarray, *, path: object | None = None) -> np.ndarray:
        events = as_events(events)
        if len(events) == 0:
            return np.zeros((self.n_time_bins, 2, *self.size), np.float32)
        _check_events(events, (None, None, 2), path)
        plane = (int(events["x"].max()) + 1, int(events["y"].max()) + 1, 2)
        frames = ToFrame(sensor_size=plane, n_time_bins=self.n_time_bins)(events, path=path)
        return resize(frames, self.size, antialias=self.antialias)


@dataclass(frozen=True)
class FrequencyFrames(Spec):
    """The reference's N-Omniglot frames: event rates, max-normalised, cropped, resized.

    Per sample (timestamps in microseconds, relative to the first event):

    1. ``n_time_bins`` bins of ``dt = t_last // T`` microseconds; the last bin runs to the
       last event (duration ``dt + t_last % T``, it takes the remainder).
    2. Counts per polarity (channel 0 = OFF, 1 = ON) and pixel of the ``sensor_size``
       (W, H) plane, divided by the bin duration (a stream shorter than T microseconds
       uses 1 us instead of 0).
    3. Each frame and polarity divided by ``max(its maximum, eps)``, so values lie in [0, 1].
    4. Rows ``crop[0]:crop[1]`` and columns ``crop[2]:crop[3]`` kept (``[4:254, 54:304]``
       of the 260x346 DAVIS346 plane), then bilinear resize to ``size`` (H, W), without
       antialiasing like a tensor resize of the reference's torchvision. ``size=None`` keeps
       the crop.

    The reference rounds the rates to float16 before normalising; this keeps float32.
    Output float32 ``[T, 2, size[0], size[1]]``.
    """

    n_time_bins: int = 12
    sensor_size: tuple[int, int, int] = (346, 260, 2)
    crop: tuple[int, int, int, int] = (4, 254, 54, 304)
    size: tuple[int, int] | None = (28, 28)
    eps: float = 1e-5
    antialias: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.n_time_bins, bool) or not isinstance(self.n_time_bins, int):
            raise ConfigError(
                f"FrequencyFrames: n_time_bins must be an int, got {self.n_time_bins!r}"
            )
        if self.n_time_bins < 1:
            raise ConfigError("FrequencyFrames: n_time_bins must be >= 1")
        object.__setattr__(self, "sensor_size", tuple(int(v) for v in self.sensor_size))
        object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))
        top, bottom, left, right = self.crop
        width, height = self.sensor_size[:2]
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise ConfigError(
                f"FrequencyFrames: crop {self.crop} (top, bottom, left, right) does not fit "
                f"the {width}x{height} sensor"
            )
        if self.size is not None:
            object.__setattr__(self, "size", _size_pair("FrequencyFrames", self.size))

    def __call__(self, events: np.ndarray, *, path: object | None = None) -> np.ndarray:
        events = as_events(events)
        n_bins = self.n_time_bins
        width, height = self.sensor_size[:2]
        top, bottom, left, right = self.crop
        if len(events) == 0:
            frames = np.zeros((n_bins, 2, height, width), np.float32)
        else:
            _check_events(events, (width, height, 2), path)
            t = events["t"] - events["t"][0]
            t_last = int(t[-1])
            dt = t_last // n_bins
            starts = np.searchsorted(t, np.arange(n_bins) * dt, side="left")
            ends = np.append(starts[1:], len(t))
            frames = _counts(events, (width, height), starts, ends)
            durations = np.full(n_bins, max(dt, 1), np.float64)
            durations[-1] = max(dt + t_last % n_bins, 1)
            frames = (frames / durations[:, None, None, None]).astype(np.float32)
            peak = frames.reshape(n_bins, 2, -1).max(axis=2)
            frames /= np.maximum(peak, np.float32(self.eps))[:, :, None, None]
        frames = np.ascontiguousarray(frames[:, :, top:bottom, left:right])
        if self.size is None or self.size == frames.shape[-2:]:
            return frames
        return resize(frames, self.size, antialias=self.antialias)


@dataclass(frozen=True)
class FramePipeline(Spec):
    """A framing spec followed by deterministic frame transforms (e.g. ``Resize``).

    ``pipeline(events, path=None)`` gives float32 ``[T, P, H, W]``. Both parts are specs,
    so the pipeline's fingerprint changes with any of their parameters.
    """

    framing: Any
    transforms: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "transforms", tuple(self.transforms))
        for part in (self.framing, *self.transforms):
            if not isinstance(part, Spec) or not callable(part):
                raise ConfigError(f"FramePipeline: {part!r} is not a callable spec")

    def __call__(self, events: np.ndarray, *, path: object | None = None) -> np.ndarray:
        frames = self.framing(events, path=path)
        for transform in self.transforms:
            frames = transform(frames)
        return np.ascontiguousarray(frames, dtype=np.float32)


FRAME_AUGMENTATIONS = ("crop", "flip", "rotate")
EVENT_AUGMENTATIONS = ("drop", "drop_time", "drop_area", "jitter")
AUGMENTATIONS = FRAME_AUGMENTATIONS + EVENT_AUGMENTATIONS
_AUGMENT = re.compile(r"^\s*(\w+)\s*(?:\(\s*([0-9.]+)\s*\))?\s*$")
_AUGMENT_HELP = (
    "use any of crop, crop(4), flip, flip(0.5), rotate, rotate(15) (on frames) or drop(0.1), "
    "drop_time(0.1), drop_area(0.1), jitter(1) (on events, before framing)"
)


def augment_names(names: Sequence[str] | str | None) -> list[str]:
    """Recipe names as a clean list: ``"crop, flip"`` or ``["crop", "flip"]``."""
    if names is None:
        return []
    if isinstance(names, str):
        names = names.split(",")
    return [str(n).strip() for n in names if str(n).strip()]


def _one(name: str, size: tuple[int, int], sensor: tuple[int, ...] | None):
    from snn_transfer.events import event_augment as ea

    match = _AUGMENT.match(name)
    kind = match.group(1) if match else None
    if kind not in AUGMENTATIONS:
        raise ConfigError(f"augment: unknown augmentation {name!r}; {_AUGMENT_HELP}")
    if kind in ("drop_area", "jitter") and sensor is None:
        raise ConfigError(
            f"augment: {name!r} needs the sensor size, and this dataset's recordings have none "
            "(it varies per recording); use drop, drop_time or the frame augmentations"
        )
    value = match.group(2)

    def number(default: float) -> float:
        return default if value is None else float(value)

    try:
        if kind == "crop":
            return RandomCrop(size, padding=4 if value is None else int(value))
        if kind == "flip":
            return RandomFlip(number(0.5))
        if kind == "rotate":
            return RandomRotation(number(15))
        if kind == "drop":
            return ea.DropEvent(number(0.1))
        if kind == "drop_time":
            return ea.DropByTime(number(0.1))
        if kind == "drop_area":
            return ea.DropByArea(sensor, number(0.1))
        return ea.SpatialJitter(sensor, number(1.0))
    except ValueError:
        raise ConfigError(f"augment: bad parameter in {name!r}") from None


def augmentations(
    names: Sequence[str] | str | None,
    size: tuple[int, int],
    sensor_size: tuple[int, ...] | None = None,
) -> tuple[Compose | None, Compose | None]:
    """Random training augmentation from recipe names: ``(on events, on frames)``.

    Frame augmentations run per sample after framing (and after the frame cache):
    ``"crop"`` / ``"crop(p)"``: ``RandomCrop(size, padding=p)`` (p = 4 by default);
    ``"flip"`` / ``"flip(q)"``: left-right flip with probability q (0.5);
    ``"rotate"`` / ``"rotate(d)"``: rotation by an angle uniform in [-d, d] degrees (15).
    Event augmentations run per sample before framing (``sensor_size`` ``(W, H, P)`` of the
    recordings; None when it varies, which ``drop_area`` and ``jitter`` refuse):
    ``"drop(p)"`` each event with probability p (0.1), ``"drop_time(r)"`` a window of r of
    the span (0.1), ``"drop_area(r)"`` a box of r of the sensor (0.1), ``"jitter(s)"``
    Gaussian spatial jitter of s pixels (1). ``size`` is the frame size (H, W). Each part
    is None when no name asks for it.
    """
    steps = [_one(name, size, sensor_size) for name in augment_names(names)]
    kinds = [_AUGMENT.match(n).group(1) for n in augment_names(names)]
    on_events = [s for s, k in zip(steps, kinds, strict=True) if k in EVENT_AUGMENTATIONS]
    on_frames = [s for s, k in zip(steps, kinds, strict=True) if k in FRAME_AUGMENTATIONS]
    return (
        Compose(tuple(on_events)) if on_events else None,
        Compose(tuple(on_frames)) if on_frames else None,
    )


def augmentation(names: Sequence[str] | str | None, size: tuple[int, int]) -> Compose | None:
    """The frame augmentations of :func:`augmentations` (datasets that serve cached frames)."""
    return augmentations(names, size)[1]
