"""Framing pipelines: what turns one recording into the frames the cache keeps.

A :class:`FramePipeline` is the deterministic part of a sample: a framing spec followed by
deterministic frame transforms (a resize). It is a value, so its fingerprint keys the frame
cache. Random augmentations are not part of it: they run after the cache, per sample
(``framing.augment``). :func:`standard_pipeline` gives the pipelines of the recorded
datasets from the ``framing`` option (``default`` or ``paper``), T, the frame size and the
sensor size; :func:`user_pipeline` the pipeline of a ``framing`` given as a callable (our
``ToFrame``, Tonic's, a function: ``framing.custom``), for every dataset alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError
from snn_transfer.events.core import SensorSize
from snn_transfer.events.framing.custom import framing_spec
from snn_transfer.events.framing.reference import PaperFrames
from snn_transfer.events.framing.to_frame import ExtentFrames, ToFrame
from snn_transfer.events.spec import Spec
from snn_transfer.events.transforms import Resize

#: the values of the recorded datasets' ``framing`` option
FRAMINGS = ("default", "paper")


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


def standard_pipeline(
    shift_xy: bool = False,
) -> Callable[[str, int, tuple[int, int] | None, SensorSize | None], FramePipeline]:
    """The usual framings: ``default`` = ``ToFrame(n_time_bins=T)`` on the sensor, then a
    bilinear, antialiased resize to ``size`` (no resize at the sensor's size; without a
    sensor size, :class:`ExtentFrames`); ``paper`` = ``PaperFrames`` (``shift_xy`` as the
    reference does for N-Caltech101)."""

    def pipeline(
        mode: str, steps: int, size: tuple[int, int] | None, sensor: SensorSize | None
    ) -> FramePipeline:
        if mode == "paper":
            if size is None:
                raise ConfigError("framing='paper' needs a frame size: pass size=48")
            return FramePipeline(PaperFrames(steps, size=size, shift_xy=shift_xy))
        if sensor is None:
            if size is None:
                raise ConfigError("recordings without a fixed sensor size need size=<int>")
            return FramePipeline(ExtentFrames(steps, size=size))
        native = (int(sensor[1]), int(sensor[0]))
        framing = ToFrame(sensor_size=tuple(sensor), n_time_bins=steps)
        if size is None or size == native:
            return FramePipeline(framing)
        return FramePipeline(framing, (Resize(size, antialias=True),))

    return pipeline


def user_pipeline(framing: Any, size: tuple[int, int] | None) -> FramePipeline:
    """The pipeline of a ``framing`` given as a callable ``events -> frames`` (frames of any
    real dtype, made float32), then a bilinear, antialiased resize to ``size`` (H, W) when
    one is given (None: the frames as the callable makes them; at the same size the resize
    changes nothing). A callable that is not a spec is wrapped in ``CallableFraming``,
    which refuses one that does not pickle."""
    spec = framing_spec(framing)
    if size is None:
        return FramePipeline(spec)
    return FramePipeline(spec, (Resize(size, antialias=True),))
