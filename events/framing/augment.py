"""Random training augmentation by recipe name: ``"crop, flip"`` -> transforms.

Frame augmentations (``transforms``) run per sample after framing and after the frame
cache; event augmentations (``event_augment``) run per sample before framing. Neither is
part of a :class:`~snn_transfer.events.framing.pipeline.FramePipeline`: the cache holds
deterministic frames only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from snn_transfer.errors import ConfigError
from snn_transfer.events import event_augment as ea
from snn_transfer.events.transforms import Compose, RandomCrop, RandomFlip, RandomRotation

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
